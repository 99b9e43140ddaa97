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
        xaxis: "x2",
        yaxis: "y2",
      });
    if (h.mainLayers > 0) {
      data.push({
        ...common,
        mode: "lines",
        name,
        showlegend: false,
        ...bucketed(steps, h.maxVioBatch(), points),
        xaxis: "x3",
        yaxis: "y3",
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
          xaxis: "x4",
          yaxis: "y4",
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
  const panel = (k: number, text: string) => ({
    text: `<b>${text}</b>`,
    xref: `x${k === 1 ? "" : k} domain`,
    yref: `y${k === 1 ? "" : k} domain`,
    x: 0.5,
    y: 1,
    yanchor: "bottom",
    showarrow: false,
  });
  const moe = entries.some(({ h }) => h.mainLayers > 0);
  return new Figure(
    {
      data,
      layout: {
        title: opts.title ?? `${entries.map((e) => e.name).join(" vs ")}`,
        grid: { rows: moe ? 2 : 1, columns: 2, pattern: "independent" },
        width: 760,
        height: moe ? 560 : 320,
        annotations: [
          panel(1, "train loss"),
          panel(2, "validation loss"),
          ...(moe ? [panel(3, "MaxVio_batch"), panel(4, "MaxVio_global")] : []),
        ],
        xaxis: { title: "step" },
        xaxis2: { title: "step" },
        ...(moe ? { xaxis3: { title: "step" }, xaxis4: { title: "step" } } : {}),
      },
    },
    `${entries.length} runs compared\n${rows.join("\n")}`,
  );
}
