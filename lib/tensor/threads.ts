/** The addon's thread count (kernels and SGEMM). */
import { native } from "./native.js";

export function getNumThreads(): number {
  return native.getNumThreads ? native.getNumThreads() : 1;
}

export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1)
    throw new RangeError(`setNumThreads: n must be an integer >= 1, got ${n}`);
  native.setNumThreads?.(n);
}
