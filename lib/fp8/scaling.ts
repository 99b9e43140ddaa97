/**
 * Fine-grained FP8 quantization as DeepSeek-V3 trains with it (reference inference/kernel.py,
 * `act_quant`; technical report §3.3), plus per-tensor scaling as the baseline.
 *
 * For every tile T of the [rows, cols] matrix x (row-major):
 *   amax  = max(max_{x in T, x finite} |x|, amaxFloor)     amaxFloor = 1e-4 as in the reference
 *   s     = amax / max_format (float32; 448 for e4m3)       with pow2Scale: s = 2^ceil(log2 s) (ue8m0)
 *   code  = encode(x / s, saturate)                        float32 division, as the reference
 * and value ≈ decode(code) * s. The floor is applied to amax, before dividing, so an all-zero tile
 * gets s = 1e-4 / 448 and all-zero codes (it dequantizes to exact zeros).
 *
 * Non-finite inputs (moelab's rule; the reference would turn the whole tile into NaN): the tile's
 * scale comes from its finite values only, and each NaN/±Inf element is converted without
 * saturation, so NaN stays NaN (0x7F), +Inf becomes 0x7F/0x7C and -Inf 0xFF/0xFC (e4m3: NaN,
 * e5m2: ±Inf) and the non-finite value survives dequantize where it was. With
 * `nonFinite: "throw"` such an input is an error instead.
 */
import { encodeBits, describe, spec, type Fp8Format } from "./format.js";
import { Fp8Matrix, checkDim, type Fp8Layout, type LayoutKind } from "./fp8matrix.js";
import { FORMAT_ID, fp8Native } from "./native.js";

/** DeepSeek's reference floor on a tile's amax. */
export const AMAX_FLOOR = 1e-4;
/** DeepSeek's tile / block edge. */
export const TILE = 128;

export interface QuantizeOptions {
  /** Default "e4m3" (DeepSeek-V3 uses E4M3 for every tensor). */
  format?: Fp8Format;
  /** Round each scale up to a power of two (ue8m0 scales). Default false. */
  pow2Scale?: boolean;
  /** Floor on each tile's amax before dividing. Default 1e-4; must be positive. */
  amaxFloor?: number;
  /** What to do with NaN/±Inf inputs: "propagate" (default, see the module comment) or "throw". */
  nonFinite?: "propagate" | "throw";
  /** "auto" (native when built, the default), "native" or "ts". */
  backend?: "auto" | "native" | "ts";
  /**
   * A matrix of the same shape, layout and format whose codes and scales buffers are overwritten
   * and returned (saves allocating them per call, e.g. once per training step).
   */
  into?: Fp8Matrix;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The smallest power of two >= s, for a positive normal float32 s (no Math.log: bits). */
export function roundUpPow2(s: number): number {
  f32[0] = s;
  const b = u32[0];
  if ((b & 0x7fffff) !== 0) u32[0] = (b & 0x7f800000) + 0x800000;
  return f32[0];
}

/** The float32 scale of one tile with the given amax (over finite values). */
export function scaleFor(
  amax: number,
  format: Fp8Format = "e4m3",
  pow2 = false,
  floor = AMAX_FLOOR,
): number {
  const a = Math.fround(Math.max(amax, Math.fround(floor)));
  const s = Math.fround(a / spec(format).max);
  return pow2 ? roundUpPow2(s) : s;
}

/**
 * Quantizes x [rows, cols] in tiles of `tile` [r, c] (`kind` says what the layout is for).
 * Tiles at the right and bottom edges may be partial; each has its own scale.
 */
export function quantize(
  x: Float32Array,
  rows: number,
  cols: number,
  layout: Fp8Layout,
  opts: QuantizeOptions = {},
): Fp8Matrix {
  if (!(x instanceof Float32Array)) {
    throw new TypeError(`fp8.quantize: x must be a Float32Array, got ${describe(x)}`);
  }
  checkDim("rows", rows);
  checkDim("cols", cols);
  if (x.length !== rows * cols) {
    throw new RangeError(
      `fp8.quantize: x has ${x.length} elements, expected rows*cols = ${rows}*${cols}`,
    );
  }
  const format = opts.format ?? "e4m3";
  spec(format);
  const pow2 = opts.pow2Scale ?? false;
  const floor = opts.amaxFloor ?? AMAX_FLOOR;
  if (!(floor > 0 && floor < Infinity)) {
    throw new RangeError(`fp8.quantize: amaxFloor must be positive and finite, got ${floor}`);
  }
  const nonFinite = opts.nonFinite ?? "propagate";
  if (nonFinite !== "propagate" && nonFinite !== "throw") {
    throw new TypeError(
      `fp8.quantize: nonFinite must be "propagate" or "throw", got ${JSON.stringify(nonFinite)}`,
    );
  }
  const kind: LayoutKind = layout.kind;
  const tr = kind === "tensor" ? Math.max(rows, 1) : layout.tile[0];
  const tc = kind === "tensor" ? Math.max(cols, 1) : layout.tile[1];
  if (!Number.isSafeInteger(tr) || !Number.isSafeInteger(tc) || tr < 1 || tc < 1) {
    throw new RangeError(
      `fp8.quantize: tile must be two positive integers, got ${JSON.stringify(layout.tile)}`,
    );
  }
  const backend = opts.backend ?? "auto";
  const nat = backend === "ts" ? null : fp8Native();
  if (backend === "native" && !nat)
    throw new Error("fp8.quantize: the native addon is not built (backend: native)");
  const into = opts.into;
  if (into !== undefined) {
    if (!(into instanceof Fp8Matrix))
      throw new TypeError(`fp8.quantize: into must be an Fp8Matrix, got ${describe(into)}`);
    if (
      into.rows !== rows ||
      into.cols !== cols ||
      into.format !== format ||
      into.layout.kind !== kind ||
      into.layout.tile[0] !== tr ||
      into.layout.tile[1] !== tc ||
      into.pow2Scale !== pow2
    ) {
      throw new RangeError(
        `fp8.quantize: into is ${into.toString()}, which differs in shape, layout or format`,
      );
    }
  }
  let codes: Uint8Array;
  let scales: Float32Array;
  let bad: number;
  if (nat) {
    const r = nat.fp8Quantize(
      x,
      rows,
      cols,
      tr,
      tc,
      FORMAT_ID[format],
      pow2,
      floor,
      into?.codes,
      into?.scales,
    );
    codes = r.codes;
    scales = r.scales;
    bad = r.nonFinite;
  } else {
    ({ codes, scales, bad } = quantizeTs(x, rows, cols, tr, tc, format, pow2, floor));
  }
  // an empty matrix has no tiles, but a tensor layout always carries its one scale
  if (kind === "tensor" && scales.length === 0)
    scales = Float32Array.of(scaleFor(0, format, pow2, floor));
  if (bad > 0 && nonFinite === "throw") {
    throw new RangeError(`fp8.quantize: input has ${bad} NaN/Inf value(s) (nonFinite: "throw")`);
  }
  if (into) {
    if (codes !== into.codes) into.codes.set(codes);
    if (scales !== into.scales) into.scales.set(scales);
    return into;
  }
  return new Fp8Matrix({
    codes,
    scales,
    rows,
    cols,
    layout: { kind, tile: [tr, tc] },
    format,
    pow2Scale: pow2,
  });
}

function quantizeTs(
  x: Float32Array,
  rows: number,
  cols: number,
  tr: number,
  tc: number,
  format: Fp8Format,
  pow2: boolean,
  floor: number,
): { codes: Uint8Array; scales: Float32Array; bad: number } {
  const sr = Math.ceil(rows / tr);
  const sc = Math.ceil(cols / tc);
  const amax = new Float64Array(sr * sc);
  let bad = 0;
  for (let i = 0; i < rows; i++) {
    const srow = Math.floor(i / tr) * sc;
    for (let j = 0; j < cols; j++) {
      const a = Math.abs(x[i * cols + j]);
      if (a === Infinity || a !== a) bad++;
      else if (a > amax[srow + Math.floor(j / tc)]) amax[srow + Math.floor(j / tc)] = a;
    }
  }
  const scales = new Float32Array(sr * sc);
  for (let t = 0; t < scales.length; t++) scales[t] = scaleFor(amax[t], format, pow2, floor);
  const y = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const srow = Math.floor(i / tr) * sc;
    for (let j0 = 0; j0 < cols; j0 += tc) {
      const s = scales[srow + j0 / tc];
      const j1 = Math.min(cols, j0 + tc);
      for (let j = j0, o = i * cols + j0; j < j1; j++, o++) y[o] = x[o] / s;
    }
  }
  const codes = new Uint8Array(rows * cols);
  const bits = new Int32Array(y.buffer);
  encodeBits(bits, 0, y.length, codes, 0, format, true);
  if (bad > 0) {
    // non-finite elements: non-saturating conversion keeps NaN / Inf visible
    for (let o = 0; o < y.length; o++) {
      if (!Number.isFinite(x[o])) encodeBits(bits, o, o + 1, codes, o, format, false);
    }
  }
  return { codes, scales, bad };
}

/** Activation quantization: 1x128 tiles along the inner (column) dimension, scales [rows, ceil(cols/128)]. */
export function quantizeTiles(
  x: Float32Array,
  rows: number,
  cols: number,
  opts: QuantizeOptions = {},
): Fp8Matrix {
  return quantize(x, rows, cols, { kind: "tile", tile: [1, TILE] }, opts);
}

/**
 * Transposed activation quantization: 128x1 tiles (along the row dimension), as the Wgrad
 * operand needs; `.transpose()` of the result is a 1x128-tiled [cols, rows] matrix.
 */
export function quantizeTilesT(
  x: Float32Array,
  rows: number,
  cols: number,
  opts: QuantizeOptions = {},
): Fp8Matrix {
  return quantize(x, rows, cols, { kind: "tile", tile: [TILE, 1] }, opts);
}

/** Weight quantization: 128x128 blocks, scales [ceil(rows/128), ceil(cols/128)] (DeepSeek's `.scale`). */
export function quantizeBlocks(
  x: Float32Array,
  rows: number,
  cols: number,
  opts: QuantizeOptions = {},
): Fp8Matrix {
  return quantize(x, rows, cols, { kind: "block", tile: [TILE, TILE] }, opts);
}

/** Per-tensor quantization: one scale (the baseline). */
export function quantizeTensor(
  x: Float32Array,
  rows: number,
  cols: number,
  opts: QuantizeOptions = {},
): Fp8Matrix {
  return quantize(
    x,
    rows,
    cols,
    { kind: "tensor", tile: [Math.max(rows, 1), Math.max(cols, 1)] },
    opts,
  );
}

/** Dequantizes (native when built): decode(code) * scale in float32. */
export function dequantize(
  m: Fp8Matrix,
  opts: { backend?: "auto" | "native" | "ts" } = {},
): Float32Array {
  if (!(m instanceof Fp8Matrix))
    throw new TypeError(`fp8.dequantize: expected an Fp8Matrix, got ${describe(m)}`);
  const backend = opts.backend ?? "auto";
  const nat = backend === "ts" ? null : fp8Native();
  if (backend === "native" && !nat)
    throw new Error("fp8.dequantize: the native addon is not built (backend: native)");
  if (!nat) return m.dequantize();
  const [tr, tc] = m.layout.tile;
  return nat.fp8Dequantize(m.codes, m.scales, m.rows, m.cols, tr, tc, FORMAT_ID[m.format]);
}

/**
 * Round-trip error statistics of a quantization, for notebooks: per tile the max |x - q| relative to
 * the tile's amax, and overall relative Frobenius error (finite elements only).
 */
export function quantizationError(
  x: Float32Array,
  q: Fp8Matrix,
): { relFrobenius: number; maxTileRel: number } {
  const d = q.dequantize();
  if (d.length !== x.length) throw new RangeError("fp8.quantizationError: x and q differ in size");
  const [tr, tc] = q.layout.tile;
  const tileAmax = new Float64Array(q.scales.length);
  const tileErr = new Float64Array(q.scales.length);
  let num = 0;
  let den = 0;
  for (let i = 0; i < q.rows; i++) {
    for (let j = 0; j < q.cols; j++) {
      const o = i * q.cols + j;
      if (!Number.isFinite(x[o])) continue;
      const t =
        q.layout.kind === "tensor" ? 0 : Math.floor(i / tr) * q.scaleCols + Math.floor(j / tc);
      const e = Math.abs(x[o] - d[o]);
      tileAmax[t] = Math.max(tileAmax[t], Math.abs(x[o]));
      tileErr[t] = Math.max(tileErr[t], e);
      num += e * e;
      den += x[o] * x[o];
    }
  }
  let maxTileRel = 0;
  for (let t = 0; t < tileErr.length; t++)
    if (tileAmax[t] > 0) maxTileRel = Math.max(maxTileRel, tileErr[t] / tileAmax[t]);
  return { relFrobenius: den > 0 ? Math.sqrt(num / den) : 0, maxTileRel };
}
