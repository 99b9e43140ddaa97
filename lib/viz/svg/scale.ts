/** Axis scales and ticks for the SVG renderer: linear, log and category, with readable labels. */

/** Maps data values to pixels along one axis. */
export interface Scale {
  kind: "linear" | "log" | "category";
  /** Data range [lo, hi] (log: exponents; category: indices -0.5 .. n-0.5). */
  domain: [number, number];
  /** Pixel range [from, to] (to < from for a y axis drawn upwards). */
  range: [number, number];
  /** Category labels in order (category axes only). */
  categories: string[];
}

export function position(s: Scale, v: number): number {
  const x = s.kind === "log" ? Math.log10(v) : v;
  const [d0, d1] = s.domain;
  const [r0, r1] = s.range;
  return d1 === d0 ? (r0 + r1) / 2 : r0 + ((x - d0) / (d1 - d0)) * (r1 - r0);
}

/** "Nice" tick values over [lo, hi]: about `count` of them at 1, 2 or 5 x 10^k. */
export function niceTicks(lo: number, hi: number, count = 6): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  const first = Math.ceil(lo / step - 1e-9);
  for (let i = first; i * step <= hi + step * 1e-9; i++) out.push(+(i * step).toPrecision(12));
  return out;
}

/** Extends [lo, hi] to nice bounds a little beyond the data (as plotly's autorange pads). */
export function padRange(lo: number, hi: number, pad = 0.05): [number, number] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  if (lo === hi) {
    const d = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    return [lo - d, hi + d];
  }
  const d = (hi - lo) * pad;
  return [lo - d, hi + d];
}

/** A short label for a number: 3 significant digits, k/M/G suffixes, exponent when tiny. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? "NaN" : v > 0 ? "∞" : "-∞";
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a >= 1e9) return trim((v / 1e9).toPrecision(3)) + "G";
  if (a >= 1e6) return trim((v / 1e6).toPrecision(3)) + "M";
  if (a >= 1e4) return trim((v / 1e3).toPrecision(3)) + "k";
  if (a < 1e-3) return v.toExponential(1).replace("e-", "e−").replace(/^-/, "−");
  return trim(v.toPrecision(3)).replace(/^-/, "−");
}

function trim(s: string): string {
  return s.includes(".") && !s.includes("e") ? s.replace(/\.?0+$/, "") : s;
}

/** Labels for a set of ticks: enough digits that neighbouring ticks differ. */
export function tickLabels(ticks: number[]): string[] {
  if (ticks.length < 2) return ticks.map(formatNumber);
  const maxAbs = Math.max(...ticks.map(Math.abs));
  if (maxAbs >= 1e4 || maxAbs < 1e-3) return ticks.map(formatNumber);
  // As many decimals as the finest tick needs (0.25 keeps two).
  const decimals = (t: number) => (String(+t.toFixed(8)).split(".")[1] ?? "").length;
  const digits = Math.min(8, Math.max(...ticks.map(decimals)));
  return ticks.map((t) => (t === 0 ? "0" : t.toFixed(digits).replace(/^-/, "−")));
}
