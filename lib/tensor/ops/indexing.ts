/** Index ops: gather, indexSelect, scatterAdd, embedding, where, maskedFill, oneHot. */
import { Tensor } from "../tensor.js";
import { record, Node, gradEnabled, BackwardFn } from "../autograd.js";
import { broadcastShapes, normDim, shapeStr } from "./iter.js";
import { copyRaw, expand, reshape } from "./shape.js";
import { cast } from "./elementwise.js";
import { isStorageOnly } from "../dtype.js";
import { native, NATIVE_MIN } from "../native.js";

function checkT(t: unknown, op: string, what = "input"): Tensor {
  if (!(t instanceof Tensor)) throw new TypeError(`${op}: expected a Tensor as ${what}`);
  t._check(op);
  if (isStorageOnly(t.dtype))
    throw new TypeError(`${op}: dtype ${t.dtype} is a storage type; convert with .float() first`);
  return t;
}

function checkIndex(idx: unknown, op: string): Tensor {
  const t = checkT(idx, op, "index");
  if (t.dtype !== "int32")
    throw new TypeError(`${op}: index must be an int32 tensor, got ${t.dtype}`);
  return t;
}

function contig(t: Tensor): Tensor {
  t._check("index op");
  return t._isContiguous ? t : copyRaw(t);
}

/** Records an index op saving [dim, a view of index] that the node owns and frees after backward. */
function recordIndexed(
  op: string,
  out: Tensor,
  inputs: Tensor[],
  bwd: BackwardFn,
  d: number,
  index: Tensor,
): Tensor {
  const v = own(index);
  return record(op, out, inputs, bwd, [d, v], [v]);
}

/** A view the autograd node owns, so disposing the caller's index does not break backward. */
function own(t: Tensor): Tensor {
  return t._view(t.shape, t.strides, t.offset);
}

/** Walks index positions; calls fn(p, xOffsetWithoutDim, coordOnDim?) */
function gatherLike(
  op: string,
  x: Tensor,
  d: number,
  index: Tensor,
  fn: (p: number, xo: number, idx: number) => void,
): void {
  const ic = contig(index);
  const id = ic._storage.data;
  const nd = index.ndim;
  const size = x.shape[d];
  const coord = new Array<number>(nd).fill(0);
  let xo = x.offset;
  for (let p = 0; p < index.size; p++) {
    const v = id[ic.offset + p];
    if (v < 0 || v >= size)
      throw new RangeError(
        `${op}: index ${v} is out of range for dim ${d} of size ${size} (shape ${shapeStr(x.shape)})`,
      );
    fn(p, xo, v);
    for (let k = nd - 1; k >= 0; k--) {
      coord[k]++;
      if (k !== d) xo += x.strides[k];
      if (coord[k] < index.shape[k]) break;
      if (k !== d) xo -= x.strides[k] * index.shape[k];
      coord[k] = 0;
    }
  }
  if (ic !== index) ic.dispose();
}

function checkGatherShapes(op: string, x: Tensor, d: number, index: Tensor, other?: Tensor): void {
  if (index.ndim !== x.ndim)
    throw new Error(
      `${op}: index has ${index.ndim} dims ${shapeStr(index.shape)} but input has ${x.ndim} ${shapeStr(x.shape)}`,
    );
  for (let k = 0; k < x.ndim; k++)
    if (k !== d && index.shape[k] > x.shape[k])
      throw new Error(
        `${op}: index shape ${shapeStr(index.shape)} exceeds input shape ${shapeStr(x.shape)} at dim ${k}`,
      );
  if (other !== undefined)
    for (let k = 0; k < x.ndim; k++)
      if (index.shape[k] > other.shape[k])
        throw new Error(
          `${op}: index shape ${shapeStr(index.shape)} exceeds src shape ${shapeStr(other.shape)} at dim ${k}`,
        );
}

function bGather(g: Tensor, n: Node): (Tensor | null)[] {
  const [d, index] = n.saved as [number, Tensor];
  const x = n.inputs[0];
  const out = Tensor._empty("float32", x.shape, true);
  scatterAddRaw(out, d, index, g);
  return [out];
}

/** out[i][j] = x[i][index[i][j]] (dim 1); index has x's rank. */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  checkT(x, "gather");
  checkIndex(index, "gather");
  const d = normDim(dim, x.ndim, "gather");
  if (x.ndim === 0) throw new Error("gather: input must have at least one dim");
  checkGatherShapes("gather", x, d, index);
  const out = Tensor._empty(x.dtype, index.shape);
  const od = out._storage.data;
  const xd = x._storage.data;
  const sd = x.strides[d];
  gatherLike("gather", x, d, index, (p, xo, v) => {
    od[p] = xd[xo + v * sd];
  });
  return x.requiresGrad && gradEnabled()
    ? recordIndexed("gather", out, [x], bGather, d, index)
    : out;
}

/** target[...index...] += src, in place on a contiguous float target (no autograd). */
function scatterAddRaw(target: Tensor, d: number, index: Tensor, src: Tensor): void {
  const s = contig(src);
  const sdata = s._storage.data;
  const td = target._storage.data;
  const st = target.strides[d];
  // Index positions map to src positions only when shapes agree; walk src by coordinates.
  const sameShape = index.shape.every((v, k) => v === s.shape[k]);
  const srcStrides = s.strides;
  const nd = index.ndim;
  const coord = new Array<number>(nd).fill(0);
  gatherLike("scatterAdd", target, d, index, (p, to, v) => {
    let so = s.offset;
    if (sameShape) so += p;
    else for (let k = 0; k < nd; k++) so += coord[k] * srcStrides[k];
    td[to + v * st] += sdata[so];
    for (let k = nd - 1; k >= 0; k--) {
      if (++coord[k] < index.shape[k]) break;
      coord[k] = 0;
    }
  });
  if (s !== src) s.dispose();
}

function bScatterAdd(g: Tensor, n: Node): (Tensor | null)[] {
  const [d, index] = n.saved as [number, Tensor];
  const [x, src] = n.inputs;
  return [x.requiresGrad ? g : null, src.requiresGrad ? gather(g, d, index) : null];
}

/** A copy of x with src added at index along dim: out[i][index[i][j]] += src[i][j] (dim 1). */
export function scatterAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  checkT(x, "scatterAdd");
  checkIndex(index, "scatterAdd");
  checkT(src, "scatterAdd", "src");
  const d = normDim(dim, x.ndim, "scatterAdd");
  checkGatherShapes("scatterAdd", x, d, index, src);
  const out = copyRaw(x.dtype === "float32" ? x : x);
  const s = src.dtype === out.dtype ? src : cast(src, out.dtype);
  scatterAddRaw(out, d, index, s);
  if (s !== src) s.dispose();
  if (!gradEnabled() || !(x.requiresGrad || src.requiresGrad)) return out;
  return recordIndexed("scatterAdd", out, [x, src], bScatterAdd, d, index);
}

function indexSelectRaw(x: Tensor, d: number, index: Tensor): Tensor {
  const xc = contig(x);
  const ic = contig(index);
  const outer = x.shape.slice(0, d).reduce((a, b) => a * b, 1);
  const n = x.shape[d];
  const inner = x.shape.slice(d + 1).reduce((a, b) => a * b, 1);
  const m = index.size;
  const shape = x.shape.slice();
  shape[d] = m;
  const out = Tensor._empty(x.dtype, shape);
  const xd = xc._storage.data;
  const id = ic._storage.data;
  const od = out._storage.data;
  for (let j = 0; j < m; j++) {
    const v = id[ic.offset + j];
    if (v < 0 || v >= n)
      throw new RangeError(`indexSelect: index ${v} is out of range for dim ${d} of size ${n}`);
  }
  if (out.size >= NATIVE_MIN && native.opsGatherRows !== undefined && xd instanceof Float32Array)
    native.opsGatherRows(
      xd.subarray(xc.offset, xc.offset + xc.size),
      (id as Int32Array).subarray(ic.offset, ic.offset + m),
      od as Float32Array,
      outer,
      n,
      m,
      inner,
    );
  else
    for (let o = 0; o < outer; o++)
      for (let j = 0; j < m; j++) {
        const src = xc.offset + (o * n + id[ic.offset + j]) * inner;
        od.set(xd.subarray(src, src + inner), (o * m + j) * inner);
      }
  if (xc !== x) xc.dispose();
  if (ic !== index) ic.dispose();
  return out;
}

/** target (contiguous) += rows of src placed at index along d (no autograd). */
function indexAddRaw(target: Tensor, d: number, index: Tensor, src: Tensor): void {
  const x = target;
  const g = src;
  const gc = contig(g);
  const out = target;
  const outer = x.shape.slice(0, d).reduce((a, b) => a * b, 1);
  const nn = x.shape[d];
  const inner = x.shape.slice(d + 1).reduce((a, b) => a * b, 1);
  const ic = contig(index);
  const id = ic._storage.data;
  const m = index.size;
  const gd = gc._storage.data;
  const od = out._storage.data;
  if (
    gc.size >= NATIVE_MIN &&
    native.opsScatterAddRows !== undefined &&
    od instanceof Float32Array &&
    out.offset === 0
  )
    native.opsScatterAddRows(
      (gd as Float32Array).subarray(gc.offset, gc.offset + gc.size),
      (id as Int32Array).subarray(ic.offset, ic.offset + m),
      od,
      outer,
      nn,
      m,
      inner,
    );
  else
    for (let o = 0; o < outer; o++)
      for (let j = 0; j < m; j++) {
        const dst = out.offset + (o * nn + id[ic.offset + j]) * inner;
        const src = gc.offset + (o * m + j) * inner;
        for (let i = 0; i < inner; i++) od[dst + i] += gd[src + i];
      }
  if (gc !== g) gc.dispose();
  if (ic !== index) ic.dispose();
}

function bIndexSelect(g: Tensor, n: Node): (Tensor | null)[] {
  const [d, index] = n.saved as [number, Tensor];
  const out = Tensor._empty("float32", n.inputs[0].shape, true);
  indexAddRaw(out, d, index, g);
  return [out];
}

function bIndexAdd(g: Tensor, n: Node): (Tensor | null)[] {
  const [d, index] = n.saved as [number, Tensor];
  const [x, src] = n.inputs;
  return [x.requiresGrad ? g : null, src.requiresGrad ? indexSelectRaw(g, d, index) : null];
}

/**
 * A copy of x with the slices of src added at the positions index gives along dim
 * (PyTorch's index_add): out[..., index[j], ...] += src[..., j, ...]. Repeated indices accumulate.
 */
export function indexAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  checkT(x, "indexAdd");
  checkIndex(index, "indexAdd");
  checkT(src, "indexAdd", "src");
  if (index.ndim !== 1)
    throw new Error(`indexAdd: index must be 1-D, got shape ${shapeStr(index.shape)}`);
  const d = normDim(dim, x.ndim, "indexAdd");
  const expect = x.shape.slice();
  expect[d] = index.size;
  if (src.ndim !== x.ndim || src.shape.some((s, i) => s !== expect[i]))
    throw new Error(
      `indexAdd: src shape ${shapeStr(src.shape)} should be ${shapeStr(expect)} for x ${shapeStr(x.shape)} and ${index.size} indices`,
    );
  const ic = contig(index);
  const n = x.shape[d];
  for (let j = 0; j < index.size; j++) {
    const v = ic._storage.data[ic.offset + j];
    if (v < 0 || v >= n)
      throw new RangeError(`indexAdd: index ${v} is out of range for dim ${d} of size ${n}`);
  }
  if (ic !== index) ic.dispose();
  const out = copyRaw(x);
  const s = src.dtype === out.dtype ? src : cast(src, out.dtype);
  indexAddRaw(out, d, index, s);
  if (s !== src) s.dispose();
  if (!gradEnabled() || !(x.requiresGrad || src.requiresGrad)) return out;
  return recordIndexed("indexAdd", out, [x, src], bIndexAdd, d, index);
}

/** Rows (slices along dim) picked by a 1-D int32 index. */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  checkT(x, "indexSelect");
  checkIndex(index, "indexSelect");
  if (index.ndim > 1)
    throw new Error(`indexSelect: index must be 1-D, got shape ${shapeStr(index.shape)}`);
  const d = normDim(dim, x.ndim, "indexSelect");
  const out = indexSelectRaw(x, d, index);
  return x.requiresGrad && gradEnabled()
    ? recordIndexed("indexSelect", out, [x], bIndexSelect, d, index)
    : out;
}

/** Embedding lookup: weight [V, D], ids int32 [...] -> [..., D]; gradient accumulates into rows. */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  checkT(weight, "embedding", "weight");
  checkIndex(ids, "embedding");
  if (weight.ndim !== 2)
    throw new Error(`embedding: weight must be [V, D], got shape ${shapeStr(weight.shape)}`);
  const flat = ids.ndim === 1 ? ids : reshape(ids, [ids.size]);
  const rows = indexSelect(weight, 0, flat);
  if (flat !== ids) flat.dispose();
  if (ids.ndim === 1) return rows;
  return reshape(rows, [...ids.shape, weight.shape[1]]);
}

function bWhere(g: Tensor, n: Node): (Tensor | null)[] {
  const [cond, hasA, hasB] = n.saved as [Tensor, boolean, boolean];
  const zeroA = hasA ? whereRaw(cond, g, 0) : null;
  const zeroB = hasB ? whereRaw(cond, 0, g) : null;
  const res: (Tensor | null)[] = [];
  if (hasA) res.push(zeroA);
  if (hasB) res.push(zeroB);
  return res;
}

function whereRaw(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  let shape = cond.shape as readonly number[];
  if (a instanceof Tensor) shape = broadcastShapes("where", shape, a.shape);
  if (b instanceof Tensor) shape = broadcastShapes("where", shape, b.shape);
  const dtype =
    (a instanceof Tensor ? a.dtype === "float32" : !Number.isInteger(a)) ||
    (b instanceof Tensor ? b.dtype === "float32" : !Number.isInteger(b))
      ? "float32"
      : "int32";
  const full = (t: Tensor): Tensor => {
    const e = expand(t, shape as number[]);
    const c = copyRaw(e);
    e.dispose();
    return c;
  };
  const c = full(cond);
  const ac = a instanceof Tensor ? full(a) : null;
  const bc = b instanceof Tensor ? full(b) : null;
  const out = Tensor._empty(dtype, shape);
  const od = out._storage.data;
  const cd = c._storage.data;
  const ad = ac ? ac._storage.data : null;
  const bd = bc ? bc._storage.data : null;
  const av = a as number;
  const bv = b as number;
  for (let i = 0; i < od.length; i++) od[i] = cd[i] !== 0 ? (ad ? ad[i] : av) : bd ? bd[i] : bv;
  c.dispose();
  ac?.dispose();
  bc?.dispose();
  return out;
}

/** cond ? a : b elementwise, broadcasting all three; cond is nonzero-is-true. */
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  checkT(cond, "where", "condition");
  if (a instanceof Tensor) checkT(a, "where");
  else if (typeof a !== "number") throw new TypeError("where: a must be a Tensor or a number");
  if (b instanceof Tensor) checkT(b, "where");
  else if (typeof b !== "number") throw new TypeError("where: b must be a Tensor or a number");
  const out = whereRaw(cond, a, b);
  const ins: Tensor[] = [];
  if (a instanceof Tensor) ins.push(a);
  if (b instanceof Tensor) ins.push(b);
  if (!gradEnabled() || !ins.some((t) => t.requiresGrad)) return out;
  const c = own(cond);
  return record("where", out, ins, bWhere, [c, a instanceof Tensor, b instanceof Tensor], [c]);
}

/** x with value where mask is nonzero (mask broadcasts to x). */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  checkT(x, "maskedFill");
  checkT(mask, "maskedFill", "mask");
  const bs = broadcastShapes("maskedFill", x.shape, mask.shape);
  if (bs.length !== x.ndim || bs.some((v, i) => v !== x.shape[i]))
    throw new Error(
      `maskedFill: mask shape ${shapeStr(mask.shape)} does not broadcast to ${shapeStr(x.shape)}`,
    );
  const v = x.dtype === "int32" && !Number.isInteger(value) ? Math.trunc(value) : value;
  const out = where(mask, v, x);
  if (out.dtype !== x.dtype) {
    const c = cast(out, x.dtype);
    out.dispose();
    return c;
  }
  return out;
}

/** int32 [..., numClasses] with a 1 at each index. */
export function oneHot(index: Tensor, numClasses: number): Tensor {
  checkIndex(index, "oneHot");
  if (!Number.isInteger(numClasses) || numClasses < 1)
    throw new RangeError(`oneHot: numClasses must be a positive integer`);
  const ic = contig(index);
  const out = Tensor._empty("int32", [...index.shape, numClasses], true);
  const id = ic._storage.data;
  const od = out._storage.data;
  for (let i = 0; i < index.size; i++) {
    const v = id[ic.offset + i];
    if (v < 0 || v >= numClasses) {
      out.dispose();
      throw new RangeError(`oneHot: index ${v} is out of range for ${numClasses} classes`);
    }
    od[i * numClasses + v] = 1;
  }
  if (ic !== index) ic.dispose();
  return out;
}
