/**
 * What the inspection figures share: a heatmap trace, subplot grids (axis numbering, per-subplot
 * axis titles, layout), number formatting for summaries.
 */
import type { PlotlyLayout, PlotlyTrace } from "./figure.js";

export interface HeatmapInput {
  z: (number | null)[][];
  x: string[];
  y: string[];
  colorscale?: string;
  zmin?: number;
  zmax?: number;
  text?: string[][];
  /** The subplot's axis number (1: "x"/"y", 2: "x2"/"y2", ...). */
  axis?: number;
  name?: string;
  showscale?: boolean;
}

/** A heatmap trace; non-finite values become null (a gap), as JSON cannot hold them. */
export function heatmap(h: HeatmapInput): PlotlyTrace {
  const t: PlotlyTrace = {
    type: "heatmap",
    z: h.z.map((r) => r.map((v) => (v === null || !Number.isFinite(v) ? null : v))),
    x: h.x,
    y: h.y,
    colorscale: h.colorscale ?? "Viridis",
  };
  if (h.zmin !== undefined) t.zmin = h.zmin;
  if (h.zmax !== undefined) t.zmax = h.zmax;
  if (h.text) {
    t.text = h.text;
    t.texttemplate = "%{text}";
  }
  if (h.name) t.name = h.name;
  if (h.showscale !== undefined) t.showscale = h.showscale;
  if (h.axis && h.axis > 1) {
    t.xaxis = `x${h.axis}`;
    t.yaxis = `y${h.axis}`;
  }
  return t;
}

/** Layout key of subplot i (1-based): "xaxis", "xaxis2", ... */
export const axisKey = (xy: "x" | "y", i: number): string => `${xy}axis${i > 1 ? i : ""}`;

/** A number for a summary: 4 significant digits, exponent when tiny or huge. */
export function num(x: number, digits = 4): string {
  if (!Number.isFinite(x)) return String(x);
  if (x !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e6)) return x.toExponential(2);
  return Number(x.toPrecision(digits)).toString();
}

/** Subplot number (1-based) of row r, column c in a grid of `columns`. */
export const cell = (r: number, c: number, columns: number): number => r * columns + c + 1;

/**
 * A layout of rows x columns independent subplots with per-subplot axis titles (the figure
 * contract's way to name subplots). `axes[i]` configures subplot i + 1.
 */
export function gridLayout(
  title: string,
  rows: number,
  columns: number,
  axes: { x?: Record<string, unknown>; y?: Record<string, unknown> }[],
  extra: PlotlyLayout = {},
): PlotlyLayout {
  const layout: PlotlyLayout = {
    title: { text: title },
    grid: { rows, columns, pattern: "independent" },
    height: Math.max(320, 260 * rows),
    ...extra,
  };
  axes.forEach((a, i) => {
    if (a.x) layout[axisKey("x", i + 1)] = a.x;
    if (a.y) layout[axisKey("y", i + 1)] = a.y;
  });
  return layout;
}

/** The finite min and max of nested numbers ([0, 1] when there is none). */
export function finiteRange(rows: readonly (readonly (number | null)[])[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const r of rows)
    for (const v of r)
      if (v !== null && Number.isFinite(v)) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
  return lo === Infinity ? [0, 1] : [lo, hi === lo ? lo + 1 : hi];
}

/** A subplot row tall enough to label each of n categories (tokens, labels) on its y axis. */
export const rowHeight = (n: number): number => Math.max(260, 14 * n + 110);

/** A y axis of categories, every one labelled, first at the top. */
export const categoryY = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  type: "category",
  autorange: "reversed",
  dtick: 1,
  ...extra,
});
