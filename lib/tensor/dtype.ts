/**
 * Data types. `float32` and `int32` are compute types; `bfloat16` and the two FP8 formats are
 * storage types (codes in Uint16Array / Uint8Array) that ops decode to float32 first.
 *
 * Promotion (binary ops, where, cat): float32 with anything -> float32; int32 with int32 ->
 * int32, except `div` (true division) -> float32. A JS number scalar keeps an int32 tensor int32
 * when it is an integer, otherwise the result is float32. Storage types are decoded to float32.
 */
import { decodeTable, encodeBits } from "./fp8codec.js";

export type DType = "float32" | "int32" | "bfloat16" | "float8_e4m3fn" | "float8_e5m2";
export type TypedArray = Float32Array | Int32Array | Uint16Array | Uint8Array;

export const DTYPES: readonly DType[] = [
  "float32",
  "int32",
  "bfloat16",
  "float8_e4m3fn",
  "float8_e5m2",
];

export function bytesPer(dtype: DType): number {
  return dtype === "float32" || dtype === "int32" ? 4 : dtype === "bfloat16" ? 2 : 1;
}

export function isStorageOnly(dtype: DType): boolean {
  return dtype !== "float32" && dtype !== "int32";
}

export function checkDType(dtype: unknown, where: string): DType {
  if (typeof dtype === "string" && (DTYPES as readonly string[]).includes(dtype))
    return dtype as DType;
  throw new TypeError(
    `${where}: unknown dtype ${JSON.stringify(dtype)} (expected one of ${DTYPES.join(", ")})`,
  );
}

export function newArray(dtype: DType, n: number): TypedArray {
  switch (dtype) {
    case "float32":
      return new Float32Array(n);
    case "int32":
      return new Int32Array(n);
    case "bfloat16":
      return new Uint16Array(n);
    default:
      return new Uint8Array(n);
  }
}

export function promote(a: DType, b: DType): DType {
  return a === "int32" && b === "int32" ? "int32" : "float32";
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 -> bfloat16 bits, round to nearest even; NaN stays a quiet NaN. */
export function f32ToBf16(x: number): number {
  f32[0] = x;
  const b = u32[0];
  if ((b & 0x7fffffff) > 0x7f800000) return ((b >>> 16) | 0x40) & 0xffff;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16ToF32(h: number): number {
  u32[0] = h << 16;
  return f32[0];
}

/** The FP8 codec format of a tensor dtype. */
const FORMAT = { float8_e4m3fn: "e4m3", float8_e5m2: "e5m2" } as const;
const bits1 = new Int32Array(f32.buffer);
const code1 = new Uint8Array(1);

/** float32 -> FP8 code, round to nearest even, no saturation (E4M3 overflow -> NaN, E5M2 -> Inf). */
export function f32ToFp8(x: number, dtype: "float8_e4m3fn" | "float8_e5m2"): number {
  f32[0] = x;
  encodeBits(bits1, 0, 1, code1, 0, FORMAT[dtype], false);
  return code1[0];
}

export function fp8ToF32(code: number, dtype: "float8_e4m3fn" | "float8_e5m2"): number {
  return decodeTable(FORMAT[dtype])[code & 0xff];
}

/** Decodes any storage to float32 (or copies int32/float32 as they are). */
export function decode(src: TypedArray, dtype: DType, out: Float32Array): Float32Array {
  if (dtype === "bfloat16") for (let i = 0; i < out.length; i++) out[i] = bf16ToF32(src[i]);
  else if (dtype === "float8_e4m3fn" || dtype === "float8_e5m2") {
    const t = decodeTable(FORMAT[dtype]);
    for (let i = 0; i < out.length; i++) out[i] = t[src[i]];
  } else for (let i = 0; i < out.length; i++) out[i] = src[i];
  return out;
}

/** Encodes float values into the storage of `dtype`. */
export function encode(src: ArrayLike<number>, dtype: DType, out: TypedArray): TypedArray {
  const n = out.length;
  if (dtype === "bfloat16") for (let i = 0; i < n; i++) out[i] = f32ToBf16(src[i]);
  else if (dtype === "float8_e4m3fn" || dtype === "float8_e5m2") {
    const x =
      src instanceof Float32Array ? src : Float32Array.from({ length: n }, (_, i) => src[i]);
    const bits = new Int32Array(x.buffer, x.byteOffset, n);
    encodeBits(bits, 0, n, out as Uint8Array, 0, FORMAT[dtype], false);
  } else if (dtype === "int32") {
    if (src instanceof Int32Array) (out as Int32Array).set(src);
    else for (let i = 0; i < n; i++) out[i] = Math.trunc(src[i]);
  } else if (ArrayBuffer.isView(src))
    (out as Float32Array).set(src as Float32Array); // a memcpy
  else for (let i = 0; i < n; i++) out[i] = src[i];
  return out;
}
