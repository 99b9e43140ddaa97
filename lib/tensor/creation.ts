/** Creating tensors: from JS data, constant fills, ranges, and seeded random draws. */
import { Tensor, NestedArray, Shape } from "./tensor.js";
import { DType, TypedArray, checkDType, encode, isStorageOnly } from "./dtype.js";
import { wrapStorage } from "./memory.js";
import { fillInt, fillNormal, fillUniform, streamFor } from "./random.js";
import { shapeStr } from "./ops/iter.js";

export interface CreateOptions {
  dtype?: DType;
  requiresGrad?: boolean;
}

function checkShape(shape: unknown, op: string): number[] {
  const s = typeof shape === "number" ? [shape] : shape;
  if (!Array.isArray(s) || s.some((d) => !Number.isInteger(d) || d < 0))
    throw new TypeError(
      `${op}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`,
    );
  return s.slice();
}

function finish(t: Tensor, opts: CreateOptions | undefined): Tensor {
  if (opts?.requiresGrad) {
    if (t.dtype !== "float32")
      throw new TypeError(`requiresGrad needs a float32 tensor, got ${t.dtype}`);
    t.requiresGrad = true;
  }
  return t;
}

function inferShape(data: NestedArray, op: string): number[] {
  const shape: number[] = [];
  let cur: NestedArray = data;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    if (cur.length === 0) break;
    cur = cur[0];
  }
  void op;
  return shape;
}

function flattenInto(
  data: NestedArray,
  shape: number[],
  dim: number,
  out: number[],
  path: number[],
): void {
  if (dim === shape.length) {
    if (Array.isArray(data))
      throw new Error(`tensor: ragged nested array at index [${path.join(", ")}]`);
    if (typeof data !== "number" && typeof data !== "boolean")
      throw new TypeError(
        `tensor: expected numbers, got ${typeof data} at index [${path.join(", ")}]`,
      );
    out.push(Number(data));
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[dim])
    throw new Error(
      `tensor: ragged nested array at index [${path.join(", ")}] (expected length ${shape[dim]}, got ${Array.isArray(data) ? data.length : "a number"})`,
    );
  for (let i = 0; i < data.length; i++) flattenInto(data[i], shape, dim + 1, out, [...path, i]);
}

/**
 * A tensor from a number, nested arrays, or a typed array (flat; give opts.shape).
 * dtype: opts.dtype, else int32 for Int32Array, else float32.
 */
export function tensor(
  data: NestedArray | TypedArray | number[],
  opts: CreateOptions & { shape?: number[] } = {},
): Tensor {
  let values: ArrayLike<number>;
  let shape: number[];
  let dtype: DType;
  if (ArrayBuffer.isView(data)) {
    values = data as TypedArray;
    dtype = opts.dtype ?? (data instanceof Int32Array ? "int32" : "float32");
    shape = opts.shape !== undefined ? checkShape(opts.shape, "tensor") : [values.length];
  } else {
    shape = inferShape(data as NestedArray, "tensor");
    const flat: number[] = [];
    flattenInto(data as NestedArray, shape, 0, flat, []);
    values = flat;
    dtype = opts.dtype ?? "float32";
    if (opts.shape !== undefined) shape = checkShape(opts.shape, "tensor");
  }
  dtype = checkDType(dtype, "tensor");
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== values.length)
    throw new Error(
      `tensor: ${values.length} values do not fill shape ${shapeStr(shape)} (${n} elements)`,
    );
  const t = Tensor._empty(dtype, shape);
  encode(values, dtype, t._storage.data);
  return finish(t, opts);
}
/** Alias of tensor(). */
export const fromArray = tensor;

/** Wraps raw storage codes (e.g. FP8 bytes) without converting or copying. */
export function fromStorage(data: TypedArray, shape: number[], dtype: DType): Tensor {
  checkDType(dtype, "fromStorage");
  const s = checkShape(shape, "fromStorage");
  const n = s.reduce((a, b) => a * b, 1);
  const expect =
    dtype === "float32"
      ? Float32Array
      : dtype === "int32"
        ? Int32Array
        : dtype === "bfloat16"
          ? Uint16Array
          : Uint8Array;
  if (!(data instanceof expect))
    throw new TypeError(
      `fromStorage: ${dtype} needs a ${expect.name}, got ${data.constructor.name}`,
    );
  if (data.length !== n)
    throw new Error(`fromStorage: ${data.length} values for shape ${shapeStr(s)} (${n} elements)`);
  return new Tensor(wrapStorage(data, dtype), s, null, 0);
}

export function full(shape: number[] | number, value: number, opts: CreateOptions = {}): Tensor {
  const s = checkShape(shape, "full");
  const dtype = checkDType(opts.dtype ?? "float32", "full");
  const t = Tensor._empty(dtype, s);
  if (isStorageOnly(dtype)) encode(new Float32Array(t.size).fill(value), dtype, t._storage.data);
  else t._storage.data.fill(value);
  return finish(t, opts);
}
export function zeros(shape: number[] | number, opts: CreateOptions = {}): Tensor {
  return full(shape, 0, opts);
}
export function ones(shape: number[] | number, opts: CreateOptions = {}): Tensor {
  return full(shape, 1, opts);
}
export function zerosLike(t: Tensor, opts: CreateOptions = {}): Tensor {
  return full(t.shape as number[], 0, { dtype: t.dtype, ...opts });
}
export function onesLike(t: Tensor, opts: CreateOptions = {}): Tensor {
  return full(t.shape as number[], 1, { dtype: t.dtype, ...opts });
}
export function fullLike(t: Tensor, value: number, opts: CreateOptions = {}): Tensor {
  return full(t.shape as number[], value, { dtype: t.dtype, ...opts });
}

/** Identity matrix [n, m]. */
export function eye(n: number, m = n, opts: CreateOptions = {}): Tensor {
  const t = zeros([n, m], opts);
  for (let i = 0; i < Math.min(n, m); i++) t._storage.data[i * m + i] = 1;
  return t;
}

/** start, start+step, ... < end (arange(n) = 0..n-1); int32 when all arguments are integers. */
export function arange(start: number, end?: number, step = 1, opts: CreateOptions = {}): Tensor {
  if (end === undefined) {
    end = start;
    start = 0;
  }
  if (step === 0 || !Number.isFinite(step))
    throw new RangeError(`arange: step must be a nonzero finite number`);
  const n = Math.max(0, Math.ceil((end - start) / step));
  const dtype =
    opts.dtype ??
    (Number.isInteger(start) && Number.isInteger(end) && Number.isInteger(step)
      ? "int32"
      : "float32");
  const t = Tensor._empty(checkDType(dtype, "arange"), [n]);
  for (let i = 0; i < n; i++) t._storage.data[i] = start + i * step;
  return finish(t, opts);
}

/** n evenly spaced values from start to end inclusive (float32). */
export function linspace(start: number, end: number, n: number, opts: CreateOptions = {}): Tensor {
  const t = Tensor._empty("float32", [n]);
  for (let i = 0; i < n; i++)
    t._storage.data[i] = n === 1 ? start : start + ((end - start) * i) / (n - 1);
  return finish(t, opts);
}

export interface RandomOptions extends CreateOptions {
  /** Same seed, same values (element i depends only on seed and i). Omit to use the global stream (see manualSeed). */
  seed?: number;
}

/** Standard normal samples (times std, plus mean). */
export function randn(
  shape: number[] | number,
  opts: RandomOptions & { mean?: number; std?: number } = {},
): Tensor {
  const s = checkShape(shape, "randn");
  const t = Tensor._empty("float32", s);
  fillNormal(
    t._storage.data as Float32Array,
    streamFor(opts.seed, t.size),
    opts.mean ?? 0,
    opts.std ?? 1,
  );
  return finish(t, opts);
}

/** Uniform samples in [low, high) (default [0, 1)). */
export function rand(
  shape: number[] | number,
  opts: RandomOptions & { low?: number; high?: number } = {},
): Tensor {
  const s = checkShape(shape, "rand");
  const t = Tensor._empty("float32", s);
  fillUniform(
    t._storage.data as Float32Array,
    streamFor(opts.seed, t.size),
    opts.low ?? 0,
    opts.high ?? 1,
  );
  return finish(t, opts);
}

/** Random int32 in [low, high). */
export function randint(
  low: number,
  high: number,
  shape: number[] | number,
  opts: RandomOptions = {},
): Tensor {
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low)
    throw new RangeError(`randint: need integers low < high, got ${low}, ${high}`);
  const s = checkShape(shape, "randint");
  const t = Tensor._empty("int32", s);
  fillInt(t._storage.data as Int32Array, streamFor(opts.seed, t.size), low, high);
  return t;
}

export type { Shape };
