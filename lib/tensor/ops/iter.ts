/** Strided iteration: collapse broadcast dims, then visit 2-D [outer, inner] blocks. */
import { native } from "../native.js";

export interface Plan {
  shape: number[];
  strides: number[][];
}

/** Drops size-1 dims and merges neighbours that are contiguous for every operand. */
export function collapse(shape: readonly number[], strides: (readonly number[])[]): Plan {
  const k = strides.length;
  const sh: number[] = [];
  const st: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = sh.length - 1;
    let merge = last >= 0;
    for (let j = 0; j < k && merge; j++)
      if (st[j][last] !== strides[j][d] * shape[d]) merge = false;
    if (merge) {
      sh[last] *= shape[d];
      for (let j = 0; j < k; j++) st[j][last] = strides[j][d];
    } else {
      sh.push(shape[d]);
      for (let j = 0; j < k; j++) st[j].push(strides[j][d]);
    }
  }
  return { shape: sh, strides: st };
}

/** The copy op of native.opsBinaryNd (the binary ops are elementwise.ts's codes). */
export const ND_COPY = 7;

const I32_MAX = 2 ** 31 - 1;

/**
 * Runs a whole collapsed plan in one native call (native.opsBinaryNd): out = a OP b, each given
 * as [data, offset, strides in plan order]; b null for ND_COPY. False (nothing done) when the
 * addon lacks the kernel or the plan does not fit it (more than 8 dims, strides past int32).
 */
export function nativeNd(
  op: number,
  plan: Plan,
  out: [Float32Array, number, readonly number[]],
  a: [Float32Array, number, readonly number[]],
  b: [Float32Array, number, readonly number[]] | null,
): boolean {
  const f = native.opsBinaryNd;
  const nd = plan.shape.length;
  if (f === undefined || nd === 0 || nd > 8) return false;
  const shape = Int32Array.from(plan.shape);
  const strides = [out[2], a[2], b === null ? a[2] : b[2]].map((st) => {
    for (const x of st) if (x < 0 || x > I32_MAX) return null;
    return Int32Array.from(st);
  });
  for (const x of plan.shape) if (x > I32_MAX) return false;
  if (strides.some((x) => x === null)) return false;
  const [os, as, bs] = strides as Int32Array[];
  f(
    op,
    nd,
    shape,
    a[0],
    a[1],
    as,
    b === null ? a[0] : b[0],
    b === null ? a[1] : b[1],
    bs,
    out[0],
    out[1],
    os,
  );
  return true;
}

/** Strides of `t` (shape tShape) broadcast to `shape` (0 on broadcast dims). */
export function broadcastStrides(
  tShape: readonly number[],
  tStrides: readonly number[],
  shape: readonly number[],
): number[] {
  const n = shape.length;
  const off = n - tShape.length;
  const out = new Array<number>(n).fill(0);
  for (let d = 0; d < tShape.length; d++) out[d + off] = tShape[d] === 1 ? 0 : tStrides[d];
  return out;
}

export function broadcastShapes(op: string, a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const x = i < n - a.length ? 1 : a[i - (n - a.length)];
    const y = i < n - b.length ? 1 : b[i - (n - b.length)];
    if (x !== y && x !== 1 && y !== 1)
      throw new Error(
        `${op}: shapes [${a.join(", ")}] and [${b.join(", ")}] are not broadcastable (dim ${i}: ${x} vs ${y})`,
      );
    out[i] = x === 1 ? y : x;
  }
  return out;
}

/**
 * Calls fn(offsets, outer, innerStrides..., ) for every 2-D block of a collapsed plan:
 * fn(offs, outer, inner, outerStrides, innerStrides), offsets relative to `base`.
 */
export function forEachBlock(
  plan: Plan,
  base: number[],
  fn: (offs: number[], outer: number, inner: number, so: number[], si: number[]) => void,
): void {
  const { shape, strides } = plan;
  // An empty shape has no blocks: walking its other dims would compute offsets past the data.
  if (shape.includes(0)) return;
  const n = shape.length;
  const k = strides.length;
  const si = new Array<number>(k);
  const so = new Array<number>(k);
  const inner = n >= 1 ? shape[n - 1] : 1;
  const outer = n >= 2 ? shape[n - 2] : 1;
  for (let j = 0; j < k; j++) {
    si[j] = n >= 1 ? strides[j][n - 1] : 0;
    so[j] = n >= 2 ? strides[j][n - 2] : 0;
  }
  const offs = base.slice();
  if (n <= 2) {
    fn(offs, outer, inner, so, si);
    return;
  }
  const m = n - 2;
  const idx = new Array<number>(m).fill(0);
  for (;;) {
    fn(offs, outer, inner, so, si);
    let d = m - 1;
    for (; d >= 0; d--) {
      idx[d]++;
      for (let j = 0; j < k; j++) offs[j] += strides[j][d];
      if (idx[d] < shape[d]) break;
      for (let j = 0; j < k; j++) offs[j] -= strides[j][d] * shape[d];
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

export function normDim(dim: number, ndim: number, op: string): number {
  if (!Number.isInteger(dim)) throw new TypeError(`${op}: dim must be an integer, got ${dim}`);
  const d = dim < 0 ? dim + ndim : dim;
  if (d < 0 || d >= Math.max(ndim, 1))
    throw new RangeError(`${op}: dim ${dim} is out of range for a tensor with ${ndim} dims`);
  return d;
}

export function shapeStr(s: readonly number[]): string {
  return `[${s.join(", ")}]`;
}
