/** Shape ops: views (reshape, transpose, permute, expand, slice, ...) and copies (cat, stack, tril). */
import { Tensor, contiguousStrides } from "../tensor.js";
import { record, Node, gradEnabled } from "../autograd.js";
import { native, NATIVE_MIN } from "../native.js";
import { ND_COPY, collapse, forEachBlock, nativeNd, normDim, shapeStr } from "./iter.js";
import { inplace, mul } from "./elementwise.js";
import { isStorageOnly } from "../dtype.js";

/** Accepts f(2, 3), f([2, 3]). */
export function shapeArg(args: (number | number[])[]): number[] {
  if (args.length === 1 && Array.isArray(args[0])) return args[0].slice();
  return args.map((x) => {
    if (typeof x !== "number")
      throw new TypeError("expected a shape as numbers or one array of numbers");
    return x;
  });
}

function checkT(t: unknown, op: string): Tensor {
  if (!(t instanceof Tensor))
    throw new TypeError(`${op}: expected a Tensor, got ${t === null ? "null" : typeof t}`);
  t._check(op);
  return t;
}

const ZERO = new Float32Array(1);

/** Copies any strided tensor into a fresh contiguous one (no autograd). */
export function copyRaw(t: Tensor): Tensor {
  const out = Tensor._emptyLike(t.dtype, t);
  const od = out._storage.data;
  const td = t._storage.data;
  if (t._isContiguous) {
    if (t.size < 64) for (let i = 0, o = t.offset; i < t.size; i++, o++) od[i] = td[o];
    else od.set(td.subarray(t.offset, t.offset + t.size));
    return out;
  }
  const plan = collapse(t.shape, [out.strides, t.strides]);
  const nat =
    native.opsBinary2d !== undefined && td instanceof Float32Array && t.size >= NATIVE_MIN;
  // Past two dims (a permuted copy), one native call walks every block.
  if (
    nat &&
    plan.shape.length > 2 &&
    nativeNd(
      ND_COPY,
      plan,
      [od as Float32Array, 0, plan.strides[0]],
      [td as Float32Array, t.offset, plan.strides[1]],
      null,
    )
  )
    return out;
  forEachBlock(plan, [0, t.offset], (offs, outer, inner, so, si) => {
    if (nat)
      native.opsBinary2d!(
        0,
        td as Float32Array,
        offs[1],
        so[1],
        si[1],
        ZERO,
        0,
        0,
        0,
        od as Float32Array,
        offs[0],
        outer,
        inner,
      );
    else
      for (let o = 0; o < outer; o++) {
        let p = offs[1] + o * so[1];
        const s1 = si[1];
        let q = offs[0] + o * inner;
        if (s1 === 1) {
          od.set(td.subarray(p, p + inner), q);
          continue;
        }
        for (let i = 0; i < inner; i++, p += s1) od[q++] = td[p];
      }
  });
  return out;
}

function bIdentity(g: Tensor): (Tensor | null)[] {
  return [g];
}

/** A copy in fresh contiguous memory (differentiable). */
export function clone(t: Tensor): Tensor {
  checkT(t, "clone");
  const out = copyRaw(t);
  return t.requiresGrad && gradEnabled() ? record("clone", out, [t], bIdentity, null) : out;
}

/** t itself when already contiguous, else a contiguous copy. */
export function contiguous(t: Tensor): Tensor {
  checkT(t, "contiguous");
  if (t._isContiguous) return t;
  return clone(t);
}

function inferShape(op: string, t: Tensor, shape: number[]): number[] {
  let infer = -1;
  let known = 1;
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (d === -1) {
      if (infer >= 0)
        throw new Error(`${op}: only one dimension can be -1, got ${shapeStr(shape)}`);
      infer = i;
    } else if (!Number.isInteger(d) || d < 0)
      throw new Error(`${op}: invalid size ${d} in ${shapeStr(shape)}`);
    else known *= d;
  }
  const out = shape.slice();
  if (infer >= 0) {
    if (known === 0 || t.size % known !== 0)
      throw new Error(
        `${op}: cannot reshape tensor of shape ${shapeStr(t.shape)} (${t.size} elements) into ${shapeStr(shape)}`,
      );
    out[infer] = t.size / known;
  } else if (known !== t.size)
    throw new Error(
      `${op}: cannot reshape tensor of shape ${shapeStr(t.shape)} (${t.size} elements) into ${shapeStr(shape)}`,
    );
  return out;
}

function bReshape(g: Tensor, n: Node): (Tensor | null)[] {
  return [reshape(g, n.inputs[0].shape as number[])];
}

/** A view with a new shape (-1 infers one dim); must be contiguous (else use reshape). */
export function view(t: Tensor, shape: number[]): Tensor {
  checkT(t, "view");
  const s = inferShape("view", t, shape);
  if (!t._isContiguous)
    throw new Error(
      `view: tensor of shape ${shapeStr(t.shape)} is not contiguous; use reshape() (copies) or contiguous()`,
    );
  const out = t._view(s, contiguousStrides(s), t.offset);
  return t.requiresGrad && gradEnabled() ? record("view", out, [t], bReshape, null) : out;
}

/** Like view, copying first when t is not contiguous. */
export function reshape(t: Tensor, shape: number[]): Tensor {
  checkT(t, "reshape");
  const s = inferShape("reshape", t, shape);
  const src = t._isContiguous ? t : copyRaw(t);
  const out = src._view(s, contiguousStrides(s), src.offset);
  if (src !== t) src.dispose();
  return t.requiresGrad && gradEnabled() ? record("reshape", out, [t], bReshape, null) : out;
}

export function flatten(t: Tensor, startDim = 0, endDim = -1): Tensor {
  checkT(t, "flatten");
  if (t.ndim === 0) return reshape(t, [1]);
  const s = normDim(startDim, t.ndim, "flatten");
  const e = normDim(endDim, t.ndim, "flatten");
  const shape = [
    ...t.shape.slice(0, s),
    t.shape.slice(s, e + 1).reduce((a, b) => a * b, 1),
    ...t.shape.slice(e + 1),
  ];
  return reshape(t, shape);
}

/** Removes size-1 dims (all, or just dim). */
export function squeeze(t: Tensor, dim?: number): Tensor {
  checkT(t, "squeeze");
  const d = dim === undefined ? -1 : normDim(dim, t.ndim, "squeeze");
  const keepIdx = t.shape
    .map((_, i) => i)
    .filter((i) => (d < 0 ? t.shape[i] !== 1 : i !== d || t.shape[i] !== 1));
  const out = t._view(
    keepIdx.map((i) => t.shape[i]),
    keepIdx.map((i) => t.strides[i]),
    t.offset,
  );
  return t.requiresGrad && gradEnabled() ? record("squeeze", out, [t], bReshape, null) : out;
}

export function unsqueeze(t: Tensor, dim: number): Tensor {
  checkT(t, "unsqueeze");
  const d = normDim(dim, t.ndim + 1, "unsqueeze");
  const shape = t.shape.slice();
  const strides = t.strides.slice();
  shape.splice(d, 0, 1);
  strides.splice(d, 0, d < t.ndim ? t.strides[d] * t.shape[d] : 1);
  const out = t._view(shape, strides, t.offset);
  return t.requiresGrad && gradEnabled() ? record("unsqueeze", out, [t], bReshape, null) : out;
}

function bExpand(g: Tensor): (Tensor | null)[] {
  return [g]; // the engine sums g down to the input's shape
}

/** A broadcast view (no copy); -1 keeps a dim. */
export function expand(t: Tensor, shape: number[]): Tensor {
  checkT(t, "expand");
  if (shape.length < t.ndim)
    throw new Error(
      `expand: target ${shapeStr(shape)} has fewer dims than the tensor ${shapeStr(t.shape)}`,
    );
  const off = shape.length - t.ndim;
  const strides = new Array<number>(shape.length).fill(0);
  const out = shape.slice();
  for (let i = 0; i < shape.length; i++) {
    const src = i < off ? 1 : t.shape[i - off];
    if (shape[i] === -1) {
      if (i < off) throw new Error(`expand: -1 is not allowed for the new leading dim ${i}`);
      out[i] = src;
    }
    if (src !== out[i] && src !== 1)
      throw new Error(
        `expand: cannot expand shape ${shapeStr(t.shape)} to ${shapeStr(shape)} (dim ${i}: ${src} vs ${out[i]})`,
      );
    strides[i] = i < off || src !== out[i] ? 0 : t.strides[i - off];
  }
  const v = t._view(out, strides, t.offset);
  return t.requiresGrad && gradEnabled() ? record("expand", v, [t], bExpand, null) : v;
}

function bPermute(g: Tensor, n: Node): (Tensor | null)[] {
  const perm = n.saved as number[];
  const inv = new Array<number>(perm.length);
  for (let i = 0; i < perm.length; i++) inv[perm[i]] = i;
  return [permute(g, inv)];
}

/** Reorders dims (a view). */
export function permute(t: Tensor, dims: number[]): Tensor {
  checkT(t, "permute");
  if (dims.length !== t.ndim)
    throw new Error(
      `permute: got ${dims.length} dims ${shapeStr(dims)} for a tensor of shape ${shapeStr(t.shape)}`,
    );
  const p = dims.map((d) => normDim(d, t.ndim, "permute"));
  if (new Set(p).size !== p.length) throw new Error(`permute: repeated dim in ${shapeStr(dims)}`);
  const out = t._view(
    p.map((d) => t.shape[d]),
    p.map((d) => t.strides[d]),
    t.offset,
  );
  return t.requiresGrad && gradEnabled() ? record("permute", out, [t], bPermute, p) : out;
}

/** Swaps two dims (a view). */
export function transpose(t: Tensor, dim0 = -2, dim1 = -1): Tensor {
  checkT(t, "transpose");
  if (t.ndim < 2) return permute(t, t.ndim === 0 ? [] : [0]); // a view that keeps the graph
  const a = normDim(dim0, t.ndim, "transpose");
  const b = normDim(dim1, t.ndim, "transpose");
  const p = t.shape.map((_, i) => i);
  p[a] = b;
  p[b] = a;
  return permute(t, p);
}

function bSlice(g: Tensor, n: Node): (Tensor | null)[] {
  const [dim, start, step] = n.saved as [number, number, number];
  const x = n.inputs[0];
  const z = Tensor._empty("float32", x.shape, true);
  const v = sliceRaw(z, dim, start, g.shape[dim], step);
  inplace(v, "copy_", g, 1);
  v.dispose();
  return [z];
}

function sliceRaw(t: Tensor, d: number, start: number, len: number, step: number): Tensor {
  const shape = t.shape.slice();
  shape[d] = len;
  const strides = t.strides.slice();
  strides[d] = t.strides[d] * step;
  return t._view(shape, strides, t.offset + start * t.strides[d]);
}

/** Elements [start, end) with step along dim (a view); negatives count from the end, like Python. */
export function slice(
  t: Tensor,
  dim: number,
  start?: number | null,
  end?: number | null,
  step = 1,
): Tensor {
  checkT(t, "slice");
  const d = normDim(dim, t.ndim, "slice");
  if (!Number.isInteger(step) || step < 1)
    throw new RangeError(`slice: step must be a positive integer, got ${step}`);
  const n = t.shape[d];
  const norm = (v: number | null | undefined, dflt: number): number => {
    if (v === null || v === undefined) return dflt;
    if (!Number.isInteger(v)) throw new TypeError(`slice: indices must be integers, got ${v}`);
    const x = v < 0 ? v + n : v;
    return Math.min(Math.max(x, 0), n);
  };
  const s = norm(start, 0);
  const e = Math.max(norm(end, n), s);
  const len = Math.ceil((e - s) / step);
  const out = sliceRaw(t, d, s, len, step);
  return t.requiresGrad && gradEnabled() ? record("slice", out, [t], bSlice, [d, s, step]) : out;
}

/** t[..., index, ...] along dim, dropping that dim (a view). */
export function select(t: Tensor, dim: number, index: number): Tensor {
  checkT(t, "select");
  const d = normDim(dim, t.ndim, "select");
  const n = t.shape[d];
  if (!Number.isInteger(index) || index < -n || index >= n)
    throw new RangeError(`select: index ${index} is out of range for dim ${d} of size ${n}`);
  const i = index < 0 ? index + n : index;
  return squeeze(slice(t, d, i, i + 1), d);
}

/** Pieces of `size` (or the given sizes) along dim (views). */
export function split(t: Tensor, sizeOrSections: number | number[], dim = 0): Tensor[] {
  checkT(t, "split");
  const d = normDim(dim, t.ndim, "split");
  const n = t.shape[d];
  let sizes: number[];
  if (typeof sizeOrSections === "number") {
    if (!Number.isInteger(sizeOrSections) || sizeOrSections < 1)
      throw new RangeError(`split: size must be a positive integer`);
    sizes = [];
    for (let i = 0; i < n; i += sizeOrSections) sizes.push(Math.min(sizeOrSections, n - i));
  } else {
    sizes = sizeOrSections;
    const total = sizes.reduce((a, b) => a + b, 0);
    if (total !== n)
      throw new Error(
        `split: sizes ${shapeStr(sizes)} sum to ${total}, but dim ${d} has size ${n}`,
      );
  }
  const out: Tensor[] = [];
  let s = 0;
  for (const len of sizes) {
    out.push(slice(t, d, s, s + len));
    s += len;
  }
  return out;
}

export function chunk(t: Tensor, chunks: number, dim = 0): Tensor[] {
  checkT(t, "chunk");
  const d = normDim(dim, t.ndim, "chunk");
  return split(t, Math.max(1, Math.ceil(t.shape[d] / chunks)), d);
}

function bCat(g: Tensor, n: Node): (Tensor | null)[] {
  const [d, sizes] = n.saved as [number, number[]];
  const out: (Tensor | null)[] = [];
  let s = 0;
  for (let i = 0; i < sizes.length; i++) {
    out.push(n.inputs[i].requiresGrad ? sliceRaw(g, d, s, sizes[i], 1) : null);
    s += sizes[i];
  }
  return out;
}

/** Joins tensors along an existing dim (PyTorch's cat). */
export function cat(tensors: Tensor[], dim = 0): Tensor {
  if (!Array.isArray(tensors) || tensors.length === 0)
    throw new Error("cat: expected a non-empty array of tensors");
  tensors.forEach((t) => checkT(t, "cat"));
  const first = tensors[0];
  const d = normDim(dim, first.ndim, "cat");
  const dtype = tensors.some((t) => t.dtype === "float32") ? "float32" : first.dtype;
  for (const t of tensors) {
    if (t.ndim !== first.ndim || t.shape.some((s, i) => i !== d && s !== first.shape[i]))
      throw new Error(
        `cat: shapes ${shapeStr(first.shape)} and ${shapeStr(t.shape)} differ outside dim ${d}`,
      );
    if (isStorageOnly(t.dtype))
      throw new TypeError(`cat: dtype ${t.dtype} is a storage type; convert with .float() first`);
  }
  const sizes = tensors.map((t) => t.shape[d]);
  const shape = first.shape.slice();
  shape[d] = sizes.reduce((a, b) => a + b, 0);
  const out = Tensor._empty(dtype, shape);
  let s = 0;
  for (const t of tensors) {
    const v = sliceRaw(out, d, s, t.shape[d], 1);
    inplace(v, "copy_", t, 1);
    v.dispose();
    s += t.shape[d];
  }
  if (!gradEnabled() || !tensors.some((t) => t.requiresGrad)) return out;
  return record("cat", out, tensors, bCat, [d, sizes]);
}
/** Alias of cat. */
export const concat = cat;

/** Joins tensors along a new dim. */
export function stack(tensors: Tensor[], dim = 0): Tensor {
  if (!Array.isArray(tensors) || tensors.length === 0)
    throw new Error("stack: expected a non-empty array of tensors");
  tensors.forEach((t) => checkT(t, "stack"));
  const s0 = tensors[0].shape;
  for (const t of tensors)
    if (t.ndim !== s0.length || t.shape.some((v, i) => v !== s0[i]))
      throw new Error(
        `stack: all tensors must have the same shape, got ${shapeStr(s0)} and ${shapeStr(t.shape)}`,
      );
  const d = normDim(dim, s0.length + 1, "stack");
  const parts = tensors.map((t) => unsqueeze(t, d));
  const out = cat(parts, d);
  if (!gradEnabled() || !tensors.some((t) => t.requiresGrad)) parts.forEach((p) => p.dispose());
  return out;
}

function triMask(rows: number, cols: number, k: number, lower: boolean): Tensor {
  const m = Tensor._empty("float32", [rows, cols]);
  const d = m._storage.data;
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++)
      d[i * cols + j] = lower ? (j - i <= k ? 1 : 0) : j - i >= k ? 1 : 0;
  return m;
}

function tri(t: Tensor, k: number, lower: boolean): Tensor {
  const op = lower ? "tril" : "triu";
  checkT(t, op);
  if (t.ndim < 2)
    throw new Error(`${op}: expected at least 2 dims, got shape ${shapeStr(t.shape)}`);
  const m = triMask(t.shape[t.ndim - 2], t.shape[t.ndim - 1], k, lower);
  const mm = t.dtype === "int32" ? m.int() : m;
  const out = mul(t, mm);
  if (out.requiresGrad) return out; // mul's node keeps the mask for backward
  if (mm !== m) mm.dispose();
  m.dispose();
  return out;
}
/** Lower triangle (j - i <= diagonal), zeros elsewhere, over the last two dims. */
export const tril = (t: Tensor, diagonal = 0): Tensor => tri(t, diagonal, true);
/** Upper triangle (j - i >= diagonal). */
export const triu = (t: Tensor, diagonal = 0): Tensor => tri(t, diagonal, false);
