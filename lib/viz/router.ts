/**
 * Router trace: per MoE layer, a tokens x experts heatmap of the router's scores beside the
 * scores + bias it selects on, the chosen top-k marked by their rank (1 = first choice).
 */
import type { RouterTrace } from "../inspect/index.js";
import { Figure, type PlotlyTrace } from "./figure.js";
import { categoryY, cell, finiteRange, gridLayout, heatmap, rowHeight } from "./panels.js";

/** The rank marks of the chosen experts: [T][E], "1".."k" where chosen, "" elsewhere. */
export function topkMarks(chosen: number[][], experts: number): string[][] {
  return chosen.map((c) =>
    [...Array(experts).keys()].map((e) => (c.includes(e) ? String(c.indexOf(e) + 1) : "")),
  );
}

export function routerTraceFigure(tr: RouterTrace): Figure {
  const x = [...Array(tr.experts).keys()].map((e) => `E${e}`);
  const data: PlotlyTrace[] = [];
  const axes: { x: Record<string, unknown>; y: Record<string, unknown> }[] = [];
  tr.layers.forEach((l, r) => {
    const marks = topkMarks(l.chosen, tr.experts);
    const [lo, hi] = finiteRange([...l.scores, ...l.biased]);
    for (const [c, z, what] of [
      [0, l.scores, "scores"],
      [1, l.biased, l.bias ? "scores + bias (selection)" : "selection scores (no bias)"],
    ] as const) {
      data.push(
        heatmap({
          z: z as number[][],
          x,
          y: tr.tokens,
          text: marks,
          zmin: lo,
          zmax: hi,
          axis: cell(r, c, 2),
          name: `${l.name} ${what}`,
          showscale: r === 0 && c === 0,
        }),
      );
      axes.push({
        x: { title: { text: `${l.name}: ${what}` }, type: "category" },
        y: categoryY(),
      });
    }
  });
  return new Figure(
    {
      data,
      layout: gridLayout(
        "Router trace (numbers: the chosen top-k by rank)",
        tr.layers.length,
        2,
        axes,
        { height: tr.layers.length * rowHeight(tr.tokens.length) + 80 },
      ),
    },
    tr.toString(),
  );
}
