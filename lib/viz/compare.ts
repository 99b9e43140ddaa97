/**
 * Comparing runs: several training histories (e.g. balance "bias" vs "aux" vs "none") on one
 * figure, one colour per run: train loss, validation loss, MaxVio_batch and MaxVio_global.
 */
import { History } from "../train/history.js";
import { COLORWAY } from "./svg/color.js";
import { bucketed } from "./dashboard.js";
import { Figure, type PlotlyTrace } from "./figure.js";

export interface CompareOptions {
  /** Points per curve at most (default 200; steps are averaged in equal buckets). */
  maxPoints?: number;
  title?: string;
}

type Run = History | { history: History };

/** One figure of several runs, given as { name: history or trainer }. */
export function compareRuns(runs: Record<string, Run>, opts: CompareOptions = {}): Figure {
  if (!runs || typeof runs !== "object" || Array.isArray(runs))
    throw new TypeError(
      "compareRuns: expected { name: history, ... }, e.g. { bias: t1.history, aux: t2.history }",
    );
  const entries = Object.entries(runs).map(([name, r]) => {
    const h = r instanceof History ? r : (r as { history?: unknown })?.history;
    if (!(h instanceof History))
      throw new TypeError(`compareRuns: run ${JSON.stringify(name)} is not a History or a Trainer`);
    if (h.steps.length === 0)
      throw new RangeError(`compareRuns: run ${JSON.stringify(name)} has no steps`);
    return { name, h };
  });
  if (entries.length === 0) throw new RangeError("compareRuns: no runs given");
  const points = opts.maxPoints ?? 200;
  const hasVal = entries.some(({ h }) => h.evals.length > 0);
  const moe = entries.some(({ h }) => h.mainLayers > 0);
  // Only the panels some run has data for, in reading order.
  const panels = [
    "train loss",
    ...(hasVal ? ["validation loss"] : []),
    ...(moe ? ["MaxVio_batch"] : []),
    ...(moe && hasVal ? ["MaxVio_global"] : []),
  ];
  const axes = (panel: string) => {
    const k = panels.indexOf(panel) + 1;
    return k === 1 ? {} : { xaxis: `x${k}`, yaxis: `y${k}` };
  };
  const data: PlotlyTrace[] = [];
  const rows: string[] = [];
  entries.forEach(({ name, h }, k) => {
    const color = COLORWAY[k % COLORWAY.length];
    const steps = h.steps.map((r) => r.step);
    const common = { type: "scatter" as const, legendgroup: name, line: { color, width: 2 } };
    data.push({ ...common, mode: "lines", name, ...bucketed(steps, h.column("main"), points) });
    if (h.evals.length)
      data.push({
        ...common,
        mode: "lines+markers",
        name,
        showlegend: false,
        x: h.evals.map((e) => e.step),
        y: h.evals.map((e) => e.valLoss),
        marker: { color, size: 5 },
        ...axes("validation loss"),
      });
    if (h.mainLayers > 0) {
      data.push({
        ...common,
        mode: "lines",
        name,
        showlegend: false,
        ...bucketed(steps, h.maxVioBatch(), points),
        ...axes("MaxVio_batch"),
      });
      if (h.evals.length)
        data.push({
          ...common,
          mode: "lines+markers",
          name,
          showlegend: false,
          x: h.evals.map((e) => e.step),
          y: h.maxVioGlobal(),
          marker: { color, size: 5 },
          ...axes("MaxVio_global"),
        });
    }
    const last = h.lastStep!;
    const ev = h.lastEval;
    const mvg = h.maxVioGlobal();
    rows.push(
      `${name}: ${h.steps.length} steps, train ${last.main.toFixed(4)}` +
        (ev ? `, validation ${ev.valLoss.toFixed(4)} at step ${ev.step}` : "") +
        (mvg.length && Number.isFinite(mvg[mvg.length - 1])
          ? `, MaxVio_global ${mvg[mvg.length - 1].toFixed(3)}`
          : ""),
    );
  });
  const gridRows = Math.ceil(panels.length / 2);
  const layoutAxes: Record<string, unknown> = {};
  panels.forEach((_, k) => (layoutAxes[`xaxis${k === 0 ? "" : k + 1}`] = { title: "step" }));
  const annotations = panels.map((text, k) => ({
    text: `<b>${text}</b>`,
    xref: `x${k === 0 ? "" : k + 1} domain`,
    yref: `y${k === 0 ? "" : k + 1} domain`,
    x: 0.5,
    y: 1,
    yanchor: "bottom",
    showarrow: false,
  }));
  return new Figure(
    {
      data,
      layout: {
        title: opts.title ?? `${entries.map((e) => e.name).join(" vs ")}`,
        grid: { rows: gridRows, columns: Math.min(2, panels.length), pattern: "independent" },
        width: 760,
        height: 40 + 280 * gridRows,
        annotations,
        ...layoutAxes,
      },
    },
    `${entries.length} runs compared\n${rows.join("\n")}`,
  );
}
