/** Small builders the inspection figures share: a heatmap trace, axis names of a grid's cells. */
import type { PlotlyTrace } from "./figure.js";

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
