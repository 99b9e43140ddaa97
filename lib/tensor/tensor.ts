/**
 * The Tensor: a typed storage plus shape, strides and offset (views share storage), a dtype, a
 * device, and autograd state. Ops live in ops/*.ts; the methods here forward to them.
 */
import { DType, TypedArray, bytesPer, decode, isStorageOnly } from "./dtype.js";
import {
  Storage,
  adopt,
  allocStorage,
  forgetStorage,
  releaseStorage,
  rootsDisposed,
  tensorCreated,
  type RootOf,
  tensorReleased,
  unregister,
} from "./memory.js";
import { Node, runBackward, BackwardOptions } from "./autograd.js";
import { Device, cpu } from "./device.js";
import * as E from "./ops/elementwise.js";
import * as R from "./ops/reduce.js";
import * as S from "./ops/shape.js";
import * as I from "./ops/indexing.js";
import * as M from "./ops/matmul.js";
import * as N from "./ops/nn.js";
import * as D from "./display.js";

export type Shape = readonly number[];
export type Scalar = number;
export type NestedArray = number | boolean | NestedArray[];

export function contiguousStrides(shape: Shape): number[] {
  const n = shape.length;
  const st = new Array<number>(n);
  let acc = 1;
  for (let i = n - 1; i >= 0; i--) {
    st[i] = acc;
    acc *= shape[i];
  }
  return st;
}

function shapeSize(shape: Shape): number {
  let n = 1;
  for (let i = 0; i < shape.length; i++) n *= shape[i];
  return n;
}

export class Tensor {
  readonly shape: Shape;
  readonly strides: readonly number[];
  readonly offset: number;
  readonly dtype: DType;
  /** Number of elements. */
  readonly size: number;
  readonly device: Device;
  /** When true, ops record this tensor's use so backward() can reach it. */
  requiresGrad = false;
  /** Accumulated gradient (leaves, and tensors that called retainGrad()). */
  grad: Tensor | null = null;
  /** Optional label shown in display and error messages. */
  name: string | undefined = undefined;
  _node: Node | null = null;
  _storage: Storage;
  _disposed = false;
  _kept = false;
  _registered = false;
  /** Handed to user code from inside a graph scope: never owned by a graph (graph-scope.ts). */
  _escaped = false;
  /** The graph scopes' intermediates this returned tensor keeps alive (graph-scope.ts). */
  _ownedRoots: RootOf[] | null = null;
  _retainGrad = false;
  /** Hooks run on this tensor's gradient during backward (registerHook). */
  _gradHooks: ((grad: Tensor) => Tensor | void)[] | null = null;
  _mark = 0;
  _claim = 0;
  _gradAcc: Tensor | null = null;
  readonly _isContiguous: boolean;

  /** Internal: wraps a storage reference (the caller hands over one reference count). */
  constructor(
    storage: Storage,
    shape: Shape,
    strides: readonly number[] | null,
    offset: number,
    contiguous = false,
  ) {
    this._storage = storage;
    this.shape = shape;
    this.dtype = storage.dtype;
    this.device = cpu;
    this.offset = offset;
    this.size = shapeSize(shape);
    if (strides === null) {
      this.strides = contiguousStrides(shape);
      this._isContiguous = true;
    } else if (contiguous) {
      this.strides = strides;
      this._isContiguous = true;
    } else {
      this.strides = strides;
      let ok = true;
      let acc = 1;
      for (let i = shape.length - 1; i >= 0; i--) {
        if (shape[i] !== 1 && strides[i] !== acc) ok = false;
        acc *= shape[i];
      }
      this._isContiguous = ok;
    }
    tensorCreated();
    adopt(this);
  }

  /** Internal: a fresh contiguous tensor (contents undefined unless zero). */
  static _empty(dtype: DType, shape: Shape, zero = false): Tensor {
    return new Tensor(allocStorage(dtype, shapeSize(shape), zero), shape, null, 0);
  }

  /** Internal: a fresh contiguous tensor shaped like t (shares t's shape/strides arrays when t is contiguous). */
  static _emptyLike(dtype: DType, t: Tensor): Tensor {
    if (!t._isContiguous) return Tensor._empty(dtype, t.shape);
    return new Tensor(allocStorage(dtype, t.size, false), t.shape, t.strides, 0, true);
  }

  /** Internal: a view sharing this tensor's storage. */
  _view(shape: Shape, strides: readonly number[] | null, offset: number): Tensor {
    this._check("view");
    this._storage.refs++;
    return new Tensor(this._storage, shape, strides, offset);
  }

  get ndim(): number {
    return this.shape.length;
  }
  numel(): number {
    return this.size;
  }
  get isLeaf(): boolean {
    return this._node === null;
  }
  get isDisposed(): boolean {
    return this._disposed;
  }
  /** Name of the op that produced this tensor (null for leaves). */
  get gradFn(): string | null {
    return this._node === null ? null : this._node.op;
  }

  /** Raw storage (shared with views; mind offset and strides). Throws once disposed. */
  get data(): TypedArray {
    if (this._disposed) this._check("data");
    return this._storage.data;
  }

  _check(op: string): void {
    if (this._disposed)
      throw new Error(
        `${op}: tensor${this.name ? ` '${this.name}'` : ""} of shape [${this.shape.join(", ")}] was disposed`,
      );
  }

  /** Internal: the values in row-major order as the storage's array type (no copy when possible). */
  _contiguousData(): TypedArray {
    this._check("read");
    const d = this._storage.data;
    if (this._isContiguous) {
      if (this.offset === 0 && d.length === this.size) return d;
      return d.subarray(this.offset, this.offset + this.size);
    }
    return S.contiguous(this)._takeData();
  }

  /** Internal: disposes this (temporary) tensor, returning its storage array. */
  _takeData(): TypedArray {
    const d = this._storage.data;
    if (this._storage.refs !== 1 || this._disposed)
      return d.slice(this.offset, this.offset + this.size);
    this._disposed = true;
    unregister(this);
    tensorReleased();
    forgetStorage(this._storage);
    if (this._ownedRoots !== null) {
      const sets = this._ownedRoots;
      this._ownedRoots = null;
      rootsDisposed(this, sets);
    }
    return d;
  }

  /** Frees the storage now (views keep it alive until they go too), and .grad with it. Idempotent. */
  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    unregister(this);
    tensorReleased();
    releaseStorage(this._storage);
    if (this._ownedRoots !== null) {
      const sets = this._ownedRoots;
      this._ownedRoots = null;
      rootsDisposed(this, sets);
    }
    this._node = null;
    if (this.grad !== null) {
      this.grad.dispose();
      this.grad = null;
    }
  }

  // ---- reading values ----

  /** A copy of the values in row-major order: Int32Array for int32, Float32Array otherwise. */
  toArray(): Float32Array | Int32Array {
    const d = this._contiguousData();
    // slice() is a memcpy; TypedArray.from would walk an iterator element by element.
    if (this.dtype === "int32") return (d as Int32Array).slice();
    if (isStorageOnly(this.dtype)) return decode(d, this.dtype, new Float32Array(this.size));
    return (d as Float32Array).slice();
  }
  /** Alias of toArray() (tfjs's name). */
  dataSync(): Float32Array | Int32Array {
    return this.toArray();
  }
  /** Nested JS arrays (a number for a 0-d tensor). */
  tolist(): NestedArray {
    const flat = this.toArray();
    if (this.ndim === 0) return flat[0];
    const build = (dim: number, off: number): NestedArray[] => {
      const out: NestedArray[] = [];
      const step = this.shape.slice(dim + 1).reduce((a, b) => a * b, 1);
      for (let i = 0; i < this.shape[dim]; i++)
        out.push(dim === this.ndim - 1 ? flat[off + i] : build(dim + 1, off + i * step));
      return out;
    };
    return build(0, 0);
  }
  /** The value of a one-element tensor. */
  item(): number {
    this._check("item");
    if (this.size !== 1)
      throw new Error(
        `item(): only one-element tensors can be converted to a number; shape is [${this.shape.join(", ")}]`,
      );
    const v = this._storage.data[this.offset];
    return this.dtype === "float32" || this.dtype === "int32"
      ? v
      : decode(
          this._storage.data.subarray(this.offset, this.offset + 1),
          this.dtype,
          new Float32Array(1),
        )[0];
  }
  get nbytes(): number {
    return this.size * bytesPer(this.dtype);
  }

  // ---- autograd ----

  /** Sets requiresGrad on a leaf; returns this. */
  requiresGrad_(on = true): this {
    if (this._node !== null && !on)
      throw new Error(
        "requiresGrad_(false): only leaf tensors can change requiresGrad; use detach()",
      );
    this.requiresGrad = on;
    return this;
  }
  /** Keep .grad on this non-leaf tensor during backward. */
  retainGrad(): this {
    this._retainGrad = true;
    return this;
  }
  /**
   * Runs fn on this tensor's gradient when backward computes it (before it flows further back or
   * into .grad); returning a Tensor of the same shape replaces the gradient, as PyTorch's
   * register_hook. Returns the remover.
   */
  registerHook(fn: (grad: Tensor) => Tensor | void): () => void {
    this._check("registerHook");
    if (typeof fn !== "function") throw new TypeError("registerHook: fn must be a function");
    if (!this.requiresGrad)
      throw new Error("registerHook: the tensor does not require grad, so no gradient reaches it");
    (this._gradHooks ??= []).push(fn);
    return () => {
      const l = this._gradHooks;
      const i = l ? l.indexOf(fn) : -1;
      if (l && i >= 0) l.splice(i, 1);
      if (l && l.length === 0) this._gradHooks = null;
    };
  }
  /** Backpropagates from this tensor (a scalar, or pass a gradient of the same shape). */
  backward(gradient?: Tensor, opts?: BackwardOptions): void {
    this._check("backward");
    if (gradient !== undefined && !(gradient instanceof Tensor))
      throw new TypeError(
        "backward(gradient?, opts?): gradient must be a Tensor (pass undefined to use 1 for a scalar)",
      );
    runBackward(this, gradient, opts);
  }
  /** A view sharing storage that is cut off from the graph. */
  detach(): Tensor {
    return this._view(this.shape, this.strides, this.offset);
  }
  /** Disposes and clears .grad. */
  zeroGrad(): void {
    if (this.grad !== null) this.grad.dispose();
    this.grad = null;
  }

  // ---- conversion ----
  /** Converts dtype (copy; same tensor when already that dtype). */
  to(dtype: DType): Tensor {
    return E.cast(this, dtype);
  }
  float(): Tensor {
    return E.cast(this, "float32");
  }
  int(): Tensor {
    return E.cast(this, "int32");
  }
  clone(): Tensor {
    return S.clone(this);
  }
  contiguous(): Tensor {
    return S.contiguous(this);
  }

  // ---- elementwise ----
  add(other: Tensor | number, alpha?: number): Tensor {
    return E.add(this, other, alpha);
  }
  sub(other: Tensor | number, alpha?: number): Tensor {
    return E.sub(this, other, alpha);
  }
  mul(other: Tensor | number): Tensor {
    return E.mul(this, other);
  }
  div(other: Tensor | number): Tensor {
    return E.div(this, other);
  }
  pow(exponent: Tensor | number): Tensor {
    return E.pow(this, exponent);
  }
  maximum(other: Tensor | number): Tensor {
    return E.maximum(this, other);
  }
  minimum(other: Tensor | number): Tensor {
    return E.minimum(this, other);
  }
  eq(other: Tensor | number): Tensor {
    return E.eq(this, other);
  }
  ne(other: Tensor | number): Tensor {
    return E.ne(this, other);
  }
  lt(other: Tensor | number): Tensor {
    return E.lt(this, other);
  }
  le(other: Tensor | number): Tensor {
    return E.le(this, other);
  }
  gt(other: Tensor | number): Tensor {
    return E.gt(this, other);
  }
  ge(other: Tensor | number): Tensor {
    return E.ge(this, other);
  }
  neg(): Tensor {
    return E.neg(this);
  }
  exp(): Tensor {
    return E.exp(this);
  }
  log(): Tensor {
    return E.log(this);
  }
  sqrt(): Tensor {
    return E.sqrt(this);
  }
  rsqrt(): Tensor {
    return E.rsqrt(this);
  }
  abs(): Tensor {
    return E.abs(this);
  }
  sigmoid(): Tensor {
    return E.sigmoid(this);
  }
  silu(): Tensor {
    return E.silu(this);
  }
  tanh(): Tensor {
    return E.tanh(this);
  }
  relu(): Tensor {
    return E.relu(this);
  }
  square(): Tensor {
    return E.mul(this, this);
  }
  clamp(min?: number | null, max?: number | null): Tensor {
    return E.clamp(this, min, max);
  }

  // ---- in place (optimizer state; not differentiable) ----
  /** this += alpha * other */
  add_(other: Tensor | number, alpha = 1): this {
    E.inplace(this, "add_", other, alpha);
    return this;
  }
  /** this -= alpha * other */
  sub_(other: Tensor | number, alpha = 1): this {
    E.inplace(this, "add_", other, -alpha);
    return this;
  }
  /** this *= other */
  mul_(other: Tensor | number): this {
    E.inplace(this, "mul_", other, 1);
    return this;
  }
  /** this /= other */
  div_(other: Tensor | number): this {
    E.inplace(this, "div_", other, 1);
    return this;
  }
  /** this += value * a * b */
  addcmul_(a: Tensor, b: Tensor, value = 1): this {
    E.addcmulInPlace(this, a, b, value, false);
    return this;
  }
  /** this += value * a / b */
  addcdiv_(a: Tensor, b: Tensor, value = 1): this {
    E.addcmulInPlace(this, a, b, value, true);
    return this;
  }
  /** this = other (broadcast) */
  copy_(other: Tensor | number): this {
    E.inplace(this, "copy_", other, 1);
    return this;
  }
  fill_(value: number): this {
    E.inplace(this, "copy_", value, 1);
    return this;
  }
  zero_(): this {
    E.inplace(this, "copy_", 0, 1);
    return this;
  }
  clamp_(min?: number | null, max?: number | null): this {
    E.clampInPlace(this, min, max);
    return this;
  }

  // ---- reductions ----
  sum(dim?: number | number[] | null, keepdim = false): Tensor {
    return R.sum(this, dim, keepdim);
  }
  mean(dim?: number | number[] | null, keepdim = false): Tensor {
    return R.mean(this, dim, keepdim);
  }
  /** Max over all elements, or over dim (values only; see argmax for indices). */
  max(dim?: number | null, keepdim = false): Tensor {
    return R.max(this, dim, keepdim);
  }
  min(dim?: number | null, keepdim = false): Tensor {
    return R.min(this, dim, keepdim);
  }
  argmax(dim?: number | null, keepdim = false): Tensor {
    return R.argmax(this, dim, keepdim);
  }
  argmin(dim?: number | null, keepdim = false): Tensor {
    return R.argmin(this, dim, keepdim);
  }
  topk(k: number, dim = -1, largest = true): { values: Tensor; indices: Tensor } {
    return R.topk(this, k, dim, largest);
  }
  sort(dim = -1, descending = false): { values: Tensor; indices: Tensor } {
    return R.sort(this, dim, descending);
  }
  argsort(dim = -1, descending = false): Tensor {
    return R.argsort(this, dim, descending);
  }
  cumsum(dim: number): Tensor {
    return R.cumsum(this, dim);
  }
  bincount(minlength = 0): Tensor {
    return R.bincount(this, minlength);
  }

  // ---- shape ----
  reshape(...shape: (number | number[])[]): Tensor {
    return S.reshape(this, S.shapeArg(shape));
  }
  view(...shape: (number | number[])[]): Tensor {
    return S.view(this, S.shapeArg(shape));
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return S.flatten(this, startDim, endDim);
  }
  squeeze(dim?: number): Tensor {
    return S.squeeze(this, dim);
  }
  unsqueeze(dim: number): Tensor {
    return S.unsqueeze(this, dim);
  }
  expand(...shape: (number | number[])[]): Tensor {
    return S.expand(this, S.shapeArg(shape));
  }
  transpose(dim0 = -2, dim1 = -1): Tensor {
    return S.transpose(this, dim0, dim1);
  }
  /** Transpose of the last two dims (a view). */
  get mT(): Tensor {
    return S.transpose(this, -2, -1);
  }
  /** Transpose of a 2-D tensor (a view). */
  get T(): Tensor {
    return S.transpose(this, 0, -1);
  }
  permute(...dims: (number | number[])[]): Tensor {
    return S.permute(this, S.shapeArg(dims));
  }
  /** Elements start..end (exclusive, negatives count from the end) along dim, with step. */
  slice(dim: number, start?: number | null, end?: number | null, step = 1): Tensor {
    return S.slice(this, dim, start, end, step);
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return S.slice(this, dim, start, start + length, 1);
  }
  /** Index the first dim (like t[i]); a view. */
  select(dim: number, index: number): Tensor {
    return S.select(this, dim, index);
  }
  split(sizeOrSections: number | number[], dim = 0): Tensor[] {
    return S.split(this, sizeOrSections, dim);
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    return S.chunk(this, chunks, dim);
  }
  tril(diagonal = 0): Tensor {
    return S.tril(this, diagonal);
  }
  triu(diagonal = 0): Tensor {
    return S.triu(this, diagonal);
  }

  // ---- indexing ----
  gather(dim: number, index: Tensor): Tensor {
    return I.gather(this, dim, index);
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return I.indexSelect(this, dim, index);
  }
  indexAdd(dim: number, index: Tensor, src: Tensor): Tensor {
    return I.indexAdd(this, dim, index, src);
  }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor {
    return I.scatterAdd(this, dim, index, src);
  }
  maskedFill(mask: Tensor, value: number): Tensor {
    return I.maskedFill(this, mask, value);
  }
  oneHot(numClasses: number): Tensor {
    return I.oneHot(this, numClasses);
  }

  // ---- linear algebra and nn ----
  matmul(other: Tensor): Tensor {
    return M.matmul(this, other);
  }
  bmm(other: Tensor): Tensor {
    return M.bmm(this, other);
  }
  softmax(dim = -1): Tensor {
    return N.softmax(this, dim);
  }
  logSoftmax(dim = -1): Tensor {
    return N.logSoftmax(this, dim);
  }

  // ---- display ----
  toString(): string {
    return D.formatTensor(this);
  }
  [Symbol.for("Jupyter.display")](): Record<string, string> {
    return D.mimeBundle(this);
  }
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return D.formatTensor(this);
  }

  // ---- interop ----
  /**
   * A tfjs tensor with the same values. Pass the tfjs module (`import * as tf from
   * "@tensorflow/tfjs"`), or omit it to use whichever of tfjs-node-gpu, tfjs-node, tfjs is installed.
   */
  toTf(tf?: TfLike): unknown {
    const mod = tf ?? findTf();
    const make = mod.tensor as unknown as (
      v: Float32Array | Int32Array,
      s: number[],
      d: string,
    ) => unknown;
    return make(this.toArray(), [...this.shape], this.dtype === "int32" ? "int32" : "float32");
  }
  /** A moelab tensor from a tfjs tensor (duck-typed: shape, dtype, dataSync()). */
  static fromTf(t: TfTensorLike): Tensor {
    if (
      t === null ||
      typeof t !== "object" ||
      !Array.isArray(t.shape) ||
      typeof t.dataSync !== "function"
    )
      throw new TypeError("Tensor.fromTf(t): expected a tfjs tensor (with shape and dataSync())");
    const dtype: DType = t.dtype === "int32" || t.dtype === "bool" ? "int32" : "float32";
    const vals = t.dataSync();
    const out = Tensor._empty(dtype, [...t.shape]);
    const d = out._storage.data;
    for (let i = 0; i < d.length; i++) d[i] = Number(vals[i]);
    return out;
  }
}

/** The part of the tfjs module toTf() uses. */
export interface TfLike {
  /** tf.tensor(values, shape, dtype); typed loosely so any tfjs version's module fits. */
  tensor: (...args: never[]) => unknown;
}
/** The part of a tfjs tensor fromTf() reads. */
export interface TfTensorLike {
  shape: number[];
  dtype: string;
  dataSync(): ArrayLike<number | boolean>;
}

/** tfjs is never a dependency of moelab: it is looked up at run time, only when asked for. */
function findTf(): TfLike {
  for (const name of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node", "@tensorflow/tfjs"]) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return require(name) as TfLike;
    } catch {
      // try the next one
    }
  }
  throw new Error(
    "toTf(): no TensorFlow.js package is installed (npm install @tensorflow/tfjs), or pass the tf module",
  );
}

export function isTensor(x: unknown): x is Tensor {
  return x instanceof Tensor;
}
