/** Subplot grids for the inspection figures: axis numbering, titles, layout. */
import type { PlotlyLayout } from "./figure.js";
import { axisKey } from "./heatmap.js";

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
