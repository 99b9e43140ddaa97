/**
 * Expert load: per MoE layer, tokens per expert with the balanced line and MaxVio; a layer x
 * expert heatmap of load relative to balance; load and bias over training steps (a History).
 */
import type { Routing } from "../inspect/index.js";
import type { History } from "../train/index.js";
import { maxVio } from "../train/index.js";
import { Figure, type PlotlyTrace } from "./figure.js";
import { cell, gridLayout, heatmap, num } from "./panels.js";

const expertNames = (E: number): string[] => [...Array(E).keys()].map((e) => `E${e}`);

/** One bar chart per MoE layer: tokens per expert, a line at the balanced load n·k/E. */
export function expertLoadFigure(r: Routing): Figure {
  const x = expertNames(r.experts);
  const balanced = (r.tokens * r.k) / r.experts;
  const data: PlotlyTrace[] = [];
  const shapes: Record<string, unknown>[] = [];
  const axes = r.layers.map((l, i) => {
    const a = cell(i, 0, 1);
    data.push({
      type: "bar",
      x,
      y: Array.from(l.counts),
      name: l.name,
      ...(a > 1 ? { xaxis: `x${a}`, yaxis: `y${a}` } : {}),
    });
    shapes.push({
      type: "line",
      xref: a > 1 ? `x${a}` : "x",
      yref: a > 1 ? `y${a}` : "y",
      x0: -0.5,
      x1: r.experts - 0.5,
      y0: balanced,
      y1: balanced,
      line: { dash: "dash", color: "black" },
    });
    return {
      x: { title: { text: `${l.name}: MaxVio ${num(l.maxVio, 3)}` }, type: "category" },
      y: { title: { text: "tokens" } },
    };
  });
  const lines = [
    `Expert load over ${r.tokens} tokens, top-${r.k} of ${r.experts} experts (balanced: ${num(balanced)} per expert):`,
    ...r.layers.map(
      (l) =>
        `  ${l.name}: MaxVio ${num(l.maxVio, 3)}; tokens per expert ${Array.from(l.counts).join(" ")}`,
    ),
  ];
  return new Figure(
    {
      data,
      layout: gridLayout("Expert load (dashed: balanced)", r.layers.length, 1, axes, {
        shapes,
        showlegend: false,
      }),
    },
    lines.join("\n"),
  );
}

/** Layer x expert heatmap of load / balanced load (1: balanced); cells show the token counts. */
export function loadHeatmapFigure(r: Routing): Figure {
  const balanced = (r.tokens * r.k) / r.experts;
  const z = r.layers.map((l) => Array.from(l.counts, (c) => c / balanced));
  const hi = Math.max(2, ...z.flat());
  return new Figure(
    {
      data: [
        heatmap({
          z,
          x: expertNames(r.experts),
          y: r.layers.map((l) => l.name),
          zmin: 0,
          zmax: hi,
          colorscale: "RdBu",
          text: r.layers.map((l) => Array.from(l.counts, String)),
        }),
      ],
      layout: {
        title: { text: "Load relative to balance (1 = balanced)" },
        xaxis: { title: { text: "expert" }, type: "category" },
        yaxis: { title: { text: "layer" }, autorange: "reversed", type: "category" },
      },
    },
    [
      `Load relative to balance (${num(balanced)} tokens per expert), per layer:`,
      ...r.layers.map(
        (l, i) =>
          `  ${l.name}: max ${num(Math.max(...z[i]), 3)}, min ${num(Math.min(...z[i]), 3)}, MaxVio ${num(l.maxVio, 3)}`,
      ),
    ].join("\n"),
  );
}

/**
 * Per MoE layer of a training History: each expert's load relative to balance over the steps
 * (left) and its selection bias (right; empty without one).
 */
export function loadTrajectoryFigure(h: History): Figure {
  if (h.steps.length === 0)
    throw new RangeError("loadTrajectoryFigure: the history has no steps yet");
  const steps = h.steps.map((s) => s.step);
  const data: PlotlyTrace[] = [];
  const axes: { x: Record<string, unknown>; y: Record<string, unknown> }[] = [];
  const lines = [
    `Load and bias over ${h.steps.length} steps (${steps[0]}..${steps[steps.length - 1]}):`,
  ];
  h.layers.forEach((name, L) => {
    const E = h.steps[0].load[L]?.length ?? 0;
    const share = h.steps.map((s) => {
      const tot = s.load[L].reduce((a, b) => a + b, 0);
      return s.load[L].map((c) => (tot > 0 ? (c * E) / tot : 0));
    });
    const hasBias = h.steps.some((s) => (s.bias[L]?.length ?? 0) > 0);
    for (let e = 0; e < E; e++) {
      const a = cell(L, 0, 2);
      data.push({
        type: "scatter",
        mode: "lines",
        x: steps,
        y: share.map((r) => r[e]),
        name: `${name} E${e} load`,
        ...(a > 1 ? { xaxis: `x${a}`, yaxis: `y${a}` } : {}),
      });
      if (hasBias) {
        const b = cell(L, 1, 2);
        data.push({
          type: "scatter",
          mode: "lines",
          x: steps,
          y: h.steps.map((s) => s.bias[L]?.[e] ?? null),
          name: `${name} E${e} bias`,
          xaxis: `x${b}`,
          yaxis: `y${b}`,
        });
      }
    }
    axes.push(
      { x: { title: { text: "step" } }, y: { title: { text: `${name}: load / balanced` } } },
      { x: { title: { text: "step" } }, y: { title: { text: `${name}: bias` } } },
    );
    const first = h.steps[0];
    const last = h.steps[h.steps.length - 1];
    const bias = last.bias[L] ?? [];
    lines.push(
      `  ${name}: MaxVio ${num(maxVio(first.load[L]), 3)} at step ${first.step} -> ${num(maxVio(last.load[L]), 3)} at step ${last.step}` +
        (bias.length
          ? `; bias from ${num(Math.min(...bias), 3)} to ${num(Math.max(...bias), 3)}`
          : "; no bias"),
    );
  });
  return new Figure(
    {
      data,
      layout: gridLayout("Expert load and bias over training", h.layers.length, 2, axes, {
        showlegend: false,
      }),
    },
    lines.join("\n"),
  );
}

/** Per MoE layer, how often experts i and j serve the same token (tokens per pair; diagonal: load). */
export function coActivationFigure(r: Routing): Figure {
  const x = expertNames(r.experts);
  const E = r.experts;
  const data: PlotlyTrace[] = [];
  const lines = [
    `Expert co-activation over ${r.tokens} tokens (top-${r.k}): the most frequent pair per layer`,
  ];
  const axes = r.layers.map((l, i) => {
    const z = x.map((_, a) => Array.from(l.coActivation.subarray(a * E, (a + 1) * E)));
    data.push(
      heatmap({ z, x, y: x, zmin: 0, axis: cell(i, 0, 1), name: l.name, showscale: i === 0 }),
    );
    let best = [0, 1];
    for (let a = 0; a < E; a++)
      for (let b = a + 1; b < E; b++) if (z[a][b] > z[best[0]][best[1]]) best = [a, b];
    lines.push(`  ${l.name}: E${best[0]} + E${best[1]} on ${z[best[0]][best[1]]} tokens`);
    return {
      x: { title: { text: `${l.name}: tokens routed to both` }, type: "category" },
      y: { type: "category", autorange: "reversed" },
    };
  });
  return new Figure(
    { data, layout: gridLayout("Expert co-activation", r.layers.length, 1, axes) },
    lines.join("\n"),
  );
}
