/**
 * An FP8-quantized row-major matrix: codes [rows, cols] and one FP32 scale per tile, so that
 * value[i, j] = decode(codes[i, j]) * scales[floor(i / tile[0]), floor(j / tile[1])].
 *
 * Layouts (DeepSeek-V3 §3.3):
 * - `tile` [1, 128]: activations, one scale per token per 128 channels (scales [rows, ceil(cols/128)]);
 *   `tile` [128, 1] is the transposed quantization used for the Wgrad operand.
 * - `block` [128, 128]: weights (scales [ceil(rows/128), ceil(cols/128)], DeepSeek's `.scale`).
 * - `tensor`: one scale for the whole matrix (the baseline fine-grained scaling is compared with).
 * Partial tiles at the edges (sizes that are not multiples of the tile) have their own scale.
 */
import { escapeHtml } from "../tensor/index.js";
import { DISPLAY, decodeTable, describe, spec, type Fp8Format } from "./format.js";

export type LayoutKind = "tile" | "block" | "tensor";

export interface Fp8Layout {
  readonly kind: LayoutKind;
  /** Tile extent [rows, cols]; for `tensor` it covers the whole matrix. */
  readonly tile: readonly [number, number];
}

export interface Fp8MatrixInit {
  codes: Uint8Array;
  scales: Float32Array;
  rows: number;
  cols: number;
  layout: Fp8Layout;
  format: Fp8Format;
  /** True when every scale is a power of two (ue8m0). */
  pow2Scale?: boolean;
}

/** Checks a dimension: a non-negative safe integer. */
export function checkDim(what: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new RangeError(`fp8: ${what} must be a non-negative integer, got ${String(v)}`);
  }
  return v;
}

export class Fp8Matrix {
  /** FP8 codes, row-major [rows, cols]. */
  readonly codes: Uint8Array;
  /** Scales (multipliers), row-major [scaleRows, scaleCols]. */
  readonly scales: Float32Array;
  readonly rows: number;
  readonly cols: number;
  readonly layout: Fp8Layout;
  readonly format: Fp8Format;
  readonly pow2Scale: boolean;
  readonly scaleRows: number;
  readonly scaleCols: number;

  constructor(init: Fp8MatrixInit) {
    const { codes, scales, layout, format } = init;
    spec(format);
    const rows = checkDim("rows", init.rows);
    const cols = checkDim("cols", init.cols);
    if (!(codes instanceof Uint8Array)) {
      throw new TypeError(`Fp8Matrix: codes must be a Uint8Array, got ${describe(codes)}`);
    }
    if (!(scales instanceof Float32Array)) {
      throw new TypeError(`Fp8Matrix: scales must be a Float32Array, got ${describe(scales)}`);
    }
    if (codes.length !== rows * cols) {
      throw new RangeError(
        `Fp8Matrix: codes has ${codes.length} elements, expected rows*cols = ${rows * cols}`,
      );
    }
    if (
      !layout ||
      (layout.kind !== "tile" && layout.kind !== "block" && layout.kind !== "tensor")
    ) {
      throw new TypeError(`Fp8Matrix: layout.kind must be "tile", "block" or "tensor"`);
    }
    const [tr, tc] = layout.tile ?? [];
    if (!Number.isSafeInteger(tr) || !Number.isSafeInteger(tc) || tr < 1 || tc < 1) {
      throw new RangeError(
        `Fp8Matrix: layout.tile must be two positive integers, got ${JSON.stringify(layout.tile)}`,
      );
    }
    if (layout.kind === "tensor" && (tr < rows || tc < cols)) {
      throw new RangeError(
        `Fp8Matrix: a "tensor" layout's tile [${tr}, ${tc}] must cover [${rows}, ${cols}]`,
      );
    }
    this.scaleRows = layout.kind === "tensor" ? 1 : Math.ceil(rows / tr);
    this.scaleCols = layout.kind === "tensor" ? 1 : Math.ceil(cols / tc);
    if (scales.length !== this.scaleRows * this.scaleCols) {
      throw new RangeError(
        `Fp8Matrix: scales has ${scales.length} elements, expected ${this.scaleRows}x${this.scaleCols} ` +
          `for a [${rows}, ${cols}] matrix in ${tr}x${tc} tiles`,
      );
    }
    for (let i = 0; i < scales.length; i++) {
      const s = scales[i];
      if (!(s > 0 && s < Infinity)) {
        throw new RangeError(`Fp8Matrix: scale ${i} is ${s}; scales must be positive and finite`);
      }
    }
    this.codes = codes;
    this.scales = scales;
    this.rows = rows;
    this.cols = cols;
    this.layout = Object.freeze({
      kind: layout.kind,
      tile: Object.freeze([tr, tc]) as readonly [number, number],
    });
    this.format = format;
    this.pow2Scale = init.pow2Scale ?? false;
  }

  /** Scale of element (i, j). */
  scaleAt(i: number, j: number): number {
    if (this.layout.kind === "tensor") return this.scales[0];
    const [tr, tc] = this.layout.tile;
    return this.scales[Math.floor(i / tr) * this.scaleCols + Math.floor(j / tc)];
  }

  /** Dequantized values [rows, cols]: decode(code) * scale, in float32 as the reference's weight_dequant. */
  dequantize(): Float32Array {
    const out = new Float32Array(this.rows * this.cols);
    const lut = decodeTable(this.format);
    const { rows, cols, codes, scales, scaleCols } = this;
    const [tr, tc] =
      this.layout.kind === "tensor" ? [Math.max(rows, 1), Math.max(cols, 1)] : this.layout.tile;
    for (let i = 0; i < rows; i++) {
      const srow = Math.floor(i / tr) * scaleCols;
      for (let j0 = 0; j0 < cols; j0 += tc) {
        const s = scales[srow + j0 / tc];
        const j1 = Math.min(cols, j0 + tc);
        for (let j = j0, o = i * cols + j0; j < j1; j++, o++) out[o] = lut[codes[o]] * s;
      }
    }
    return out;
  }

  /** The transposed matrix [cols, rows]: codes and scales transposed, tile [c, r]. */
  transpose(): Fp8Matrix {
    const { rows, cols } = this;
    const codes = new Uint8Array(rows * cols);
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < cols; j++) codes[j * rows + i] = this.codes[i * cols + j];
    const sr = this.scaleRows;
    const sc = this.scaleCols;
    const scales = new Float32Array(sr * sc);
    for (let i = 0; i < sr; i++)
      for (let j = 0; j < sc; j++) scales[j * sr + i] = this.scales[i * sc + j];
    const [tr, tc] = this.layout.tile;
    return new Fp8Matrix({
      codes,
      scales,
      rows: cols,
      cols: rows,
      layout: { kind: this.layout.kind, tile: [tc, tr] },
      format: this.format,
      pow2Scale: this.pow2Scale,
    });
  }

  /** Counts of codes that decode to NaN / ±Inf (non-finite inputs propagate as these). */
  nonFiniteCount(): number {
    const lut = decodeTable(this.format);
    let n = 0;
    for (let i = 0; i < this.codes.length; i++) if (!Number.isFinite(lut[this.codes[i]])) n++;
    return n;
  }

  /** Fraction of elements at ±max code (saturated or exactly at the tile's amax). */
  maxCodeFraction(): number {
    const m = spec(this.format).maxCode;
    let n = 0;
    for (let i = 0; i < this.codes.length; i++) if ((this.codes[i] & 0x7f) === m) n++;
    return this.codes.length ? n / this.codes.length : 0;
  }

  toString(): string {
    const [tr, tc] = this.layout.tile;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < this.scales.length; i++) {
      lo = Math.min(lo, this.scales[i]);
      hi = Math.max(hi, this.scales[i]);
    }
    const range = this.scales.length
      ? `scales in [${lo.toExponential(3)}, ${hi.toExponential(3)}]`
      : "no scales";
    return (
      `Fp8Matrix ${this.format} [${this.rows}, ${this.cols}], ${this.layout.kind} ${tr}x${tc} ` +
      `(${this.scaleRows}x${this.scaleCols} scales${this.pow2Scale ? ", power-of-two" : ""}), ${range}`
    );
  }

  [DISPLAY](): Record<string, string> {
    const text = this.toString();
    const show = Math.min(this.rows, 8);
    const showC = Math.min(this.cols, 8);
    const lut = decodeTable(this.format);
    let body = "";
    for (let i = 0; i < show; i++) {
      body += "<tr>";
      for (let j = 0; j < showC; j++) {
        const c = this.codes[i * this.cols + j];
        body += `<td title="code 0x${c.toString(16).padStart(2, "0")} x scale ${this.scaleAt(i, j)}">${lut[c]}</td>`;
      }
      body += this.cols > showC ? "<td>…</td></tr>" : "</tr>";
    }
    if (this.rows > show) body += "<tr><td>…</td></tr>";
    const html =
      `<div><b>${escapeHtml(text)}</b><table><caption>decoded codes (before scaling), top-left corner</caption>` +
      `<tbody>${body}</tbody></table></div>`;
    return { "text/plain": text, "text/html": html };
  }
}
