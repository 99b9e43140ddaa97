/**
 * Latent attention maps: pattern heatmaps per layer and head with token labels, and the latent
 * c_kv MLA caches per token (its norms, its projections on the top principal directions).
 */
import type { AttentionPatterns, LatentKVView } from "../inspect/index.js";
import { Figure, type PlotlyTrace } from "./figure.js";
import { categoryY, cell, gridLayout, heatmap, num, rowHeight } from "./panels.js";

/** Layers x heads grid of attention patterns (rows: queries, columns: keys), 0..1. */
export function attentionFigure(a: AttentionPatterns): Figure {
  const H = a.layers[0]?.pattern.length ?? 0;
  const data: PlotlyTrace[] = [];
  const axes: { x: Record<string, unknown>; y: Record<string, unknown> }[] = [];
  a.layers.forEach((l, r) =>
    l.pattern.forEach((p, h) => {
      data.push(
        heatmap({
          z: p,
          x: a.tokens,
          y: a.tokens,
          zmin: 0,
          zmax: 1,
          axis: cell(r, h, H),
          name: `${l.name} head ${h}`,
          showscale: r === 0 && h === 0,
        }),
      );
      axes.push({
        x: { title: { text: `${l.name} head ${h} (keys)` }, type: "category" },
        y: categoryY(),
      });
    }),
  );
  return new Figure(
    {
      data,
      layout: gridLayout("Attention patterns (rows: queries)", a.layers.length, H, axes, {
        height: a.layers.length * rowHeight(a.tokens.length) + 80,
      }),
    },
    a.toString(),
  );
}

/** Per layer: ||c_kv|| per token (bars) and each token's projection on the top principal directions. */
export function latentFigure(v: LatentKVView): Figure {
  const data: PlotlyTrace[] = [];
  const axes: { x: Record<string, unknown>; y: Record<string, unknown> }[] = [];
  v.layers.forEach((l, r) => {
    const a = cell(r, 0, 2);
    data.push({
      type: "bar",
      x: v.tokens,
      y: l.norms,
      name: `${l.name} ||c_kv||`,
      ...(a > 1 ? { xaxis: `x${a}`, yaxis: `y${a}` } : {}),
    });
    const pcs = l.explained.map((e, i) => `PC${i + 1} (${(100 * e).toFixed(1)}%)`);
    const lim = Math.max(1e-9, ...l.projections.flat().map(Math.abs));
    data.push(
      heatmap({
        z: l.projections,
        x: pcs,
        y: v.tokens,
        colorscale: "RdBu",
        zmin: -lim,
        zmax: lim,
        axis: cell(r, 1, 2),
        name: `${l.name} projections`,
        showscale: r === 0,
      }),
    );
    axes.push(
      {
        x: { title: { text: `${l.name}: ||c_kv|| per token` }, type: "category" },
        y: { title: { text: "norm" } },
      },
      {
        x: { title: { text: `${l.name}: c_kv on its principal directions` }, type: "category" },
        y: categoryY(),
      },
    );
  });
  const lines = [v.toString()];
  for (const l of v.layers) {
    const top = [...l.norms.keys()].sort((x, y) => l.norms[y] - l.norms[x])[0];
    lines.push(
      `  ${l.name}: largest ||c_kv|| ${num(l.norms[top])} at ${JSON.stringify(v.tokens[top])}`,
    );
  }
  return new Figure(
    {
      data,
      layout: gridLayout(
        `Latent KV: what MLA caches (${v.rank} + ${v.ropeDim} per token per layer)`,
        v.layers.length,
        2,
        axes,
        { showlegend: false, height: v.layers.length * rowHeight(v.tokens.length) + 80 },
      ),
    },
    lines.join("\n"),
  );
}
