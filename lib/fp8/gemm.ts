/**
 * Block-scaled FP8 GEMM with DeepSeek-V3's semantics (reference kernel.py `fp8_gemm`, report §3.3.2):
 *
 *   C[m, n] = Σ_kb  P_kb[m, n] · (a_s[m, kb] · b_s[n, kb])        accumulated in FP32
 *   P_kb[m, n] = Σ_{k in K-block kb (128 wide)} A_q[m, k] · B_q[n, k]   summed in FP32 from 0
 *
 * with A [M, K] and B [N, K] (a Linear's weight layout), so C = A · Bᵀ [M, N]. The in-block sum is
 * the tensor cores' work; adding it, scaled, into the FP32 accumulator every 128 elements is the
 * "promotion" that keeps FP8 GEMMs accurate. `accumBits` emulates a tensor core that keeps fewer
 * mantissa bits: after every `accumChunk` (32) products the in-block partial sum is rounded to
 * that many mantissa bits (Hopper keeps about 13-14; 23 = FP32 = no rounding).
 *
 * Products of two FP8 values are exact in FP32, so the in-block sums of the native and the
 * TypeScript paths are bit-identical; only the FP32 accumulation of scaled blocks may differ in
 * the last bit (the native path uses fused multiply-add).
 */
import { decodeTable, describe, type Fp8Format } from "./format.js";
import { checkDim, Fp8Matrix } from "./fp8matrix.js";
import { FORMAT_ID, fp8Native } from "./native.js";
import { AMAX_FLOOR, quantizeTiles, TILE } from "./scaling.js";

/** K-block of the promotion / scale granularity. */
export const BLOCK_K = 128;

export interface GemmOptions {
  /** Mantissa bits the in-block partial sum keeps after each chunk (1..23; 23 = FP32, the default). */
  accumBits?: number;
  /** Products per chunk before the partial sum is rounded (default 32, one Hopper WGMMA of K). */
  accumChunk?: number;
  /** How the partial sum is rounded: "truncate" (toward zero, the default) or "nearest" (ties to even). */
  accumRounding?: "truncate" | "nearest";
  /** "auto" (native when built, the default), "native" or "ts". */
  backend?: "auto" | "native" | "ts";
  /** Output buffer [M, N] to overwrite (saves allocating one per call). */
  out?: Float32Array;
}

interface Checked {
  m: number;
  n: number;
  k: number;
  bits: number;
  chunk: number;
  nearest: boolean;
}

/** Validates operands and options; errors name what is wrong. */
export function checkGemm(a: Fp8Matrix, b: Fp8Matrix, opts: GemmOptions): Checked {
  if (!(a instanceof Fp8Matrix))
    throw new TypeError(`fp8.gemm: a must be an Fp8Matrix, got ${describe(a)}`);
  if (!(b instanceof Fp8Matrix))
    throw new TypeError(`fp8.gemm: b must be an Fp8Matrix, got ${describe(b)}`);
  if (a.cols !== b.cols) {
    throw new RangeError(
      `fp8.gemm: inner dimensions differ: a is [${a.rows}, ${a.cols}] and b is [${b.rows}, ${b.cols}] ` +
        `(C = a · bᵀ needs a.cols === b.cols)`,
    );
  }
  const k = a.cols;
  for (const [name, x] of [
    ["a", a],
    ["b", b],
  ] as const) {
    const tc = x.layout.tile[1];
    if (x.layout.kind !== "tensor" && tc % BLOCK_K !== 0 && tc < k) {
      throw new RangeError(
        `fp8.gemm: operand ${name} has ${x.layout.tile[0]}x${tc} tiles, so its scale changes inside a ` +
          `${BLOCK_K}-wide K-block; quantize it along its inner dimension (1x128 tiles or 128x128 blocks) ` +
          `or transpose() a 128x1-tiled matrix first`,
      );
    }
  }
  const bits = opts.accumBits ?? 23;
  if (!Number.isInteger(bits) || bits < 1 || bits > 23) {
    throw new RangeError(
      `fp8.gemm: accumBits must be an integer in 1..23, got ${String(opts.accumBits)}`,
    );
  }
  const chunk = opts.accumChunk ?? 32;
  if (!Number.isInteger(chunk) || chunk < 1) {
    throw new RangeError(
      `fp8.gemm: accumChunk must be a positive integer, got ${String(opts.accumChunk)}`,
    );
  }
  const rounding = opts.accumRounding ?? "truncate";
  if (rounding !== "truncate" && rounding !== "nearest") {
    throw new TypeError(
      `fp8.gemm: accumRounding must be "truncate" or "nearest", got ${JSON.stringify(rounding)}`,
    );
  }
  const out = opts.out;
  if (out !== undefined) {
    if (!(out instanceof Float32Array))
      throw new TypeError(`fp8.gemm: out must be a Float32Array, got ${describe(out)}`);
    if (out.length !== a.rows * b.rows) {
      throw new RangeError(
        `fp8.gemm: out has ${out.length} elements, expected ${a.rows}x${b.rows}`,
      );
    }
  }
  return { m: a.rows, n: b.rows, k, bits, chunk, nearest: rounding === "nearest" };
}

/** C = a · bᵀ [a.rows, b.rows] in FP32 with block-scaled FP8 semantics (native when built). */
export function gemm(a: Fp8Matrix, b: Fp8Matrix, opts: GemmOptions = {}): Float32Array {
  const c = checkGemm(a, b, opts);
  const backend = opts.backend ?? "auto";
  const nat = backend === "ts" ? null : fp8Native();
  if (backend === "native" && !nat)
    throw new Error("fp8.gemm: the native addon is not built (backend: native)");
  if (!nat) return gemmReference(a, b, opts);
  const [atr, atc] = tileOf(a);
  const [btr, btc] = tileOf(b);
  return nat.fp8Gemm(
    a.codes,
    a.scales,
    atr,
    atc,
    FORMAT_ID[a.format],
    b.codes,
    b.scales,
    btr,
    btc,
    FORMAT_ID[b.format],
    c.m,
    c.n,
    c.k,
    c.bits,
    c.chunk,
    c.nearest,
    opts.out,
  );
}

function tileOf(x: Fp8Matrix): [number, number] {
  // a tensor layout is one tile as large as the matrix (at least 1x1 for empty matrices)
  return x.layout.kind === "tensor"
    ? [Math.max(x.rows, 1), Math.max(x.cols, 1)]
    : [x.layout.tile[0], x.layout.tile[1]];
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Rounds a float32 to `bits` mantissa bits (toward zero, or to nearest-even). */
export function roundMantissa(x: number, bits: number, nearest = false): number {
  if (bits >= 23) return Math.fround(x);
  f32[0] = x;
  const sh = 23 - bits;
  let b = u32[0];
  if ((b & 0x7f800000) === 0x7f800000) return f32[0];
  if (nearest) b = b + ((1 << (sh - 1)) - 1) + ((b >>> sh) & 1);
  u32[0] = (b >>> sh) << sh;
  return f32[0];
}

/** The TypeScript reference of {@link gemm} (plain loops, FP32 arithmetic via Math.fround). */
export function gemmReference(a: Fp8Matrix, b: Fp8Matrix, opts: GemmOptions = {}): Float32Array {
  const { m, n, k, bits, chunk, nearest } = checkGemm(a, b, opts);
  const la = decodeTable(a.format);
  const lb = decodeTable(b.format);
  const [atr, atc] = tileOf(a);
  const [btr, btc] = tileOf(b);
  const asc = Math.ceil(k / atc);
  const bsc = Math.ceil(k / btc);
  const out = opts.out ?? new Float32Array(m * n);
  const fr = Math.fround;
  const limited = bits < 23;
  for (let i = 0; i < m; i++) {
    const ao = i * k;
    const arow = Math.floor(i / atr) * asc;
    for (let j = 0; j < n; j++) {
      const bo = j * k;
      const brow = Math.floor(j / btr) * bsc;
      let acc = 0;
      for (let k0 = 0; k0 < k; k0 += BLOCK_K) {
        const k1 = Math.min(k, k0 + BLOCK_K);
        let p = 0;
        for (let kk = k0; kk < k1; kk++) {
          p = fr(p + la[a.codes[ao + kk]] * lb[b.codes[bo + kk]]);
          if (limited && ((kk - k0 + 1) % chunk === 0 || kk === k1 - 1))
            p = roundMantissa(p, bits, nearest);
        }
        const s = fr(a.scales[arow + Math.floor(k0 / atc)] * b.scales[brow + Math.floor(k0 / btc)]);
        acc = fr(acc + p * s);
      }
      out[i * n + j] = acc;
    }
  }
  return out;
}

export interface QuantizedGemmOptions extends GemmOptions {
  /** Format of the quantized activations (default "e4m3"). */
  format?: Fp8Format;
  /** Power-of-two (ue8m0) activation scales. Default false. */
  pow2Scale?: boolean;
  /** Floor on each tile's amax. Default 1e-4. */
  amaxFloor?: number;
  /** NaN/±Inf in x: "propagate" (default) or "throw" (after the product is written). */
  nonFinite?: "propagate" | "throw";
  /** A 1x128-tiled [m, b.cols] matrix whose codes and scales are overwritten and returned as `a`. */
  into?: Fp8Matrix;
}

export interface QuantizedGemmResult {
  /** C = a · bᵀ [m, b.rows]. */
  c: Float32Array;
  /** x quantized in 1x128 tiles, exactly as quantizeTiles(x, m, b.cols) gives it. */
  a: Fp8Matrix;
}

/**
 * A Linear's forward in FP8: quantizes activations x [m, b.cols] in 1x128 tiles and multiplies,
 * C = a · bᵀ. Bit for bit `gemm(quantizeTiles(x, m, b.cols, opts), b, opts)`, but the native
 * path quantizes each tile while packing it for the GEMM (one pass over x instead of three).
 */
export function gemmQuantized(
  x: Float32Array,
  m: number,
  b: Fp8Matrix,
  opts: QuantizedGemmOptions = {},
): QuantizedGemmResult {
  if (!(x instanceof Float32Array))
    throw new TypeError(`fp8.gemmQuantized: x must be a Float32Array, got ${describe(x)}`);
  if (!(b instanceof Fp8Matrix))
    throw new TypeError(`fp8.gemmQuantized: b must be an Fp8Matrix, got ${describe(b)}`);
  checkDim("m", m);
  const k = b.cols;
  if (x.length !== m * k) {
    throw new RangeError(
      `fp8.gemmQuantized: x has ${x.length} elements, expected m*b.cols = ${m}*${k}`,
    );
  }
  const backend = opts.backend ?? "auto";
  const nat = backend === "ts" ? null : fp8Native();
  const qopts = {
    format: opts.format,
    pow2Scale: opts.pow2Scale,
    amaxFloor: opts.amaxFloor,
    nonFinite: opts.nonFinite,
    backend,
    into: opts.into,
  };
  if (!nat?.fp8QuantizeGemm || m * k === 0) {
    if (backend === "native" && !nat?.fp8QuantizeGemm)
      throw new Error("fp8.gemmQuantized: the native addon is not built (backend: native)");
    const a = quantizeTiles(x, m, k, qopts);
    return { c: gemm(a, b, opts), a };
  }
  const format = opts.format ?? "e4m3";
  const pow2 = opts.pow2Scale ?? false;
  const floor = opts.amaxFloor ?? AMAX_FLOOR;
  if (!(floor > 0 && floor < Infinity))
    throw new RangeError(`fp8.gemmQuantized: amaxFloor must be positive and finite, got ${floor}`);
  const nonFinite = opts.nonFinite ?? "propagate";
  if (nonFinite !== "propagate" && nonFinite !== "throw") {
    throw new TypeError(
      `fp8.gemmQuantized: nonFinite must be "propagate" or "throw", got ${JSON.stringify(nonFinite)}`,
    );
  }
  let a = opts.into;
  if (a !== undefined) {
    if (!(a instanceof Fp8Matrix))
      throw new TypeError(`fp8.gemmQuantized: into must be an Fp8Matrix, got ${describe(a)}`);
    if (
      a.rows !== m ||
      a.cols !== k ||
      a.format !== format ||
      a.layout.kind !== "tile" ||
      a.layout.tile[0] !== 1 ||
      a.layout.tile[1] !== TILE ||
      a.pow2Scale !== pow2
    ) {
      throw new RangeError(
        `fp8.gemmQuantized: into is ${a.toString()}, expected e4m3/e5m2 [${m}, ${k}] in 1x${TILE} tiles ` +
          `with format ${format} and pow2Scale ${pow2}`,
      );
    }
  } else {
    a = new Fp8Matrix({
      codes: new Uint8Array(m * k),
      scales: new Float32Array(m * Math.ceil(k / TILE)).fill(1), // placeholders until quantized
      rows: m,
      cols: k,
      layout: { kind: "tile", tile: [1, TILE] },
      format,
      pow2Scale: pow2,
    });
  }
  const c = checkGemm(a, b, opts);
  const [btr, btc] = tileOf(b);
  const out = opts.out ?? new Float32Array(c.m * c.n);
  const bad = nat.fp8QuantizeGemm(
    x,
    m,
    k,
    FORMAT_ID[format],
    pow2,
    floor,
    a.codes,
    a.scales,
    b.codes,
    b.scales,
    btr,
    btc,
    FORMAT_ID[b.format],
    c.n,
    c.bits,
    c.chunk,
    c.nearest,
    out,
  );
  if (bad > 0 && nonFinite === "throw") {
    throw new RangeError(`fp8.gemmQuantized: x has ${bad} NaN/Inf value(s) (nonFinite: "throw")`);
  }
  return { c: out, a };
}
