/**
 * GRPO (DeepSeekMath eq. 3-4), R1-Zero style: for each prompt q, G completions o_1..o_G from the
 * policy (batched generation with the latent KV cache), rule-based rewards r_i, and
 *
 *   Â_i       = (r_i − mean(r)) / (std(r) + 1e-4)              (group-normalised, every token)
 *   ρ_{i,t}   = π_θ(o_{i,t} | q, o_{i,<t}) / π_old(o_{i,t} | q, o_{i,<t})
 *   D_KL      = π_ref/π_θ − log(π_ref/π_θ) − 1                  (the k3 estimator, ≥ 0)
 *   J         = mean_i (1/|o_i|) Σ_t [ min(ρ Â, clip(ρ, 1−ε, 1+ε) Â) − β D_KL ]
 *
 * maximised with μ AdamW updates per batch of samples (π_old is the policy that sampled). The
 * reference π_ref is a frozen copy of the starting model unless one is given.
 *
 * Defaults (settable): G = 8 completions per prompt, 8 prompts per step, ε = 0.2, β = 0.04
 * (DeepSeekMath), μ = 1, temperature 1, maxNewTokens 64, lr 1e-4 constant (notebook-size models
 * need more than DeepSeekMath's 1e-6), clip 1, weight decay 0.
 *
 *   const grpo = new GRPOTrainer(model, prompts, { reward, accuracy, format, groupSize: 8 });
 *   await grpo.fit({ steps: 100 });     // one live output: reward, accuracy, KL, clip, entropy
 */
import * as T from "../tensor/index.js";
import { Rng } from "../tensor/index.js";
import { callReward, type RewardFn } from "../data/index.js";
import type { Transformer } from "../model/index.js";
import {
  PostTrainer,
  checkNumber,
  frozenCopy,
  perRowMeanWeights,
  show,
  tokenLogProbs,
  type PostFitOptions,
  type PostOptions,
  type PostRecord,
} from "./post.js";
import { checkSampling, sampleCompletions, type Sample } from "./sampling.js";
import { checkTeacher } from "./sft.js";
import { IGNORE, packPairs, quote, tokenizerOf } from "./sequences.js";

export interface GRPOOptions extends PostOptions {
  /** The reward maximised: a function of (prompt, completion). Required. */
  reward: RewardFn;
  /** Reported, not optimised: accuracy (1 right / 0) and format (1 well formed / 0) per completion. */
  accuracy?: RewardFn;
  format?: RewardFn;
  /** G: completions per prompt (default 8). G = 1 leaves no group baseline (every Â is 0). */
  groupSize?: number;
  /** Prompts per step (default 8): a step samples promptsPerStep × G completions. */
  promptsPerStep?: number;
  /** ε of the clipped ratio (default 0.2). */
  epsilon?: number;
  /** β of the k3 KL penalty against the reference (default 0.04; 0 skips the reference). */
  beta?: number;
  /** μ: policy updates per batch of samples (default 1). */
  mu?: number;
  /**
   * Sampling temperature (default 1) and top-k (default 0: all tokens). The ratio, the KL and the
   * entropy are those of the tempered distribution (logits / temperature), the one sampled from.
   */
  temperature?: number;
  topK?: number;
  /** Tokens per completion at most (default 64). */
  maxNewTokens?: number;
  /** The frozen reference model (default: a copy of the model as the trainer is made). */
  reference?: Transformer | null;
}

/**
 * One GRPO step: reward (mean), accuracy and format (rates, NaN when not given), length (mean
 * completion tokens), kl (mean k3 per token), clipFrac (tokens whose ratio left [1−ε, 1+ε] on the
 * last update), entropy (mean per token, nats), loss, gradNorm, lr, sampleTokensPerSec,
 * trainTokensPerSec.
 */
export interface GRPORecord extends PostRecord {
  reward: number;
  accuracy: number;
  format: number;
  length: number;
  kl: number;
  clipFrac: number;
  entropy: number;
  loss: number;
  gradNorm: number;
  lr: number;
  sampleTokensPerSec: number;
  trainTokensPerSec: number;
}

/**
 * Group-normalised advantages: (r_i − mean(r)) / (std(r) + eps) per group of G consecutive
 * rewards (std over the group, population form). An empty group is an error.
 */
export function groupAdvantages(rewards: readonly number[], G: number, eps = 1e-4): number[] {
  if (!Number.isInteger(G) || G < 1)
    throw new RangeError(`groupAdvantages: the group size must be an integer >= 1, got ${G}`);
  if (rewards.length === 0)
    throw new RangeError("groupAdvantages: the group is empty (no rewards)");
  if (rewards.length % G !== 0)
    throw new RangeError(
      `groupAdvantages: ${rewards.length} rewards do not split into groups of ${G}`,
    );
  const out: number[] = [];
  for (let s = 0; s < rewards.length; s += G) {
    const g = rewards.slice(s, s + G);
    const m = g.reduce((a, b) => a + b, 0) / G;
    const sd = Math.sqrt(g.reduce((a, b) => a + (b - m) ** 2, 0) / G);
    for (const r of g) out.push((r - m) / (sd + eps));
  }
  return out;
}

/** Schulman's k3 estimator of KL(π_θ ‖ π_ref) from log-probabilities: e^(ref−θ) − (ref−θ) − 1. */
export function k3(logpPolicy: number, logpRef: number): number {
  const d = logpRef - logpPolicy;
  return Math.exp(d) - d - 1;
}

/**
 * The GRPO per-token objective's loss (to minimise) on tensors [B, L]: −min(ρÂ, clip(ρ)Â) + β·k3,
 * weighted by `weights` (1/(B·|o_b|) on completion tokens) and summed. `logp` carries the
 * gradient; `oldLogp`, `refLogp` and `adv` are constants.
 */
export function grpoLoss(
  logp: T.Tensor,
  oldLogp: T.Tensor,
  refLogp: T.Tensor | null,
  adv: T.Tensor,
  weights: T.Tensor,
  opts: { epsilon: number; beta: number },
): T.Tensor {
  const ratio = logp.sub(oldLogp).exp();
  const s1 = ratio.mul(adv);
  const s2 = ratio.clamp(1 - opts.epsilon, 1 + opts.epsilon).mul(adv);
  let tok = s1.minimum(s2).neg();
  if (refLogp && opts.beta > 0) {
    const d = refLogp.sub(logp);
    tok = tok.add(d.exp().sub(d).sub(1).mul(opts.beta));
  }
  return tok.mul(weights).sum();
}

const GRPO_KEYS = [
  "reward",
  "accuracy",
  "format",
  "groupSize",
  "promptsPerStep",
  "epsilon",
  "beta",
  "mu",
  "temperature",
  "topK",
  "maxNewTokens",
  "reference",
] as const;

function posInt(v: unknown, name: string, dflt: number): number {
  const x = v ?? dflt;
  if (typeof x !== "number" || !Number.isInteger(x) || x < 1)
    throw new RangeError(`GRPOTrainer: ${name} must be an integer >= 1, got ${show(x)}`);
  return x;
}

/** GRPO on a list of prompts (see the file comment). */
export class GRPOTrainer extends PostTrainer<GRPORecord> {
  readonly prompts: readonly string[];
  readonly reference: Transformer | null;
  readonly options: Readonly<{
    groupSize: number;
    promptsPerStep: number;
    epsilon: number;
    beta: number;
    mu: number;
    temperature: number;
    topK: number;
    maxNewTokens: number;
  }>;
  protected readonly title = "GRPO";
  private readonly reward: RewardFn;
  private readonly accuracy: RewardFn | null;
  private readonly format: RewardFn | null;
  private readonly rng: Rng;
  private order: number[] = [];
  private cursor = 0;

  constructor(model: Transformer, prompts: readonly string[], opts: GRPOOptions) {
    super(model, opts, GRPO_KEYS, "GRPOTrainer", { lr: 1e-4 });
    const where = "GRPOTrainer";
    if (
      !Array.isArray(prompts) ||
      prompts.length === 0 ||
      prompts.some((p) => typeof p !== "string")
    )
      throw new TypeError(`${where}: prompts must be a non-empty array of strings`);
    for (const k of ["reward", "accuracy", "format"] as const)
      if ((k === "reward" || opts[k] !== undefined) && typeof opts[k] !== "function")
        throw new TypeError(
          `${where}: option ${k} must be a function (prompt, completion) => number, got ${show(opts[k])}`,
        );
    this.reward = opts.reward;
    this.accuracy = opts.accuracy ?? null;
    this.format = opts.format ?? null;
    this.options = {
      groupSize: posInt(opts.groupSize, "groupSize", 8),
      promptsPerStep: posInt(opts.promptsPerStep, "promptsPerStep", 8),
      epsilon: checkNumber(opts.epsilon ?? 0.2, "epsilon", where, 0, 1, {
        openLo: true,
        openHi: true,
      }),
      beta: checkNumber(opts.beta ?? 0.04, "beta", where, 0),
      mu: posInt(opts.mu, "mu", 1),
      temperature: checkNumber(opts.temperature ?? 1, "temperature", where, 0, Infinity, {
        openLo: true,
      }),
      topK: opts.topK ?? 0,
      maxNewTokens: posInt(opts.maxNewTokens, "maxNewTokens", 64),
    };
    if (!Number.isInteger(this.options.topK) || this.options.topK < 0)
      throw new RangeError(`${where}: topK must be an integer >= 0, got ${show(opts.topK)}`);
    const tok = tokenizerOf(model, where);
    checkSampling(
      model,
      prompts.map((p) => Array.from(tok.encode(p))),
      prompts,
      this.options.maxNewTokens,
      where,
    );
    this.prompts = [...prompts];
    this.reference =
      this.options.beta > 0
        ? (checkTeacher(model, opts.reference ?? null, where, "reference") ?? frozenCopy(model))
        : null;
    this.rng = new Rng(this.base.seed);
  }

  /**
   * Trains `steps` more steps (each: sample, score, μ updates), or for `seconds` of wall clock;
   * `onStep` sees each step's record (inside the budget); returns the history.
   */
  async fit(opts: PostFitOptions<GRPORecord>): Promise<GRPOTrainer["history"]> {
    return this.loop(opts, (progress) => {
      // A step that fails (a reward's error, a non-finite loss) leaves the prompt order as it was.
      const order = this.order;
      const cursor = this.cursor;
      const rng = this.rng.state;
      try {
        return this.grpoStep(progress);
      } catch (e) {
        this.order = order;
        this.cursor = cursor;
        this.rng.state = rng;
        throw e;
      }
    });
  }

  private nextPrompts(): string[] {
    const n = this.options.promptsPerStep;
    const out: string[] = [];
    while (out.length < n) {
      if (this.cursor >= this.order.length) {
        this.order = this.rng.shuffle([...this.prompts.keys()]);
        this.cursor = 0;
      }
      out.push(this.prompts[this.order[this.cursor++]]);
    }
    return out;
  }

  /** Scores every completion; an error names the prompt, before anything is updated. */
  private score(prompts: string[], samples: Sample[][], fn: RewardFn): number[] {
    const out: number[] = [];
    samples.forEach((group, i) => {
      if (group.length === 0)
        throw new RangeError(`GRPOTrainer: the group of prompt ${quote(prompts[i])} is empty`);
      for (const s of group) out.push(callReward(fn, prompts[i], s.text));
    });
    return out;
  }

  private grpoStep(progress: number): Omit<GRPORecord, "step" | "ms" | "elapsed"> {
    const o = this.options;
    const G = o.groupSize;
    const prompts = this.nextPrompts();
    const stats = { tokens: 0, seconds: 0 };
    const samples = sampleCompletions(
      this.model,
      prompts,
      {
        k: G,
        temperature: o.temperature,
        topK: o.topK,
        maxNewTokens: o.maxNewTokens,
        stop: this.base.stop,
        seed: (this.base.seed * 100003 + this.step) >>> 0,
        batchSize: Math.max(G, 64),
      },
      stats,
    );
    const rewards = this.score(prompts, samples, this.reward);
    const acc = this.accuracy ? this.score(prompts, samples, this.accuracy) : null;
    const fmt = this.format ? this.score(prompts, samples, this.format) : null;
    const adv = groupAdvantages(rewards, G);
    const tok = tokenizerOf(this.model, "GRPOTrainer");
    const rows = samples.flatMap((group, i) => {
      const p = Array.from(tok.encode(prompts[i]));
      return group.map((s) => ({ prompt: p, completion: s.tokens }));
    });
    const batch = packPairs(rows);
    const B = rows.length;
    const L = batch.inputs[0].length;
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

    // π_ref's log-probabilities, and π_old's when μ > 1 (the sampling policy, before any update).
    const constLogp = (m: Transformer): Float32Array =>
      T.noGrad(() =>
        T.tidy(() => {
          const tg = T.tensor(Int32Array.from(batch.targets.flat()), { shape: [B, L] });
          return Float32Array.from(tokenLogProbs(tempered(m.forward(batch.inputs)), tg).toArray());
        }),
      );
    // Probabilities are those of the sampling distribution: logits / temperature.
    const tempered = (l: T.Tensor): T.Tensor => (o.temperature === 1 ? l : l.div(o.temperature));
    const ref = this.reference && o.beta > 0 ? constLogp(this.reference) : null;
    const old = o.mu > 1 ? constLogp(this.model) : null;

    const lr = this.lrAt(progress);
    const tTrain = Date.now();
    let loss = NaN;
    let gradNorm = NaN;
    let kl = 0;
    let clipFrac = 0;
    let entropy = 0;
    const nTok = batch.lengths.reduce((a, b) => a + b, 0);
    for (let it = 0; it < o.mu; it++) {
      const r = this.update(() => {
        const tg = T.tensor(Int32Array.from(batch.targets.flat()), { shape: [B, L] });
        const logits = tempered(this.model.forward(batch.inputs));
        const logp = tokenLogProbs(logits, tg);
        const lp = logp.toArray() as Float32Array;
        const oldLp = old ?? Float32Array.from(lp); // μ = 1: π_old is the policy itself (ρ = 1)
        if (it === 0) entropy = meanEntropy(logits, batch.targets);
        // Metrics from this update's numbers: k3 against the reference and the clip fraction.
        let klSum = 0;
        let clipped = 0;
        for (let b = 0; b < B; b++)
          for (let t = 0; t < L; t++) {
            if (batch.targets[b][t] === IGNORE) continue;
            const i = b * L + t;
            if (ref) klSum += k3(lp[i], ref[i]);
            const rho = Math.exp(lp[i] - oldLp[i]);
            if ((rho > 1 + o.epsilon && adv[b] > 0) || (rho < 1 - o.epsilon && adv[b] < 0))
              clipped++;
          }
        kl = ref ? klSum / nTok : 0;
        clipFrac = clipped / nTok;
        const A = new Float32Array(B * L);
        for (let b = 0; b < B; b++) A.fill(adv[b], b * L, (b + 1) * L);
        return grpoLoss(
          logp,
          T.tensor(oldLp, { shape: [B, L] }),
          ref ? T.tensor(ref, { shape: [B, L] }) : null,
          T.tensor(A, { shape: [B, L] }),
          perRowMeanWeights(batch.targets, batch.lengths),
          o,
        );
      }, lr);
      loss = r.loss;
      gradNorm = r.gradNorm;
    }
    const trainSec = (Date.now() - tTrain) / 1000;
    return {
      reward: mean(rewards),
      accuracy: acc ? mean(acc) : NaN,
      format: fmt ? mean(fmt) : NaN,
      length: mean(samples.flat().map((s) => s.tokens.length)),
      kl,
      clipFrac,
      entropy,
      loss,
      gradNorm,
      lr,
      sampleTokensPerSec: stats.tokens / Math.max(stats.seconds, 1e-9),
      trainTokensPerSec: (B * L * o.mu) / Math.max(trainSec, 1e-9),
    };
  }

  protected shown(r: GRPORecord): [string, number][] {
    return [
      ["reward", r.reward],
      ...(Number.isNaN(r.accuracy) ? [] : ([["acc", r.accuracy]] as [string, number][])),
      ...(Number.isNaN(r.format) ? [] : ([["format", r.format]] as [string, number][])),
      ["len", r.length],
      ["KL", r.kl],
      ["clip", r.clipFrac],
      ["entropy", r.entropy],
      ["sample tok/s", Math.round(r.sampleTokensPerSec)],
      ["train tok/s", Math.round(r.trainTokensPerSec)],
    ];
  }
}

/** Mean entropy (nats) of the next-token distributions at the scored positions of logits [B, L, V]. */
export function meanEntropy(logits: T.Tensor, targets: number[][]): number {
  const [B, L, V] = logits.shape;
  const d = T.noGrad(() => logits.contiguous().toArray()) as Float32Array;
  let sum = 0;
  let n = 0;
  for (let b = 0; b < B; b++)
    for (let t = 0; t < L; t++) {
      if (targets[b][t] === IGNORE) continue;
      const o = (b * L + t) * V;
      let m = -Infinity;
      for (let v = 0; v < V; v++) m = Math.max(m, d[o + v]);
      let z = 0;
      let s = 0;
      for (let v = 0; v < V; v++) {
        const e = Math.exp(d[o + v] - m);
        z += e;
        s += e * (d[o + v] - m);
      }
      sum += Math.log(z) - s / z;
      n++;
    }
  return n ? sum / n : NaN;
}
