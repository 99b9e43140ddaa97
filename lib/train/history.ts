/**
 * A training run's metrics: one row per optimizer step and one per evaluation, kept as plain
 * numbers (saved in checkpoints as JSON) and displayed as a table. Charts of it come from lib/viz.
 */
import { escapeHtml } from "../tensor/index.js";

/** The metrics of one optimizer step. */
export interface StepRecord {
  step: number;
  /** The loss backpropagated: main + λ·MTP + balance losses. */
  loss: number;
  /** Main next-token cross-entropy (nats per token). */
  main: number;
  /** Mean MTP cross-entropy over the depths, or null without MTP. */
  mtp: number | null;
  /** Sum of the balance losses (sequence-wise and/or auxiliary), 0 when off. */
  balance: number;
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  tokensPerSec: number;
  /** Wall-clock milliseconds of the step. */
  ms: number;
  /** Seconds of training so far, this step included. */
  elapsed: number;
  /** MaxVio_batch of each MoE layer (history.layers names them). */
  maxVio: number[];
  /** Tokens routed to each expert of each MoE layer over the step's batch. */
  load: number[][];
  /** Each MoE layer's selection bias after the step's update (empty without a bias). */
  bias: number[][];
}

/** The metrics of one evaluation on the validation split. */
export interface EvalRecord {
  step: number;
  /** Main next-token cross-entropy on the validation windows (nats per token). */
  valLoss: number;
  /** MaxVio_global of each MoE layer: the load over all validation windows. */
  maxVio: number[];
}

const mean = (xs: number[]): number =>
  xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length;

function fmt(x: number | null, digits = 4): string {
  if (x === null || Number.isNaN(x)) return "-";
  if (x !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e5)) return x.toExponential(2);
  return x.toFixed(digits);
}

export class History {
  /** The MoE layers' hook paths, in the order of every per-layer array ("blocks.1.moe", ...). */
  layers: string[] = [];
  /** How many of `layers` are main layers (the rest are MTP modules). */
  mainLayers = 0;
  readonly steps: StepRecord[] = [];
  readonly evals: EvalRecord[] = [];

  get lastStep(): StepRecord | undefined {
    return this.steps[this.steps.length - 1];
  }
  get lastEval(): EvalRecord | undefined {
    return this.evals[this.evals.length - 1];
  }

  /** One metric of every step, e.g. history.column("loss"). */
  column(key: "loss" | "main" | "balance" | "lr" | "gradNorm" | "tokensPerSec" | "ms"): number[] {
    return this.steps.map((r) => r[key]);
  }

  /** MaxVio_batch averaged over the main MoE layers (the paper's definition), per step. */
  maxVioBatch(): number[] {
    return this.steps.map((r) => mean(r.maxVio.slice(0, this.mainLayers)));
  }

  /** MaxVio_global averaged over the main MoE layers, per evaluation. */
  maxVioGlobal(): number[] {
    return this.evals.map((r) => mean(r.maxVio.slice(0, this.mainLayers)));
  }

  toJSON(): object {
    return {
      layers: this.layers,
      mainLayers: this.mainLayers,
      steps: this.steps,
      evals: this.evals,
    };
  }

  /** A history from toJSON()'s form (a checkpoint's). */
  static fromJSON(json: unknown): History {
    const o = json as { layers?: unknown; mainLayers?: unknown; steps?: unknown; evals?: unknown };
    if (
      !o ||
      !Array.isArray(o.layers) ||
      !Array.isArray(o.steps) ||
      !Array.isArray(o.evals) ||
      typeof o.mainLayers !== "number"
    )
      throw new TypeError("history: expected { layers, mainLayers, steps, evals }");
    const h = new History();
    h.layers = o.layers.map(String);
    h.mainLayers = o.mainLayers;
    h.steps.push(...(o.steps as StepRecord[]));
    h.evals.push(...(o.evals as EvalRecord[]));
    return h;
  }

  /** Rows shown: every step when few, else evenly spaced ones and the last. */
  private shownSteps(max = 12): StepRecord[] {
    const n = this.steps.length;
    if (n <= max) return this.steps;
    const out: StepRecord[] = [];
    for (let i = 0; i < max - 1; i++) out.push(this.steps[Math.floor((i * (n - 1)) / (max - 1))]);
    out.push(this.steps[n - 1]);
    return out;
  }

  private rows(): { head: string[]; rows: string[][] } {
    const evalAt = new Map(this.evals.map((e) => [e.step, e]));
    const hasMtp = this.steps.some((r) => r.mtp !== null);
    const head = ["step", "loss", "main", ...(hasMtp ? ["mtp"] : []), "val", "lr", "grad norm"];
    head.push("MaxVio", "tokens/s");
    const rows = this.shownSteps().map((r) => {
      const e = evalAt.get(r.step);
      return [
        String(r.step),
        fmt(r.loss),
        fmt(r.main),
        ...(hasMtp ? [fmt(r.mtp)] : []),
        e ? fmt(e.valLoss) : "",
        fmt(r.lr, 6),
        fmt(r.gradNorm, 3),
        fmt(mean(r.maxVio.slice(0, this.mainLayers)), 3),
        r.tokensPerSec.toFixed(0),
      ];
    });
    return { head, rows };
  }

  toString(): string {
    if (this.steps.length === 0) return "History (no steps yet)";
    const { head, rows } = this.rows();
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (r: string[]): string => r.map((c, i) => c.padStart(w[i])).join("  ");
    const ev = this.lastEval;
    return [
      `History: ${this.steps.length} steps, ${this.evals.length} evaluations` +
        (ev ? `; last validation loss ${fmt(ev.valLoss)} at step ${ev.step}` : ""),
      line(head),
      ...rows.map(line),
    ].join("\n");
  }

  [Symbol.for("Jupyter.display")](): Record<string, string> {
    if (this.steps.length === 0) return { "text/plain": this.toString() };
    const { head, rows } = this.rows();
    const th = head.map((h) => `<th>${escapeHtml(h)}</th>`).join("");
    const trs = rows
      .map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join("")}</tr>`)
      .join("");
    const html =
      `<div class="moelab-history"><b>History</b>: ${this.steps.length} steps, ${this.evals.length} evaluations` +
      `<table style="font-variant-numeric:tabular-nums"><thead><tr>${th}</tr></thead><tbody>${trs}</tbody></table></div>`;
    return { "text/plain": this.toString(), "text/html": html };
  }
}
