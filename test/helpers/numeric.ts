/** Numerical comparisons shared by the tests and the benchmarks. */

/**
 * Norm-wise relative error ||a - b|| / ||b|| (||a - b|| when b is all zeros). Arrays of different
 * lengths are an error, not a comparison of their common prefix.
 */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length)
    throw new RangeError(`relErr: lengths differ: ${a.length} vs ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}
