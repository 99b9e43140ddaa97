/** Synthetic training histories for the viz tests and bench/viz.ts: no model needed. */
import { History, type StepRecord } from "../../../lib/train/index.js";
import type { ProgressState } from "../../../lib/train/progress.js";

/** A synthetic run: `n` steps, `layers` MoE layers of `experts` experts, evaluations every 50. */
export function syntheticHistory(n: number, layers = 4, experts = 16): History {
  const steps: StepRecord[] = [];
  for (let s = 1; s <= n; s++)
    steps.push({
      step: s,
      loss: 5 / Math.sqrt(s) + 1.1,
      main: 5 / Math.sqrt(s) + 1,
      mtp: 5 / Math.sqrt(s) + 1.3,
      balance: 0,
      lr: 1e-3,
      gradNorm: 0.5,
      tokensPerSec: 20000 + (s % 7) * 100,
      ms: 100,
      elapsed: s * 0.1,
      maxVio: Array.from({ length: layers }, (_, l) => 1 / (1 + s / 100) + l * 0.01),
      load: Array.from({ length: layers }, (_, l) =>
        Array.from({ length: experts }, (_, e) => 100 + ((e * 7 + l + s) % 13)),
      ),
      bias: [],
    });
  const evals = steps
    .filter((r) => r.step % 50 === 0)
    .map((r) => ({ step: r.step, valLoss: r.main + 0.1, maxVio: r.maxVio }));
  return History.fromJSON({
    layers: Array.from({ length: layers }, (_, l) => `blocks.${l + 1}.moe`),
    mainLayers: layers,
    steps,
    evals,
  });
}

export function stateOf(h: History, total: number): ProgressState {
  const last = h.lastStep!;
  return {
    status: h.steps.length >= total ? "done" : "running",
    step: last.step,
    totalSteps: total,
    totalSeconds: null,
    elapsed: last.elapsed,
    progress: last.step / total,
    eta: 10,
    loss: last.loss,
    main: last.main,
    mtp: last.mtp,
    valLoss: h.lastEval?.valLoss ?? null,
    lr: last.lr,
    gradNorm: last.gradNorm,
    tokensPerSec: last.tokensPerSec,
    maxVio: last.maxVio[0],
    message: "",
    history: h,
  };
}

/** What a kernel's display API received (display_data, or update_display_data when `update`). */
export interface Shown {
  bundle: Record<string, unknown>;
  displayId?: string;
  update?: boolean;
}

/** Installs a kernel display API on globalThis that records what a cell would send. */
export function fakeKernel(): { shown: Shown[]; remove(): void } {
  const KERNEL = Symbol.for("moelab.kernel");
  const shown: Shown[] = [];
  let ids = 0;
  (globalThis as Record<symbol, unknown>)[KERNEL] = {
    display(value: unknown, opts: { displayId?: string; update?: boolean } = {}) {
      const b = (value as Record<symbol, () => Record<string, unknown>>)[
        Symbol.for("Jupyter.display")
      ]();
      shown.push({ bundle: JSON.parse(JSON.stringify(b)), ...opts });
    },
    newDisplayId: () => `d${++ids}`,
  };
  return { shown, remove: () => delete (globalThis as Record<symbol, unknown>)[KERNEL] };
}

/**
 * The outputs a notebook saves from those messages (nbformat: display_data appends, an update
 * replaces the data of the output with its display id), as the cell's JSON.
 */
export function savedOutputs(shown: Shown[]): string {
  const outputs: { output_type: string; data: Record<string, unknown>; metadata: object }[] = [];
  const byId = new Map<string, number>();
  for (const s of shown) {
    if (s.update && s.displayId && byId.has(s.displayId)) {
      outputs[byId.get(s.displayId)!].data = s.bundle;
      continue;
    }
    if (s.update) continue;
    if (s.displayId) byId.set(s.displayId, outputs.length);
    outputs.push({ output_type: "display_data", data: s.bundle, metadata: {} });
  }
  return JSON.stringify(outputs, null, 1);
}
