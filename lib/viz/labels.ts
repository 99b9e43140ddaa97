/** Routing by label: per MoE layer, a label x expert heatmap of each label's share of choices. */
import type { RoutingByLabel } from "../inspect/index.js";
import { Figure, type PlotlyTrace } from "./figure.js";
import { categoryY, cell, gridLayout, heatmap, num, rowHeight } from "./panels.js";

/** Left margin (px) that fits the longest y label at Plotly's 12 px font, at least its default 80. */
export const labelMargin = (labels: readonly string[]): number =>
  Math.max(80, 24 + 7 * Math.max(0, ...labels.map((l) => l.length)));

export function routingByLabelFigure(by: RoutingByLabel): Figure {
  const x = [...Array(by.experts).keys()].map((e) => `E${e}`);
  const data: PlotlyTrace[] = [];
  const axes = by.layers.map((l, i) => {
    const z = by.frequencies(i);
    data.push(
      heatmap({
        z,
        x,
        y: by.labels,
        zmin: 0,
        zmax: Math.max(...z.flat(), 1e-9),
        axis: cell(i, 0, 1),
        name: l.name,
        showscale: i === 0,
      }),
    );
    return {
      x: {
        title: { text: `${l.name}: MI ${num(l.mi, 3)} bits, p ${num(l.p, 3)}` },
        type: "category",
      },
      y: categoryY(),
    };
  });
  const lines = [by.toString()];
  by.layers.forEach((l, i) => {
    // The label that leans most on one expert, relative to that expert's overall share.
    const f = by.frequencies(i);
    const overall = x.map((_, e) => f.reduce((s, r) => s + r[e], 0) / f.length);
    let best = { label: "", expert: 0, ratio: 0 };
    f.forEach((r, li) =>
      r.forEach((v, e) => {
        if (overall[e] > 0 && v / overall[e] > best.ratio)
          best = { label: by.labels[li], expert: e, ratio: v / overall[e] };
      }),
    );
    lines.push(
      `  ${l.name}: "${best.label}" uses E${best.expert} ${num(best.ratio, 3)}x as often as the labels' mean`,
    );
  });
  return new Figure(
    {
      data,
      layout: gridLayout(
        "Routing by label (share of each label's choices)",
        by.layers.length,
        1,
        axes,
        {
          height: by.layers.length * rowHeight(by.labels.length) + 80,
          // Room for the longest label (Brown's "science_fiction"), which the default 80 px clips.
          margin: { l: labelMargin(by.labels) },
        },
      ),
    },
    lines.join("\n"),
  );
}
