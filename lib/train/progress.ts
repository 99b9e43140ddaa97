/**
 * The trainer's live output: ONE output that updates in place while fit() runs (a Jupyter display
 * id), a text progress bar in text/plain (what `moelab run` and terminals show) and a compact
 * table in text/html. Other views (lib/viz's dashboard) implement the same interface and are
 * passed as the trainer's `view` option.
 */
import { escapeHtml } from "../tensor/index.js";
import type { History } from "./history.js";

/** Where a run stands, as a view receives it. */
export interface ProgressState {
  status: "running" | "done" | "interrupted" | "failed";
  step: number;
  /** The run's target in steps, or null for a time budget. */
  totalSteps: number | null;
  /** The run's target in seconds, or null for a step count. */
  totalSeconds: number | null;
  /** Seconds of training so far (all fit() calls). */
  elapsed: number;
  /** 0..1 of the target. */
  progress: number;
  /** Seconds left, estimated from the recent steps (NaN before the first). */
  eta: number;
  /** The loss backpropagated (main + λ·MTP + balance). */
  loss: number;
  /** The main next-token cross-entropy: what "loss" shows, comparable with the validation loss. */
  main: number;
  mtp: number | null;
  valLoss: number | null;
  lr: number;
  gradNorm: number;
  tokensPerSec: number;
  /** MaxVio_batch averaged over the main MoE layers (NaN for a dense model). */
  maxVio: number;
  /** A last line ("interrupted at step 412", an error). */
  message: string;
  history: History;
}

/** What the trainer calls; it decides itself how often to redraw. */
export interface TrainerView {
  /** `final` is true on the last call of a fit(): always draw it. */
  update(state: ProgressState, final: boolean): void;
}

interface KernelDisplay {
  display(value: unknown, options?: { displayId?: string; update?: boolean }): void;
  newDisplayId(): string;
}

/** The kernel's display API when running in a moelab kernel (null in a plain script). */
export function kernelDisplay(): KernelDisplay | null {
  const k = (globalThis as Record<symbol, unknown>)[Symbol.for("moelab.kernel")] as
    KernelDisplay | undefined;
  return k && typeof k.display === "function" && typeof k.newDisplayId === "function" ? k : null;
}

export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return "-";
  s = Math.max(0, Math.round(s));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0
    ? `${h}h${String(m).padStart(2, "0")}m`
    : m > 0
      ? `${m}m${String(sec).padStart(2, "0")}s`
      : `${sec}s`;
}

const num = (x: number | null, d = 3): string =>
  x === null || !Number.isFinite(x) ? "-" : x.toFixed(d);
const sci = (x: number): string => (Number.isFinite(x) ? x.toExponential(2) : "-");

/** The text/plain line: a bar and the numbers. */
export function progressLine(s: ProgressState, width = 24): string {
  const filled = Math.round(Math.min(1, Math.max(0, s.progress)) * width);
  const bar = `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
  const where =
    s.totalSteps !== null
      ? `step ${s.step}/${s.totalSteps}`
      : `step ${s.step}, ${formatDuration(s.elapsed)}/${formatDuration(s.totalSeconds ?? NaN)}`;
  const parts = [
    `${bar} ${where}`,
    `loss ${num(s.main)}`,
    ...(s.mtp !== null ? [`mtp ${num(s.mtp)}`] : []),
    `val ${num(s.valLoss)}`,
    `${Math.round(s.tokensPerSec).toLocaleString("en-US")} tok/s`,
    s.status === "running" ? `ETA ${formatDuration(s.eta)}` : `${formatDuration(s.elapsed)}`,
    `lr ${sci(s.lr)}`,
    `|g| ${num(s.gradNorm)}`,
    ...(Number.isFinite(s.maxVio) ? [`MaxVio ${num(s.maxVio)}`] : []),
  ];
  return parts.join("  ") + (s.message ? `\n${s.message}` : "");
}

/** The text/html form: a bar and a one-row table. */
export function progressHtml(s: ProgressState): string {
  const pct = (Math.min(1, Math.max(0, s.progress)) * 100).toFixed(1);
  const colour = statusColour(s.status);
  const cells: [string, string][] = [
    ["step", s.totalSteps !== null ? `${s.step} / ${s.totalSteps}` : String(s.step)],
    ["train loss", num(s.main)],
    ...(s.mtp !== null ? ([["MTP loss", num(s.mtp)]] as [string, string][]) : []),
    ["val loss", num(s.valLoss)],
    ["tokens/s", Math.round(s.tokensPerSec).toLocaleString("en-US")],
    [
      s.status === "running" ? "ETA" : "time",
      formatDuration(s.status === "running" ? s.eta : s.elapsed),
    ],
    ["lr", sci(s.lr)],
    ["grad norm", num(s.gradNorm)],
    ...(Number.isFinite(s.maxVio) ? ([["MaxVio", num(s.maxVio)]] as [string, string][]) : []),
  ];
  return progressBox(pct, colour, cells, s.message);
}

/** A run's colour by status: failed red, interrupted amber, otherwise blue. */
export function statusColour(status: string): string {
  return status === "failed" ? "#d9534f" : status === "interrupted" ? "#f0ad4e" : "#4a90d9";
}

/**
 * The box both live outputs draw in text/html: an optional bold title, a bar filled to `pct`
 * percent, one table row of (name, value) cells, and an optional message below.
 */
export function progressBox(
  pct: string,
  colour: string,
  cells: [string, string][],
  message: string,
  title?: string,
): string {
  const head = cells.map(([k]) => `<th style="padding:0 8px">${escapeHtml(k)}</th>`).join("");
  const row = cells.map(([, v]) => `<td style="padding:0 8px">${escapeHtml(v)}</td>`).join("");
  return (
    `<div class="moelab-progress" style="font-family:sans-serif;font-size:13px">` +
    (title !== undefined ? `<b>${escapeHtml(title)}</b>` : "") +
    `<div style="width:100%;max-width:640px;height:10px;background:#eee;border-radius:5px;overflow:hidden">` +
    `<div style="width:${pct}%;height:100%;background:${colour}"></div></div>` +
    `<table style="font-variant-numeric:tabular-nums;margin-top:4px"><thead><tr>${head}</tr></thead>` +
    `<tbody><tr>${row}</tr></tbody></table>` +
    (message ? `<div>${escapeHtml(message)}</div>` : "") +
    `</div>`
  );
}

/**
 * One live output: in a kernel ONE output updated in place (a display id, at most every
 * `intervalMs`, and at the end); elsewhere a line on stdout every `printEveryMs` and at the end.
 * A final update ends it: the next update starts a new output.
 */
export class LiveOutput {
  private displayId: string | null = null;
  private last = 0;
  constructor(readonly opts: { intervalMs?: number; printEveryMs?: number } = {}) {}

  show(text: () => string, html: () => string, final: boolean): void {
    const now = Date.now();
    const k = kernelDisplay();
    const every = k ? (this.opts.intervalMs ?? 250) : (this.opts.printEveryMs ?? 10000);
    const started = k ? this.displayId !== null : this.last !== 0;
    if (!final && started && now - this.last < every) return;
    this.last = now;
    if (k) {
      const bundle = { "text/plain": text(), "text/html": html() };
      const value = { [Symbol.for("Jupyter.display")]: () => bundle };
      if (this.displayId === null) {
        this.displayId = k.newDisplayId();
        k.display(value, { displayId: this.displayId });
      } else k.display(value, { displayId: this.displayId, update: true });
    } else process.stdout.write(text() + "\n");
    if (final) {
      this.displayId = null;
      this.last = 0;
    }
  }
}

/**
 * The default view: in a kernel, one output updated in place (at most every `intervalMs`, and at
 * the end); elsewhere a line on stdout every `printEveryMs` and at the end.
 */
export class ProgressView implements TrainerView {
  private readonly out: LiveOutput;
  constructor(readonly opts: { intervalMs?: number; printEveryMs?: number } = {}) {
    this.out = new LiveOutput(opts);
  }
  update(state: ProgressState, final: boolean): void {
    this.out.show(
      () => progressLine(state),
      () => progressHtml(state),
      final,
    );
  }
}
