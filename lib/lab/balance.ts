/**
 * Loss-Free Balancing in miniature (the LFB paper's Table 2): the same model trained with the
 * gate-bias rule ("bias"), the auxiliary loss ("aux") or neither ("none"), compared on
 * MaxVio_global and validation loss.
 */
import type { ConfigFields } from "../config/index.js";
import { Transformer } from "../model/index.js";
import { Trainer, type History, type TrainerOptions } from "../train/index.js";
import { BENCH_CONFIG, benchTrainerOptions, type BrownBytes } from "./setup.js";
import { mean } from "./stats.js";

export interface BalanceArm {
  name: string;
  opts: Partial<TrainerOptions>;
  /** What the arm does, in a few words. */
  what: string;
}

/** The arms: one "bias" arm per γ (the first named "bias"), "aux" (α 0.001) and "none". */
export function balanceArms(gammas: readonly number[] = [0.001]): BalanceArm[] {
  return [
    ...gammas.map((g, i) => ({
      name: i === 0 ? "bias" : `bias γ ${g}`,
      opts: { balance: "bias" as const, biasUpdateSpeed: g },
      what: `loss-free: γ ${g}, sequence-wise α 1e-4`,
    })),
    { name: "aux", opts: { balance: "aux", auxAlpha: 0.001 }, what: "auxiliary loss α 0.001" },
    { name: "none", opts: { balance: "none" }, what: "neither" },
  ];
}

export interface BalanceMetrics {
  /** The last evaluation's validation loss. */
  val: number;
  /** The last evaluation's MaxVio_global, averaged over the main MoE layers. */
  maxVioGlobal: number;
  /** MaxVio_batch (mean over the main MoE layers and the 10% of steps before) at each fraction. */
  maxVioBatch: number[];
}

/** The numbers the LFB paper reports, read from a finished run's history. */
export function balanceMetrics(
  history: History,
  steps: number,
  trajectory: readonly number[] = [0.25, 0.5, 0.75, 1],
): BalanceMetrics {
  const ev = history.evals[history.evals.length - 1];
  if (!ev) throw new RangeError("balanceMetrics: the run has no evaluation");
  const main = history.mainLayers;
  const w = Math.max(1, Math.round(steps / 10));
  const batchVio = (upTo: number): number =>
    mean(
      history.steps.slice(Math.max(0, upTo - w), upTo).map((s) => mean(s.maxVio.slice(0, main))),
    );
  return {
    val: ev.valLoss,
    maxVioGlobal: mean(ev.maxVio.slice(0, main)),
    maxVioBatch: trajectory.map((q) => batchVio(Math.round(q * steps))),
  };
}

/**
 * Trains one arm from scratch: the benchmark's model with the gate bias (or `config`), its
 * optimizer with `warmup` steps, `steps` steps, evaluated every `evalEvery` (0: at the end).
 */
export async function runBalanceArm(
  data: BrownBytes | Pick<BrownBytes, "train" | "validation">,
  arm: BalanceArm,
  opts: {
    steps: number;
    warmup: number;
    seed?: number;
    evalEvery?: number;
    config?: ConfigFields;
    trainer?: Partial<TrainerOptions>;
  },
): Promise<{ trainer: Trainer; metrics: BalanceMetrics }> {
  const seed = opts.seed ?? 0;
  const model = Transformer.create(opts.config ?? { ...BENCH_CONFIG, routing: "noaux_tc" }, {
    seed,
  });
  const trainer = new Trainer(
    model,
    { train: data.train, validation: data.validation },
    benchTrainerOptions(opts.warmup, { seed, ...opts.trainer, ...arm.opts }),
  );
  await trainer.fit({ steps: opts.steps, evalEvery: opts.evalEvery ?? 0 });
  return { trainer, metrics: balanceMetrics(trainer.history, opts.steps) };
}

/** Table 2 of the LFB paper: validation perplexity / MaxVio_global. */
export const LFB_TABLE2 = Object.freeze([
  { model: "1B (100B tokens)", aux: { ppl: 9.56, maxVio: 0.72 }, bias: { ppl: 9.5, maxVio: 0.04 } },
  {
    model: "3B (200B tokens)",
    aux: { ppl: 7.97, maxVio: 0.52 },
    bias: { ppl: 7.92, maxVio: 0.04 },
  },
]);
