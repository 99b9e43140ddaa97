/**
 * FP8 figures: what quantizing a tensor the DeepSeek-V3 way does to it (per-element relative error
 * histogram, the distribution of its tile/block scales, saturated / underflowed / subnormal
 * counts), and the E4M3 vs E5M2 code grids. Built on lib/fp8's codec and quantizer.
 */
import {
  Fp8Matrix,
  TILE,
  decodeTable,
  encode,
  quantizationError,
  quantizeBlocks,
  quantizeTensor,
  quantizeTiles,
  spec,
  type Fp8Format,
} from "../fp8/index.js";
import { Tensor } from "../tensor/index.js";
import { Figure, type PlotlyTrace } from "./figure.js";

export interface Fp8ErrorOptions {
  /** "e4m3" (default: DeepSeek-V3's every tensor) or "e5m2". */
  format?: Fp8Format;
  /** "tile" 1x128 (activations, the default), "block" 128x128 (weights) or "tensor" (one scale). */
  scaling?: "tile" | "block" | "tensor";
  /**
   * One fixed scale instead of the tensor's own amax (delayed scaling with a stale amax): the
   * case where values saturate. Overrides `scaling`.
   */
  scale?: number;
  /** Round scales up to powers of two (ue8m0). */
  pow2Scale?: boolean;
  /** What the tensor is, for the title. */
  name?: string;
  /** Shape of a Float32Array input as [rows, cols] (default [1, length]). */
  shape?: [number, number];
}

/** The numbers behind the figure. */
export interface Fp8ErrorStats {
  format: Fp8Format;
  scaling: "tile" | "block" | "tensor" | "fixed";
  values: number;
  relFrobenius: number;
  maxTileRel: number;
  /** |x| / scale beyond what rounds to the format's max: clamped to ±max. */
  saturated: number;
  /** Non-zero inputs that decode to 0. */
  underflowed: number;
  /** Inputs stored as subnormal codes. */
  subnormal: number;
  /** Non-zero inputs stored exactly. */
  exact: number;
  nonFinite: number;
  scales: Float32Array;
  /** The input, flattened, and its values after the FP8 round trip. */
  input: Float32Array;
  dequantized: Float32Array;
}

function matrixOf(
  x: Tensor | Float32Array,
  shape?: [number, number],
): [Float32Array, number, number] {
  if (x instanceof Tensor) {
    if (x.dtype !== "float32")
      throw new TypeError(`fp8ErrorFigure: the tensor must be float32, got ${x.dtype}`);
    const a = x.toArray() as Float32Array;
    const cols = x.shape.length ? x.shape[x.shape.length - 1] : 1;
    return [a, cols ? a.length / cols : 0, cols];
  }
  if (!(x instanceof Float32Array))
    throw new TypeError("fp8ErrorFigure: x must be a Tensor or a Float32Array");
  const [r, c] = shape ?? [1, x.length];
  if (!Number.isInteger(r) || !Number.isInteger(c) || r * c !== x.length)
    throw new RangeError(`fp8ErrorFigure: shape [${r}, ${c}] does not hold ${x.length} values`);
  return [x, r, c];
}

/** Quantizes and measures: the statistics the figure draws. */
export function fp8ErrorStats(x: Tensor | Float32Array, opts: Fp8ErrorOptions = {}): Fp8ErrorStats {
  const format = opts.format ?? "e4m3";
  if (format !== "e4m3" && format !== "e5m2")
    throw new TypeError(
      `fp8ErrorFigure: format must be "e4m3" or "e5m2", got ${JSON.stringify(format)}`,
    );
  const scaling = opts.scaling ?? "tile";
  const quantizer = { tile: quantizeTiles, block: quantizeBlocks, tensor: quantizeTensor }[scaling];
  if (!quantizer)
    throw new TypeError(
      `fp8ErrorFigure: scaling must be "tile", "block" or "tensor", got ${JSON.stringify(scaling)}`,
    );
  const [a, rows, cols] = matrixOf(x, opts.shape);
  if (a.length === 0) throw new RangeError("fp8ErrorFigure: the tensor is empty");
  if (
    opts.scale !== undefined &&
    !(typeof opts.scale === "number" && opts.scale > 0 && Number.isFinite(opts.scale))
  )
    throw new RangeError(
      `fp8ErrorFigure: scale must be a positive number, got ${String(opts.scale)}`,
    );
  const q =
    opts.scale !== undefined
      ? fixedScale(a, rows, cols, opts.scale, format)
      : quantizer(a, rows, cols, { format, pow2Scale: opts.pow2Scale });
  const d = q.dequantize();
  const table = decodeTable(format);
  const s = spec(format);
  const [tr, tc] = q.layout.tile;
  // Beyond max + half its ulp, rounding alone would not give max: the value was clamped.
  const clampAbove = s.max + (s.max - table[s.maxCode - 1]) / 2;
  let saturated = 0;
  let underflowed = 0;
  let subnormal = 0;
  let exact = 0;
  let nonFinite = 0;
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++) {
      const o = i * cols + j;
      const v = a[o];
      if (!Number.isFinite(v)) {
        nonFinite++;
        continue;
      }
      const t =
        q.layout.kind === "tensor" ? 0 : Math.floor(i / tr) * q.scaleCols + Math.floor(j / tc);
      if (Math.abs(v) / q.scales[t] > clampAbove) saturated++;
      const code = q.codes[o];
      const mag = Math.abs(table[code]);
      if (v !== 0 && d[o] === 0) underflowed++;
      else if (mag > 0 && mag < s.minNormal) subnormal++;
      if (v !== 0 && d[o] === v) exact++;
    }
  const err = quantizationError(a, q);
  return {
    format,
    scaling: opts.scale !== undefined ? "fixed" : scaling,
    values: a.length,
    ...err,
    saturated,
    underflowed,
    subnormal,
    exact,
    nonFinite,
    scales: q.scales,
    input: a,
    dequantized: d,
  };
}

/** Per-tensor quantization with a given scale (codes saturate at ±max, as DeepSeek converts). */
function fixedScale(
  a: Float32Array,
  rows: number,
  cols: number,
  scale: number,
  format: Fp8Format,
): Fp8Matrix {
  const scaled = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) scaled[i] = a[i] / scale;
  return new Fp8Matrix({
    codes: encode(scaled, format, { saturate: true }),
    scales: new Float32Array([scale]),
    rows,
    cols,
    layout: { kind: "tensor", tile: [Math.max(rows, 1), Math.max(cols, 1)] },
    format,
  });
}

/** Histogram counts of values over bins [edges[k], edges[k+1]). */
function histogram(values: number[], edges: number[]): number[] {
  const counts = new Array<number>(edges.length - 1).fill(0);
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    let k = Math.floor(
      ((v - edges[0]) / (edges[edges.length - 1] - edges[0])) * (edges.length - 1),
    );
    k = Math.min(edges.length - 2, Math.max(0, k));
    counts[k]++;
  }
  return counts;
}

/**
 * Quantizes a tensor to FP8 (1x128 tiles by default, as DeepSeek-V3 does activations) and draws:
 * the per-element relative error (log10 histogram), the distribution of the scales (log2),
 * and how many values saturated, underflowed to zero, became subnormal or stayed exact.
 */
export function fp8ErrorFigure(x: Tensor | Float32Array, opts: Fp8ErrorOptions = {}): Figure {
  const st = fp8ErrorStats(x, opts);
  const a = st.input;
  const d = st.dequantized;
  const rel: number[] = [];
  for (let i = 0; i < a.length; i++)
    if (Number.isFinite(a[i]) && a[i] !== 0 && d[i] !== a[i])
      rel.push(Math.log10(Math.abs(a[i] - d[i]) / Math.abs(a[i])));
  const relEdges = Array.from({ length: 25 }, (_, k) => -6 + k * 0.25);
  const relCounts = histogram(rel, relEdges);
  const logScales = Array.from(st.scales, (v) => Math.log2(v));
  const lo = Math.floor(Math.min(...logScales));
  const hi = Math.max(lo + 1, Math.ceil(Math.max(...logScales)));
  const nb = Math.min(24, Math.max(4, (hi - lo) * 2));
  const scaleEdges = Array.from({ length: nb + 1 }, (_, k) => lo + ((hi - lo) * k) / nb);
  const scaleCounts = histogram(logScales, scaleEdges);
  const mid = (e: number[]) => e.slice(0, -1).map((v, k) => +((v + e[k + 1]) / 2).toFixed(3));
  const what =
    st.scaling === "fixed"
      ? `a fixed scale ${st.scales[0]}`
      : st.scaling === "tile"
        ? `1x${TILE} tiles`
        : st.scaling === "block"
          ? `${TILE}x${TILE} blocks`
          : "one scale";
  const name = opts.name ? `${opts.name}: ` : "";
  const data: PlotlyTrace[] = [
    {
      type: "bar",
      x: mid(relEdges),
      y: relCounts,
      name: "elements",
      marker: { color: "#1f77b4" },
      showlegend: false,
    },
    {
      type: "bar",
      x: mid(scaleEdges),
      y: scaleCounts,
      xaxis: "x2",
      yaxis: "y2",
      marker: { color: "#9467bd" },
      showlegend: false,
    },
    {
      type: "bar",
      x: ["exact", "subnormal", "underflow→0", "saturated", "non-finite"],
      y: [st.exact, st.subnormal, st.underflowed, st.saturated, st.nonFinite],
      xaxis: "x3",
      yaxis: "y3",
      marker: { color: ["#2ca02c", "#ff7f0e", "#d62728", "#8c564b", "#7f7f7f"] },
      showlegend: false,
    },
  ];
  const panel = (k: number, text: string) => ({
    text: `<b>${text}</b>`,
    xref: `x${k === 1 ? "" : k} domain`,
    yref: `y${k === 1 ? "" : k} domain`,
    x: 0.5,
    y: 1,
    yanchor: "bottom",
    showarrow: false,
  });
  const summary =
    `${name}FP8 ${st.format.toUpperCase()} with ${what}, ${st.values} values: ` +
    `relative Frobenius error ${st.relFrobenius.toExponential(2)}, worst tile ${st.maxTileRel.toExponential(2)} of its amax; ` +
    `${st.exact} exact, ${st.subnormal} subnormal, ${st.underflowed} underflowed to 0, ${st.saturated} saturated, ${st.nonFinite} non-finite; ` +
    `${st.scales.length} scales from 2^${lo} to 2^${hi}`;
  return new Figure(
    {
      data,
      layout: {
        title: `${name}FP8 ${st.format.toUpperCase()}, ${what}: relative error ${st.relFrobenius.toExponential(2)}`,
        grid: { rows: 1, columns: 3, pattern: "independent" },
        width: 900,
        height: 360,
        annotations: [
          panel(1, "relative error per element"),
          panel(2, "scales"),
          panel(3, "values"),
        ],
        xaxis: { title: "log10 |x − q| / |x|" },
        xaxis2: { title: "log2 scale" },
        yaxis: { title: "count" },
      },
    },
    summary,
  );
}

/** E4M3 and E5M2 side by side: log2 |value| of each of the 256 codes (row: high nibble). */
export function fp8CodeGrid(): Figure {
  const formats: Fp8Format[] = ["e4m3", "e5m2"];
  const data: PlotlyTrace[] = formats.map((f, k) => {
    const t = decodeTable(f);
    const z: (number | null)[][] = [];
    for (let r = 0; r < 16; r++) {
      const row: (number | null)[] = [];
      for (let c = 0; c < 16; c++) {
        const v = Math.abs(t[r * 16 + c]);
        row.push(Number.isFinite(v) && v > 0 ? +Math.log2(v).toFixed(3) : null);
      }
      z.push(row);
    }
    return {
      type: "heatmap",
      z,
      x: Array.from({ length: 16 }, (_, c) => c.toString(16).toUpperCase()),
      y: Array.from({ length: 16 }, (_, r) => `${r.toString(16).toUpperCase()}x`),
      zmin: -16,
      zmax: 16,
      colorscale: "Viridis",
      showscale: k === 1,
      colorbar: { title: "log2 |v|" },
      xaxis: k === 0 ? "x" : "x2",
      yaxis: k === 0 ? "y" : "y2",
    } as PlotlyTrace;
  });
  const line = (f: Fp8Format) => {
    const s = spec(f);
    const t = decodeTable(f);
    const nan = Array.from(t).filter(Number.isNaN).length;
    const inf = Array.from(t).filter((v) => Math.abs(v) === Infinity).length;
    return `${f.toUpperCase()}: ${s.expBits} exponent / ${s.manBits} mantissa bits, max ${s.max}, min normal 2^${Math.log2(s.minNormal)}, min subnormal 2^${Math.log2(s.minSubnormal)}, ${nan} NaN codes, ${inf} infinities`;
  };
  return new Figure(
    {
      data,
      layout: {
        title: "FP8 codes: log2 |value| (blank: zero, NaN, ±Inf)",
        grid: { rows: 1, columns: 2, pattern: "independent" },
        width: 820,
        height: 420,
        yaxis: { autorange: "reversed", title: "high nibble" },
        yaxis2: { autorange: "reversed" },
        xaxis: { title: "low nibble (E4M3)" },
        xaxis2: { title: "low nibble (E5M2)" },
      },
    },
    `FP8 code grids\n${line("e4m3")}\n${line("e5m2")}`,
  );
}
