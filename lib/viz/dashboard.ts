/**
 * The training dashboard: the Trainer's live view as one figure (losses: train, validation, MTP;
 * tokens/s; MaxVio per MoE layer; expert load per layer) that updates in place while fit() runs
 * (display_data, then update_display_data under one display id, at most once per `intervalMs`),
 * never re-sends plotly.js (it goes out once, in an output of its own that no update replaces),
 * and ends as a static figure in the saved notebook (the final update carries the SVG).
 */
import { History } from "../train/history.js";
import {
  ProgressView,
  kernelDisplay,
  progressHtml,
  progressLine,
  type ProgressState,
  type TrainerView,
} from "../train/progress.js";
import { Figure, type FigureSpec, type MimeBundle, type PlotlyTrace } from "./figure.js";
import { figureHtml } from "./html.js";
import { plotlySent, takePlotly } from "./plotly.js";

export interface DashboardOptions {
  /** The least time between two in-place updates, in a kernel (default 1000 ms). */
  intervalMs?: number;
  /** Outside a kernel: a progress line on stdout every this many ms (default 10000). */
  printEveryMs?: number;
  /** Points per curve at most (default 100): the steps are averaged in equal buckets. */
  maxPoints?: number;
  /** MoE layers drawn at most (evenly chosen; default 8 while running, all in the final update). */
  maxLayers?: number;
  /** Columns of the load heatmap at most: more experts are averaged in groups (default 64 while running). */
  maxExperts?: number;
  /** All curves together at most this many points (default 400; the final, saved update gets four times as many), so an update stays small. */
  pointBudget?: number;
}

/** 4 significant digits: what a curve needs, and a third of the JSON of a full double. */
const sig = (v: number): number | null => (Number.isFinite(v) ? +v.toPrecision(4) : null);

const mean = (xs: number[]): number => {
  let s = 0;
  let n = 0;
  for (const x of xs)
    if (Number.isFinite(x)) {
      s += x;
      n++;
    }
  return n ? s / n : NaN;
};

/**
 * Step series averaged over equal buckets of steps: a curve of at most `points` values whose x
 * is x0 + k·dx (Plotly's x0/dx, each bucket at its first step), so the steps are not repeated in every trace.
 */
export function bucketed(
  steps: number[],
  values: number[],
  points: number,
): { x0: number; dx: number; y: (number | null)[] } {
  const n = values.length;
  if (n === 0) return { x0: 0, dx: 1, y: [] };
  const size = Math.max(1, Math.ceil(n / Math.max(1, points)));
  const y: (number | null)[] = [];
  for (let s = 0; s < n; s += size) y.push(sig(mean(values.slice(s, s + size))));
  // Each bucket sits at its first step; steps are consecutive within a run.
  const delta = n > 1 ? (steps[n - 1] - steps[0]) / (n - 1) || 1 : 1;
  return { x0: steps[0], dx: size * delta, y };
}

function panelTitle(k: number, text: string): Record<string, unknown> {
  const ax = k === 1 ? "" : String(k);
  return {
    text: `<b>${text}</b>`,
    xref: `x${ax} domain`,
    yref: `y${ax} domain`,
    x: 0.5,
    y: 1,
    yanchor: "bottom",
    showarrow: false,
    font: { size: 12 },
  };
}

/** The dashboard's figure for a history (and where the run stands, for its title). */
export function dashboardFigure(
  history: History,
  state: Partial<ProgressState> = {},
  opts: DashboardOptions = {},
): Figure {
  if (!(history instanceof History))
    throw new TypeError("dashboardFigure: history must be a trainer's History");
  const steps = history.steps;
  const stepNo = steps.map((r) => r.step);
  const main = history.mainLayers;
  const moe = main > 0 && steps.some((r) => r.load.length > 0);
  const hasMtp = steps.some((r) => r.mtp !== null);
  // The layers drawn: all, or evenly spaced ones (first and last included).
  const cap = Math.max(1, Math.floor(opts.maxLayers ?? Infinity));
  const shown =
    main <= cap
      ? Array.from({ length: main }, (_, l) => l)
      : [
          ...new Set(
            Array.from({ length: cap }, (_, k) => Math.round((k * (main - 1)) / (cap - 1 || 1))),
          ),
        ];
  const nCurves = 2 + (hasMtp ? 1 : 0) + (moe ? shown.length : 0);
  const points = Math.max(
    10,
    Math.min(opts.maxPoints ?? 100, Math.floor((opts.pointBudget ?? 400) / nCurves)),
  );
  const curve = (values: number[], extra: Partial<PlotlyTrace>): PlotlyTrace => {
    const b = bucketed(stepNo, values, points);
    return { type: "scatter", mode: "lines", ...b, ...extra };
  };
  const data: PlotlyTrace[] = [
    curve(
      steps.map((r) => r.main),
      { name: "train", line: { color: "#1f77b4", width: 2 } },
    ),
  ];
  if (hasMtp)
    data.push(
      curve(
        steps.map((r) => r.mtp ?? NaN),
        { name: "MTP", line: { color: "#2ca02c", width: 1.5, dash: "dash" } },
      ),
    );
  // Evaluations, evenly thinned to the points a curve gets (the last always kept).
  const evals = history.evals.filter(
    (_, k, all) =>
      all.length <= points ||
      k === all.length - 1 ||
      Math.floor((k * points) / all.length) !== Math.floor(((k - 1) * points) / all.length),
  );
  if (evals.length)
    data.push({
      type: "scatter",
      mode: evals.length > 40 ? "lines" : "lines+markers",
      name: "validation",
      x: evals.map((e) => e.step),
      y: evals.map((e) => sig(e.valLoss)),
      line: { color: "#ff7f0e", width: 2 },
      marker: { size: 6, color: "#ff7f0e" },
    });
  data.push(
    curve(
      steps.map((r) => r.tokensPerSec),
      {
        name: "tokens/s",
        showlegend: false,
        line: { color: "#7f7f7f", width: 1.5 },
        xaxis: "x2",
        yaxis: "y2",
      },
    ),
  );
  const annotations = [panelTitle(1, "loss (nats/token)"), panelTitle(2, "tokens/s")];
  if (moe) {
    const palette = ["#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#d62728", "#1f77b4"];
    for (const l of shown)
      data.push(
        curve(
          steps.map((r) => r.maxVio[l] ?? NaN),
          {
            name: `MaxVio ${history.layers[l] ?? l}`,
            line: { color: palette[l % palette.length], width: 1.5 },
            xaxis: "x3",
            yaxis: "y3",
          },
        ),
      );
    // Load over the last steps (up to 10), per expert, as a multiple of the balanced load.
    const recent = steps.slice(-10);
    const z: (number | null)[][] = [];
    let groupSize = 1;
    for (const l of shown) {
      const experts = recent[recent.length - 1].load[l]?.length ?? 0;
      const sum = new Array<number>(experts).fill(0);
      for (const r of recent) (r.load[l] ?? []).forEach((v, e) => (sum[e] += v));
      const avg = sum.reduce((a, b) => a + b, 0) / Math.max(1, experts);
      // Two decimals say how far from balanced; more only add bytes.
      const group = Math.max(1, Math.ceil(experts / Math.max(1, opts.maxExperts ?? Infinity)));
      const rel: (number | null)[] = [];
      for (let e = 0; e < experts; e += group) {
        const g = sum.slice(e, e + group);
        const v = g.reduce((a, b) => a + b, 0) / g.length;
        rel.push(avg > 0 ? Math.round((v / avg) * 100) / 100 : null);
      }
      z.push(rel);
      groupSize = group;
    }
    data.push({
      type: "heatmap",
      z,
      y: shown.map((l) => history.layers[l] ?? String(l)),
      ...(groupSize > 1 ? { x0: 0, dx: groupSize } : {}),
      colorscale: "RdBu",
      reversescale: true,
      // 0 (idle) to 2 (twice its share), white at 1 (balanced); heavier loads saturate.
      zmin: 0,
      zmax: 2,
      colorbar: { title: "load / balanced", len: 0.4, y: 0.2 },
      xaxis: "x4",
      yaxis: "y4",
    });
    annotations.push(
      panelTitle(3, "MaxVio per layer"),
      panelTitle(
        4,
        `expert load, last ${recent.length} steps` +
          (groupSize > 1 ? ` (groups of ${groupSize})` : ""),
      ),
    );
  }
  const title =
    state.step === undefined
      ? undefined
      : `step ${state.step}${state.totalSteps ? `/${state.totalSteps}` : ""}` +
        (Number.isFinite(state.main) ? `  ·  train ${state.main!.toFixed(3)}` : "") +
        (state.valLoss != null ? `  ·  val ${state.valLoss.toFixed(3)}` : "") +
        (Number.isFinite(state.tokensPerSec)
          ? `  ·  ${Math.round(state.tokensPerSec!).toLocaleString("en-US")} tok/s`
          : "") +
        (state.status && state.status !== "running" ? `  ·  ${state.status}` : "");
  const layout: Record<string, unknown> = {
    grid: { rows: moe ? 2 : 1, columns: 2, pattern: "independent", xgap: 0.3, ygap: 0.35 },
    height: moe ? 560 : 320,
    width: 760,
    margin: { l: 60, r: 30, t: 50, b: 40 },
    annotations,
    legend: { orientation: "h", x: 0, y: -0.08 },
    xaxis: { title: "step" },
    xaxis2: { title: "step" },
    ...(moe ? { xaxis3: { title: "step" }, xaxis4: { title: "expert" } } : {}),
    ...(title ? { title: { text: title, font: { size: 14 } } } : {}),
  };
  const last = steps[steps.length - 1];
  const summary =
    steps.length === 0
      ? "Training dashboard (no steps yet)"
      : `Training dashboard: ${steps.length} steps; train loss ${last.main.toFixed(3)}` +
        (history.lastEval ? `, validation ${history.lastEval.valLoss.toFixed(3)}` : "") +
        `, ${Math.round(last.tokensPerSec)} tokens/s` +
        (moe ? `, MaxVio ${mean(last.maxVio.slice(0, main)).toFixed(3)}` : "");
  return new Figure({ data, layout } as FigureSpec, summary);
}

/**
 * The Trainer's view as a live Plotly dashboard (lib/index.ts makes it the default). Outside a
 * kernel it prints the text progress line, as the plain ProgressView does.
 */
export class Dashboard implements TrainerView {
  private displayId: string | null = null;
  private last = 0;
  private readonly text: ProgressView;
  /** Bytes of each bundle sent (JSON length), for budgets: [first, ...updates]. */
  readonly sent: number[] = [];

  constructor(readonly opts: DashboardOptions = {}) {
    for (const k of [
      "intervalMs",
      "printEveryMs",
      "maxPoints",
      "pointBudget",
      "maxLayers",
      "maxExperts",
    ] as const) {
      const v = opts[k];
      if (v !== undefined && (typeof v !== "number" || !(v >= 0)))
        throw new TypeError(`Dashboard: ${k} must be a number >= 0, got ${String(v)}`);
    }
    this.text = new ProgressView({ printEveryMs: opts.printEveryMs });
  }

  /** The bundle shown for a state: without the SVG while running, with it at the end. */
  bundle(state: ProgressState, final: boolean): MimeBundle {
    const o = this.opts;
    const fig = dashboardFigure(
      state.history,
      state,
      final
        ? { maxPoints: 4 * (o.maxPoints ?? 100), pointBudget: 4 * (o.pointBudget ?? 400) }
        : { maxLayers: 8, maxExperts: 64, ...o },
    );
    const spec = fig.plotly();
    const svg = final ? fig.toSVG() : undefined;
    const out: MimeBundle = {
      "text/plain": progressLine(state),
      "application/vnd.plotly.v1+json": spec,
      "text/html":
        progressHtml(state) + figureHtml(spec, { svg, alt: fig.summary, library: "", ...fig.size }),
    };
    if (svg) out["image/svg+xml"] = svg;
    return out;
  }

  update(state: ProgressState, final: boolean): void {
    const k = kernelDisplay();
    if (!k) {
      this.text.update(state, final);
      return;
    }
    const now = Date.now();
    if (!final && this.displayId !== null && now - this.last < (this.opts.intervalMs ?? 1000))
      return;
    this.last = now;
    if (this.displayId === null && !plotlySent()) {
      // plotly.js in an output of its own: updates replace the dashboard, never the library.
      const lib = { "text/plain": "", "text/html": takePlotly() };
      k.display({ [Symbol.for("Jupyter.display")]: () => lib });
    }
    const bundle = this.bundle(state, final);
    this.sent.push(JSON.stringify(bundle).length);
    const value = { [Symbol.for("Jupyter.display")]: () => bundle };
    if (this.displayId === null) {
      this.displayId = k.newDisplayId();
      k.display(value, { displayId: this.displayId });
    } else k.display(value, { displayId: this.displayId, update: true });
    if (final) this.displayId = null;
  }
}
