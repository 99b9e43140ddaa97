/** Reductions (sum, mean, max, min, arg*), sorting (topk, sort, argsort), cumsum, bincount. */
import { Tensor } from "../tensor.js";
import { record, Node, gradEnabled } from "../autograd.js";
import { native, NATIVE_MIN } from "../native.js";
import { normDim, shapeStr } from "./iter.js";
import { cast, div, neg } from "./elementwise.js";
import { contiguous, copyRaw, reshape, squeeze, transpose } from "./shape.js";
import { gather } from "./indexing.js";
import { isStorageOnly } from "../dtype.js";

const SUM = 0,
  MAXR = 1,
  MINR = 2;

function checkT(t: unknown, op: string): Tensor {
  if (!(t instanceof Tensor)) throw new TypeError(`${op}: expected a Tensor`);
  t._check(op);
  if (isStorageOnly(t.dtype))
    throw new TypeError(`${op}: dtype ${t.dtype} is a storage type; convert with .float() first`);
  return t;
}

/** Reduces contiguous x viewed as [outer, r, inner] over r (no autograd). */
function reduceDim(op: number, x: Tensor, d: number): Tensor {
  const src = x._isContiguous ? x : copyRaw(x);
  const outer = src.shape.slice(0, d).reduce((a, b) => a * b, 1);
  const r = src.shape[d];
  const inner = src.shape.slice(d + 1).reduce((a, b) => a * b, 1);
  const shape = src.shape.slice();
  shape[d] = 1;
  const out = Tensor._empty(src.dtype, shape);
  const xd = src._storage.data;
  const od = out._storage.data;
  const xo = src.offset;
  if (r === 0) {
    if (op !== SUM)
      throw new Error(`${op === MAXR ? "max" : "min"}: cannot reduce over an empty dim`);
    od.fill(0);
  } else if (src.dtype === "float32" && src.size >= NATIVE_MIN && native.opsReduce !== undefined)
    native.opsReduce(
      op,
      (xd as Float32Array).subarray(xo, xo + src.size),
      od as Float32Array,
      outer,
      r,
      inner,
    );
  else
    for (let o = 0; o < outer; o++) {
      const ob = o * inner;
      const xb = xo + o * r * inner;
      if (inner === 1) {
        let acc = xd[xb];
        if (op === SUM) for (let k = 1; k < r; k++) acc += xd[xb + k];
        else if (op === MAXR)
          for (let k = 1; k < r; k++) acc = xd[xb + k] > acc || acc !== acc ? xd[xb + k] : acc;
        else for (let k = 1; k < r; k++) acc = xd[xb + k] < acc || acc !== acc ? xd[xb + k] : acc;
        od[ob] = acc;
        continue;
      }
      for (let i = 0; i < inner; i++) od[ob + i] = xd[xb + i];
      for (let k = 1; k < r; k++) {
        const xr = xb + k * inner;
        if (op === SUM) for (let i = 0; i < inner; i++) od[ob + i] += xd[xr + i];
        else if (op === MAXR)
          for (let i = 0; i < inner; i++)
            od[ob + i] = xd[xr + i] > od[ob + i] ? xd[xr + i] : od[ob + i];
        else
          for (let i = 0; i < inner; i++)
            od[ob + i] = xd[xr + i] < od[ob + i] ? xd[xr + i] : od[ob + i];
      }
    }
  if (src !== x) src.dispose();
  return out;
}

function dimsArg(t: Tensor, dim: number | number[] | null | undefined, op: string): number[] {
  if (dim === null || dim === undefined) return t.shape.map((_, i) => i);
  const ds = (Array.isArray(dim) ? dim : [dim]).map((d) => normDim(d, t.ndim, op));
  if (new Set(ds).size !== ds.length) throw new Error(`${op}: repeated dim in ${shapeStr(ds)}`);
  return ds.sort((a, b) => b - a);
}

/** Sum over dims (no autograd); keepdim keeps them as size 1. */
export function sumRaw(t: Tensor, dims: number[], keepdim: boolean): Tensor {
  let cur = t;
  if (t.ndim === 0) return copyRaw(t);
  if (dims.length === t.ndim && t._isContiguous) {
    const flat = t._view([1, t.size], [t.size, 1], t.offset);
    cur = reduceDim(SUM, flat, 1);
    flat.dispose();
    const shape = keepdim ? t.shape.map(() => 1) : [];
    const out = cur._view(
      shape,
      shape.map(() => 1),
      0,
    );
    cur.dispose();
    return out;
  }
  for (const d of dims) {
    const next = reduceDim(SUM, cur, d);
    if (cur !== t) cur.dispose();
    cur = next;
  }
  if (cur === t) cur = copyRaw(t);
  if (keepdim) return cur;
  const shape = t.shape.filter((_, i) => !dims.includes(i));
  const out = cur._view(shape, null, 0);
  cur.dispose();
  return out;
}

/** Sums a broadcast gradient down to `shape` (the inverse of broadcasting). */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  const lead = g.ndim - shape.length;
  const dims: number[] = [];
  for (let i = 0; i < g.ndim; i++)
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) dims.push(i);
  if (dims.length === 0) return g.ndim === shape.length ? copyRaw(g) : reshapeRaw(g, shape);
  const s = sumRaw(
    g,
    dims.sort((a, b) => b - a),
    true,
  );
  const out = reshapeRaw(s, shape);
  s.dispose();
  return out;
}

function reshapeRaw(t: Tensor, shape: readonly number[]): Tensor {
  const src = t._isContiguous ? t : copyRaw(t);
  const out = src._view(shape, null, src.offset);
  if (src !== t) src.dispose();
  return out;
}

function bSum(g: Tensor, n: Node): (Tensor | null)[] {
  const x = n.inputs[0];
  const [dims, keepdim, scale] = n.saved as [number[], boolean, number];
  let gk = g;
  if (!keepdim) {
    const ks = x.shape.map((s, i) => (dims.includes(i) ? 1 : s));
    gk = reshapeRaw(g, ks);
  }
  // Broadcast gk over the input shape (scaled for mean).
  const tmp = gk._view(
    x.shape,
    gk.shape.map((s, i) => (s === 1 ? 0 : gk.strides[i])),
    gk.offset,
  );
  const out = copyRaw(tmp);
  if (scale !== 1) {
    const od = out._storage.data;
    for (let i = 0; i < od.length; i++) od[i] *= scale;
  }
  tmp.dispose();
  if (gk !== g) gk.dispose();
  return [out];
}

/** Sum over dim(s) (all when omitted). int32 stays int32. */
export function sum(t: Tensor, dim?: number | number[] | null, keepdim = false): Tensor {
  checkT(t, "sum");
  const dims = dimsArg(t, dim, "sum");
  const out = sumRaw(t, dims, keepdim);
  return t.requiresGrad && gradEnabled() ? record("sum", out, [t], bSum, [dims, keepdim, 1]) : out;
}

/** Mean over dim(s) (all when omitted); always float32. */
export function mean(t: Tensor, dim?: number | number[] | null, keepdim = false): Tensor {
  checkT(t, "mean");
  const x = t.dtype === "float32" ? t : cast(t, "float32");
  const dims = dimsArg(t, dim, "mean");
  const count = dims.reduce((a, d) => a * t.shape[d], 1);
  const s = sumRaw(x, dims, keepdim);
  const sd = s._storage.data;
  for (let i = 0; i < sd.length; i++) sd[i] /= count;
  if (x !== t) x.dispose();
  return t.requiresGrad && gradEnabled()
    ? record("mean", s, [t], bSum, [dims, keepdim, 1 / count])
    : s;
}

/** Index of the max (min) along dim, or over the flattened tensor; int32. */
function argReduce(
  t: Tensor,
  dim: number | null | undefined,
  keepdim: boolean,
  isMax: boolean,
): Tensor {
  const op = isMax ? "argmax" : "argmin";
  checkT(t, op);
  if (dim === null || dim === undefined) {
    const flat = reshapeRaw(t, [t.size]);
    const r = argReduce(flat, 0, false, isMax);
    flat.dispose();
    if (!keepdim) return r;
    const out = r._view(
      t.shape.map(() => 1),
      t.shape.map(() => 1),
      0,
    );
    r.dispose();
    return out;
  }
  const d = normDim(dim, t.ndim, op);
  const src = t._isContiguous ? t : copyRaw(t);
  const r = src.ndim === 0 ? 1 : src.shape[d];
  if (r === 0) throw new Error(`${op}: cannot reduce over an empty dim`);
  const outer = src.shape.slice(0, d).reduce((a, b) => a * b, 1);
  const inner = src.shape.slice(d + 1).reduce((a, b) => a * b, 1);
  const shape = src.shape.slice();
  if (src.ndim > 0) shape[d] = 1;
  const out = Tensor._empty("int32", shape);
  const xd = src._storage.data;
  const od = out._storage.data as Int32Array;
  const xo = src.offset;
  if (src.dtype === "float32" && src.size >= NATIVE_MIN && native.opsArgReduce !== undefined)
    native.opsArgReduce(
      isMax ? 0 : 1,
      (xd as Float32Array).subarray(xo, xo + src.size),
      od,
      outer,
      r,
      inner,
    );
  else
    for (let o = 0; o < outer; o++)
      for (let i = 0; i < inner; i++) {
        const base = xo + o * r * inner + i;
        let best = xd[base];
        let bi = 0;
        for (let k = 1; k < r; k++) {
          const v = xd[base + k * inner];
          if (best !== best) break; // NaN wins, like PyTorch
          if (isMax ? v > best || v !== v : v < best || v !== v) {
            best = v;
            bi = k;
          }
        }
        od[o * inner + i] = bi;
      }
  if (src !== t) src.dispose();
  if (keepdim || src.ndim === 0) return out;
  const res = squeeze(out, d);
  out.dispose();
  return res;
}

export function argmax(t: Tensor, dim?: number | null, keepdim = false): Tensor {
  return argReduce(t, dim, keepdim, true);
}
export function argmin(t: Tensor, dim?: number | null, keepdim = false): Tensor {
  return argReduce(t, dim, keepdim, false);
}

function maxMin(
  t: Tensor,
  dim: number | null | undefined,
  keepdim: boolean,
  isMax: boolean,
): Tensor {
  const op = isMax ? "max" : "min";
  checkT(t, op);
  if (!(t.requiresGrad && gradEnabled())) {
    if (dim === null || dim === undefined) {
      const flat = reshapeRaw(t, [1, t.size]);
      if (t.size === 0) throw new Error(`${op}: cannot reduce an empty tensor`);
      const r = reduceDim(isMax ? MAXR : MINR, flat, 1);
      flat.dispose();
      const out = r._view(
        keepdim ? t.shape.map(() => 1) : [],
        keepdim ? t.shape.map(() => 1) : [],
        0,
      );
      r.dispose();
      return out;
    }
    const d = normDim(dim, t.ndim, op);
    const r = reduceDim(isMax ? MAXR : MINR, t, d);
    if (keepdim) return r;
    const out = squeeze(r, d);
    r.dispose();
    return out;
  }
  // Differentiable path: gather at the arg index, so the gradient flows to one element.
  if (dim === null || dim === undefined) {
    const flat = reshape(t, [t.size]);
    const idx = argReduce(flat, 0, true, isMax);
    const v = gather(flat, 0, idx);
    return reshape(v, keepdim ? t.shape.map(() => 1) : []);
  }
  const d = normDim(dim, t.ndim, op);
  const idx = argReduce(t, d, true, isMax);
  const v = gather(t, d, idx);
  return keepdim ? v : squeeze(v, d);
}

export function max(t: Tensor, dim?: number | null, keepdim = false): Tensor {
  return maxMin(t, dim, keepdim, true);
}
export function min(t: Tensor, dim?: number | null, keepdim = false): Tensor {
  return maxMin(t, dim, keepdim, false);
}

/** Row-wise sorted indices along the last dim of a contiguous [rows, n] layout. */
function sortIndices(t: Tensor, d: number, descending: boolean, k: number): Tensor {
  const moved = d === t.ndim - 1 ? t : transpose(t, d, -1);
  const src = copyRaw(moved);
  if (moved !== t) moved.dispose();
  const n = src.ndim === 0 ? 1 : src.shape[src.ndim - 1];
  const rows = n === 0 ? 0 : src.size / n;
  const shape = src.shape.slice();
  if (shape.length > 0) shape[shape.length - 1] = k;
  const out = Tensor._empty("int32", shape);
  const xd = src._storage.data;
  const od = out._storage.data;
  if (k <= 16 && k < n) {
    // Small k (router top-k): insertion into a sorted buffer, O(n k) per row.
    const better = descending
      ? (x: number, y: number) => (x !== x ? y === y : x > y)
      : (x: number, y: number) => (y !== y ? x === x : x < y);
    const bv = new Float64Array(k);
    const bi = new Int32Array(k);
    for (let r = 0; r < rows; r++) {
      const base = r * n;
      let cnt = 0;
      for (let i = 0; i < n; i++) {
        const v = xd[base + i];
        let j: number;
        if (cnt < k) j = cnt++;
        else if (better(v, bv[k - 1])) j = k - 1;
        else continue;
        while (j > 0 && better(v, bv[j - 1])) {
          bv[j] = bv[j - 1];
          bi[j] = bi[j - 1];
          j--;
        }
        bv[j] = v;
        bi[j] = i;
      }
      for (let i = 0; i < k; i++) od[r * k + i] = bi[i];
    }
  } else {
    sortRows(xd, od, rows, n, k, descending);
  }
  src.dispose();
  if (d === t.ndim - 1 || t.ndim === 0) return out;
  const back = transpose(out, d, -1);
  out.dispose();
  return back;
}

function sortRows(
  xd: ArrayLike<number>,
  od: Int32Array | TypedArrayLike,
  rows: number,
  n: number,
  k: number,
  descending: boolean,
): void {
  const idx = new Array<number>(n);
  for (let r = 0; r < rows; r++) {
    const base = r * n;
    for (let i = 0; i < n; i++) idx[i] = i;
    // Stable; NaN sorts as the largest, like PyTorch.
    idx.sort((a, b) => {
      const x = xd[base + a];
      const y = xd[base + b];
      const c = x !== x ? (y !== y ? 0 : 1) : y !== y ? -1 : x < y ? -1 : x > y ? 1 : 0;
      return (descending ? -c : c) || a - b;
    });
    for (let i = 0; i < k; i++) od[r * k + i] = idx[i];
  }
}

type TypedArrayLike = { [i: number]: number };

/** The k largest (or smallest) values along dim, with their int32 indices; sorted. */
export function topk(
  t: Tensor,
  k: number,
  dim = -1,
  largest = true,
): { values: Tensor; indices: Tensor } {
  checkT(t, "topk");
  const d = normDim(dim, t.ndim, "topk");
  const n = t.ndim === 0 ? 1 : t.shape[d];
  if (!Number.isInteger(k) || k < 0 || k > n)
    throw new RangeError(`topk: k=${k} is out of range for dim ${d} of size ${n}`);
  const indices = sortIndices(t, d, largest, k);
  return { values: gather(t, d, indices), indices };
}

/** Sorted values along dim with their int32 indices (stable). */
export function sort(t: Tensor, dim = -1, descending = false): { values: Tensor; indices: Tensor } {
  checkT(t, "sort");
  const d = normDim(dim, t.ndim, "sort");
  const indices = sortIndices(t, d, descending, t.ndim === 0 ? 1 : t.shape[d]);
  return { values: gather(t, d, indices), indices };
}

export function argsort(t: Tensor, dim = -1, descending = false): Tensor {
  checkT(t, "argsort");
  const d = normDim(dim, t.ndim, "argsort");
  return sortIndices(t, d, descending, t.ndim === 0 ? 1 : t.shape[d]);
}

function cumsumRaw(t: Tensor, d: number, reverse: boolean): Tensor {
  const src = t._isContiguous ? t : copyRaw(t);
  const outer = src.shape.slice(0, d).reduce((a, b) => a * b, 1);
  const r = src.shape[d];
  const inner = src.shape.slice(d + 1).reduce((a, b) => a * b, 1);
  const out = Tensor._empty(src.dtype, src.shape);
  const xd = src._storage.data;
  const od = out._storage.data;
  const xo = src.offset;
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      let acc = 0;
      for (let kk = 0; kk < r; kk++) {
        const k = reverse ? r - 1 - kk : kk;
        const p = o * r * inner + k * inner + i;
        acc += xd[xo + p];
        od[p] = acc;
      }
    }
  if (src !== t) src.dispose();
  return out;
}

function bCumsum(g: Tensor, n: Node): (Tensor | null)[] {
  return [cumsumRaw(g, n.saved as number, true)];
}

/** Running sum along dim. */
export function cumsum(t: Tensor, dim: number): Tensor {
  checkT(t, "cumsum");
  const d = normDim(dim, t.ndim, "cumsum");
  if (t.ndim === 0) return copyRaw(t);
  const out = cumsumRaw(t, d, false);
  return t.requiresGrad && gradEnabled() ? record("cumsum", out, [t], bCumsum, d) : out;
}

/** Counts of each value in a 1-D non-negative int32 tensor; length max(max+1, minlength). */
export function bincount(t: Tensor, minlength = 0): Tensor {
  checkT(t, "bincount");
  if (t.dtype !== "int32")
    throw new TypeError(`bincount: expected an int32 tensor, got ${t.dtype}`);
  if (t.ndim !== 1)
    throw new Error(`bincount: expected a 1-D tensor, got shape ${shapeStr(t.shape)}`);
  const v = contiguous(t);
  const d = v._storage.data;
  let mx = -1;
  for (let i = 0; i < v.size; i++) {
    const x = d[v.offset + i];
    if (x < 0)
      throw new RangeError(`bincount: values must be non-negative, found ${x} at index ${i}`);
    if (x > mx) mx = x;
  }
  const out = Tensor._empty("int32", [Math.max(mx + 1, minlength)], true);
  const od = out._storage.data;
  for (let i = 0; i < v.size; i++) od[d[v.offset + i]]++;
  if (v !== t) v.dispose();
  return out;
}

void div;
void neg;
