/**
 * The FP8 codec: the two 8-bit floating-point formats of FP8 training, bit-exact with CUDA's conversions
 * (`__nv_cvt_float_to_fp8` in CUDA 13's `cuda_fp8.hpp`, host path).
 *
 * - `e4m3` is the `fn` variant (torch.float8_e4m3fn): sign, 4 exponent bits (bias 7), 3 mantissa
 *   bits, no infinities, NaN only at S.1111.111, max finite 448, min normal 2^-6, min subnormal 2^-9.
 * - `e5m2` is IEEE-like: 5 exponent bits (bias 15), 2 mantissa bits, ±Inf at S.11111.00, NaN at
 *   S.11111.{01,10,11}, max finite 57344, min normal 2^-14, min subnormal 2^-16.
 *
 * Encoding rules (both formats, exactly as CUDA's host conversion):
 * - round to nearest, ties to even mantissa;
 * - |x| <= min subnormal / 2 becomes a zero carrying x's sign;
 * - any float NaN becomes 0x7F (positive sign) in both formats;
 * - overflow: |x| > 464 (e4m3) or |x| >= 61440 (e5m2), ±Inf included, becomes ±max finite with
 *   `saturate: true` (CUDA's __NV_SATFINITE, the default here and in DeepSeek's kernels), and
 *   ±NaN 0x7F|sign (e4m3) or ±Inf (e5m2) with `saturate: false` (__NV_NOSAT);
 *   |x| in (448, 464] rounds to 448 in both modes (464 is the tie, and 448's mantissa is even).
 */

export type Fp8Format = "e4m3" | "e5m2";

/** Constants of one format; float32-bit thresholds drive the encoder. */
export interface Fp8Spec {
  readonly name: Fp8Format;
  readonly expBits: number;
  readonly manBits: number;
  readonly bias: number;
  readonly hasInf: boolean;
  /** Largest finite value (448 or 57344). */
  readonly max: number;
  /** Code of +max (0x7E or 0x7B). */
  readonly maxCode: number;
  readonly minNormal: number;
  readonly minSubnormal: number;
  /** Code a float NaN converts to (0x7F in both formats). */
  readonly nanCode: number;
  /** Code of +Inf (e5m2), or of the overflow NaN (e4m3), for non-saturating conversion. */
  readonly overflowCode: number;
}

export const E4M3: Fp8Spec = Object.freeze({
  name: "e4m3",
  expBits: 4,
  manBits: 3,
  bias: 7,
  hasInf: false,
  max: 448,
  maxCode: 0x7e,
  minNormal: 2 ** -6,
  minSubnormal: 2 ** -9,
  nanCode: 0x7f,
  overflowCode: 0x7f,
});

export const E5M2: Fp8Spec = Object.freeze({
  name: "e5m2",
  expBits: 5,
  manBits: 2,
  bias: 15,
  hasInf: true,
  max: 57344,
  maxCode: 0x7b,
  minNormal: 2 ** -14,
  minSubnormal: 2 ** -16,
  nanCode: 0x7f,
  overflowCode: 0x7c,
});

/** Returns the spec of a format, with a clear error for anything else. */
export function spec(format: Fp8Format): Fp8Spec {
  if (format === "e4m3") return E4M3;
  if (format === "e5m2") return E5M2;
  throw new TypeError(`fp8: unknown format ${JSON.stringify(format)}; expected "e4m3" or "e5m2"`);
}

/** Float32 bit patterns of the encoder's thresholds, per format. */
interface BitThresholds {
  /** |x| bits <= this become zero (min subnormal / 2). */
  zeroMax: number;
  /** |x| bits > this overflow. */
  overflowAbove: number;
  /** |x| bits >= this are encoded as normals. */
  normalMin: number;
  /** Exponent rebias, already shifted into code position. */
  rebias: number;
  /** 23 - manBits: how many float mantissa bits are rounded off for normals. */
  shift: number;
  /** Subnormal shift is this minus the float's biased exponent. */
  subShiftBase: number;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function bitsOf(x: number): number {
  f32[0] = x;
  return u32[0];
}

function thresholds(s: Fp8Spec): BitThresholds {
  return {
    zeroMax: bitsOf(s.minSubnormal / 2),
    // e4m3: the tie 464 rounds to 448 (even mantissa); e5m2: the tie 61440 rounds away from 57344
    // (odd mantissa), so it overflows (CUDA's "threshold - 1").
    overflowAbove: s.name === "e4m3" ? bitsOf(464) : bitsOf(61440) - 1,
    normalMin: bitsOf(s.minNormal),
    rebias: (127 - s.bias) << s.manBits,
    shift: 23 - s.manBits,
    subShiftBase: 151 - s.bias - s.manBits,
  };
}

const TH: Record<Fp8Format, BitThresholds> = { e4m3: thresholds(E4M3), e5m2: thresholds(E5M2) };

/**
 * Encodes float32 bit patterns `bits[from, to)` into `out` starting at `outFrom`. Shared by
 * the tensor dtypes, fp8.encode and the scaled quantizers.
 */
export function encodeBits(
  bits: Int32Array | Uint32Array,
  from: number,
  to: number,
  out: Uint8Array,
  outFrom: number,
  format: Fp8Format,
  saturate: boolean,
): void {
  const s = spec(format);
  const t = TH[format];
  const { zeroMax, overflowAbove, normalMin, rebias, shift, subShiftBase } = t;
  const half = (1 << (shift - 1)) - 1;
  const ovf = saturate ? s.maxCode : s.overflowCode;
  for (let i = from, o = outFrom; i < to; i++, o++) {
    const b = bits[i];
    const a = b & 0x7fffffff;
    const sign = (b >>> 24) & 0x80;
    let code: number;
    if (a > 0x7f800000) {
      out[o] = s.nanCode; // canonical NaN, sign dropped (CUDA canonicalises first)
      continue;
    } else if (a <= zeroMax) code = 0;
    else if (a > overflowAbove) code = ovf;
    else if (a >= normalMin) {
      // round-to-nearest-even on the dropped bits; a carry moves into the exponent naturally
      code = ((a + half + ((a >>> shift) & 1)) >>> shift) - rebias;
    } else {
      // subnormal: shift the full significand (implicit bit included) into code position
      const m = (a & 0x7fffff) | 0x800000;
      const sh = subShiftBase - (a >>> 23);
      code = (m + (1 << (sh - 1)) - 1 + ((m >>> sh) & 1)) >>> sh;
    }
    out[o] = code | sign;
  }
}

/** Exact value of one code, computed from its bit fields. */
export function valueOfCode(code: number, s: Fp8Spec): number {
  const sign = code & 0x80 ? -1 : 1;
  const e = (code >> s.manBits) & ((1 << s.expBits) - 1);
  const m = code & ((1 << s.manBits) - 1);
  const eMax = (1 << s.expBits) - 1;
  if (s.hasInf && e === eMax) return m === 0 ? sign * Infinity : NaN;
  if (!s.hasInf && e === eMax && m === (1 << s.manBits) - 1) return NaN;
  if (e === 0) return sign * m * 2 ** (1 - s.bias - s.manBits);
  return sign * (1 + m / (1 << s.manBits)) * 2 ** (e - s.bias);
}

const LUT: Partial<Record<Fp8Format, Float32Array>> = {};

/** The 256 decoded values of a format, indexed by code (shared: do not modify). */
export function decodeTable(format: Fp8Format): Float32Array {
  let t = LUT[format];
  if (!t) {
    const s = spec(format);
    t = new Float32Array(256);
    for (let c = 0; c < 256; c++) t[c] = valueOfCode(c, s);
    LUT[format] = t;
  }
  return t;
}
