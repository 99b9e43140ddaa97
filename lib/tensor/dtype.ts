/**
 * Data types. `float32` and `int32` are compute types; `bfloat16` and the two FP8 formats are
 * storage types (codes in Uint16Array / Uint8Array) that ops decode to float32 first.
 *
 * Promotion (binary ops, where, cat): float32 with anything -> float32; int32 with int32 ->
 * int32, except `div` (true division) -> float32. A JS number scalar keeps an int32 tensor int32
 * when it is an integer, otherwise the result is float32. Storage types are decoded to float32.
 */
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

interface Fp8Format {
  table: Float32Array; // code -> value
  positives: { code: number; value: number }[]; // finite positive codes ascending
  overflow: number; // |x| at or above this (strictly above for e4m3) overflows
  strict: boolean;
  overflowCode: number; // code for +overflow (NaN for e4m3, Inf for e5m2)
}

function makeFp8(exp: number, man: number, e4m3: boolean): Fp8Format {
  const bias = (1 << (exp - 1)) - 1;
  const table = new Float32Array(256);
  for (let c = 0; c < 256; c++) {
    const s = c & 0x80 ? -1 : 1;
    const e = (c >> man) & ((1 << exp) - 1);
    const m = c & ((1 << man) - 1);
    let v: number;
    if (e4m3 && e === 15 && m === 7) v = NaN;
    else if (!e4m3 && e === 31) v = m === 0 ? Infinity : NaN;
    else if (e === 0) v = (m / (1 << man)) * 2 ** (1 - bias);
    else v = (1 + m / (1 << man)) * 2 ** (e - bias);
    table[c] = s * v;
  }
  const positives: { code: number; value: number }[] = [];
  for (let c = 0; c < 128; c++)
    if (Number.isFinite(table[c])) positives.push({ code: c, value: table[c] });
  return e4m3
    ? { table, positives, overflow: 464, strict: true, overflowCode: 0x7f }
    : { table, positives, overflow: 61440, strict: false, overflowCode: 0x7c };
}

const FP8: Record<string, Fp8Format> = {
  float8_e4m3fn: makeFp8(4, 3, true),
  float8_e5m2: makeFp8(5, 2, false),
};

/** float32 -> FP8 code, round to nearest even, no saturation (E4M3 overflow -> NaN, E5M2 -> Inf). */
export function f32ToFp8(x: number, dtype: "float8_e4m3fn" | "float8_e5m2"): number {
  const fmt = FP8[dtype];
  if (Number.isNaN(x)) return 0x7f;
  const sign = x < 0 || Object.is(x, -0) ? 0x80 : 0;
  const a = Math.abs(x);
  if (fmt.strict ? a > fmt.overflow : a >= fmt.overflow) return sign | fmt.overflowCode;
  const p = fmt.positives;
  let lo = 0;
  let hi = p.length - 1;
  if (a >= p[hi].value) return sign | p[hi].code;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (p[mid].value <= a) lo = mid;
    else hi = mid;
  }
  const dl = a - p[lo].value;
  const dh = p[hi].value - a;
  const pick = dl < dh ? lo : dh < dl ? hi : (p[lo].code & 1) === 0 ? lo : hi;
  return sign | p[pick].code;
}

export function fp8ToF32(code: number, dtype: "float8_e4m3fn" | "float8_e5m2"): number {
  return FP8[dtype].table[code & 0xff];
}

/** Decodes any storage to float32 (or copies int32/float32 as they are). */
export function decode(src: TypedArray, dtype: DType, out: Float32Array): Float32Array {
  if (dtype === "bfloat16") for (let i = 0; i < out.length; i++) out[i] = bf16ToF32(src[i]);
  else if (dtype === "float8_e4m3fn" || dtype === "float8_e5m2") {
    const t = FP8[dtype].table;
    for (let i = 0; i < out.length; i++) out[i] = t[src[i]];
  } else for (let i = 0; i < out.length; i++) out[i] = src[i];
  return out;
}

/** Encodes float values into the storage of `dtype`. */
export function encode(src: ArrayLike<number>, dtype: DType, out: TypedArray): TypedArray {
  const n = out.length;
  if (dtype === "bfloat16") for (let i = 0; i < n; i++) out[i] = f32ToBf16(src[i]);
  else if (dtype === "float8_e4m3fn" || dtype === "float8_e5m2")
    for (let i = 0; i < n; i++) out[i] = f32ToFp8(src[i], dtype);
  else if (dtype === "int32") for (let i = 0; i < n; i++) out[i] = Math.trunc(src[i]);
  else for (let i = 0; i < n; i++) out[i] = src[i];
  return out;
}
