/**
 * Colours for the SVG renderer: CSS colour parsing, Plotly's named colour scales and its default
 * trace colours, so a figure drawn by moelab looks like the same figure drawn by plotly.js.
 */

export type Rgba = [number, number, number, number];

/** plotly.js's default colorway (d3's category10). */
export const COLORWAY = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
];

const NAMED: Record<string, string> = {
  black: "#000000",
  white: "#ffffff",
  red: "#ff0000",
  green: "#008000",
  blue: "#0000ff",
  gray: "#808080",
  grey: "#808080",
  orange: "#ffa500",
  purple: "#800080",
  yellow: "#ffff00",
  transparent: "rgba(0,0,0,0)",
};

/** Parses #rgb, #rrggbb, rgb(), rgba() and a few names; null when not a colour. */
export function parseColor(c: unknown): Rgba | null {
  if (typeof c !== "string") return null;
  const s = (NAMED[c.trim().toLowerCase()] ?? c).trim().toLowerCase();
  let m = /^#([0-9a-f]{3})$/.exec(s);
  if (m) {
    const [r, g, b] = [...m[1]].map((h) => parseInt(h + h, 16));
    return [r, g, b, 1];
  }
  m = /^#([0-9a-f]{6})$/.exec(s);
  if (m) {
    const v = parseInt(m[1], 16);
    return [(v >> 16) & 255, (v >> 8) & 255, v & 255, 1];
  }
  m = /^rgba?\(\s*([\d.]+)\s*,\s*([\d.]+)\s*,\s*([\d.]+)\s*(?:,\s*([\d.]+)\s*)?\)$/.exec(s);
  if (m) return [+m[1], +m[2], +m[3], m[4] === undefined ? 1 : +m[4]];
  return null;
}

export function toCss([r, g, b, a]: Rgba): string {
  const h = (x: number) =>
    Math.round(Math.min(255, Math.max(0, x)))
      .toString(16)
      .padStart(2, "0");
  return a >= 1 ? `#${h(r)}${h(g)}${h(b)}` : `rgba(${r | 0},${g | 0},${b | 0},${+a.toFixed(3)})`;
}

/** A colour scale: stops in [0, 1], ascending. */
export type ColorScale = [number, string][];

const even = (colors: string[]): ColorScale =>
  colors.map((c, i) => [i / (colors.length - 1), c] as [number, string]);

/** plotly.js's named scales (the ones moelab's figures use, and the common ones). */
export const SCALES: Record<string, ColorScale> = {
  Viridis: even([
    "#440154",
    "#482878",
    "#3e4989",
    "#31688e",
    "#26828e",
    "#1f9e89",
    "#35b779",
    "#6ece58",
    "#b5de2b",
    "#fde725",
  ]),
  Cividis: even([
    "#00224e",
    "#123570",
    "#3b496c",
    "#575d6d",
    "#707173",
    "#8a8678",
    "#a59c74",
    "#c3b369",
    "#e1cc55",
    "#fee838",
  ]),
  Plasma: even([
    "#0d0887",
    "#46039f",
    "#7201a8",
    "#9c179e",
    "#bd3786",
    "#d8576b",
    "#ed7953",
    "#fb9f3a",
    "#fdca26",
    "#f0f921",
  ]),
  Blues: even(["#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#08306b"]),
  Reds: even(["#fff5f0", "#fcbba1", "#fb6a4a", "#cb181d", "#67000d"]),
  Greens: even(["#f7fcf5", "#c7e9c0", "#74c476", "#238b45", "#00441b"]),
  Greys: even(["#ffffff", "#000000"]),
  YlOrRd: even([
    "#ffffcc",
    "#ffeda0",
    "#fed976",
    "#feb24c",
    "#fd8d3c",
    "#fc4e2a",
    "#e31a1c",
    "#b10026",
  ]),
  Hot: even(["#000000", "#e60000", "#ffd200", "#ffffff"]),
  RdBu: even(["#053061", "#4393c3", "#f7f7f7", "#d6604d", "#67001f"]),
  Picnic: even([
    "#0000ff",
    "#3399ff",
    "#66ccff",
    "#99ccff",
    "#ccccff",
    "#ffffff",
    "#ffccff",
    "#ff99ff",
    "#ff66cc",
    "#ff6666",
    "#ff0000",
  ]),
};
SCALES.viridis = SCALES.Viridis;

/** The scale a trace names (a Plotly name or [[t, colour], ...]); Viridis when absent or unknown. */
export function resolveScale(spec: unknown, reverse = false): ColorScale {
  let scale: ColorScale = SCALES.Viridis;
  if (typeof spec === "string" && SCALES[spec]) scale = SCALES[spec];
  else if (
    Array.isArray(spec) &&
    spec.length >= 2 &&
    spec.every((s) => Array.isArray(s) && typeof s[0] === "number" && parseColor(s[1]))
  )
    scale = spec as ColorScale;
  return reverse ? scale.map(([t, c]) => [1 - t, c] as [number, string]).reverse() : scale;
}

/** The colour at t in [0, 1] of a scale (linear in RGB between stops, as plotly.js does). */
export function colorAt(scale: ColorScale, t: number): string {
  if (!Number.isFinite(t)) return "rgba(0,0,0,0)";
  t = Math.min(1, Math.max(0, t));
  for (let i = 1; i < scale.length; i++) {
    if (t <= scale[i][0] || i === scale.length - 1) {
      const [t0, c0] = scale[i - 1];
      const [t1, c1] = scale[i];
      const f = t1 > t0 ? Math.min(1, Math.max(0, (t - t0) / (t1 - t0))) : 0;
      const a = parseColor(c0)!;
      const b = parseColor(c1)!;
      return toCss(a.map((v, k) => v + (b[k] - v) * f) as Rgba);
    }
  }
  return scale[0][1];
}

/** Black or white, whichever reads on a background colour. */
export function inkOn(bg: string): string {
  const c = parseColor(bg);
  if (!c) return "#000";
  const lum = (0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]) / 255;
  return lum > 0.55 ? "#222" : "#fff";
}
