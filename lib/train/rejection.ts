/**
 * Rejection-sampling fine-tuning (R1's stage 3 at notebook size): per round, k completions per
 * prompt from the current model, keep those a verifier accepts (verified correct), drop
 * duplicates and, optionally, those longer than a limit, then fine-tune on the kept pairs.
 * Each round's counts are reported and kept in `history.rounds`. Each round fine-tunes with a
 * fresh SFTTrainer (a new AdamW state), as R1 fine-tunes anew on each rejection-sampled set.
 *
 *   const rs = new RejectionSampler(model, prompts, { verify: accuracyReward(task), k: 8 });
 *   await rs.fit({ rounds: 1, steps: 100 });
 *   rs.history.rounds;   // [{ round, prompts, sampled, correct, unique, kept, promptsCovered }]
 */
import * as T from "../tensor/index.js";
import { callReward, type RewardFn } from "../data/index.js";
import type { Transformer } from "../model/index.js";
import { PostHistory, show, type PostOptions } from "./post.js";
import { sampleCompletions, type SampleStats } from "./sampling.js";
import { SFTTrainer, type SFTOptions, type SFTRecord } from "./sft.js";
import { tokenizerOf } from "./sequences.js";
import type { Pair } from "./sequences.js";

export interface RejectionOptions extends Omit<SFTOptions, "teacher" | "alpha" | "temperature"> {
  /** The verifier: a completion is kept when it returns > 0 (e.g. accuracyReward(task)). Required. */
  verify: RewardFn;
  /** Completions sampled per prompt and round (default 8). */
  k?: number;
  /** Sampling temperature (default 1). */
  temperature?: number;
  /** Tokens per completion at most (default 64). */
  maxNewTokens?: number;
  /** Drop kept completions longer than this many tokens (default: no limit). */
  maxLength?: number;
}

/** One round's counts: prompts, completions sampled, verified correct, distinct, kept. */
export interface RejectionRound extends Record<string, number> {
  round: number;
  prompts: number;
  sampled: number;
  correct: number;
  unique: number;
  kept: number;
  /** Prompts with at least one kept completion. */
  promptsCovered: number;
  samplingTokensPerSec: number;
}

/** Rejection sampling + fine-tuning rounds (see the file comment). */
export class RejectionSampler {
  readonly model: Transformer;
  readonly prompts: readonly string[];
  /** SFT steps of every round, then one row per round in `rounds`. */
  readonly history = new PostHistory<SFTRecord>();
  /** The pairs kept by the last round. */
  kept: Pair[] = [];
  private readonly opts: RejectionOptions;
  private readonly sft: Omit<SFTOptions, "teacher">;
  private round = 0;

  constructor(model: Transformer, prompts: readonly string[], opts: RejectionOptions) {
    const where = "RejectionSampler";
    if (
      !Array.isArray(prompts) ||
      prompts.length === 0 ||
      prompts.some((p) => typeof p !== "string")
    )
      throw new TypeError(`${where}: prompts must be a non-empty array of strings`);
    if (!opts || typeof opts.verify !== "function")
      throw new TypeError(
        `${where}: option verify must be a function (prompt, completion) => number, got ${show(opts?.verify)}`,
      );
    const { verify: _v, k, temperature: _t, maxNewTokens, maxLength, ...sft } = opts;
    for (const [name, v] of [
      ["k", k],
      ["maxNewTokens", maxNewTokens],
      ["maxLength", maxLength],
    ] as const)
      if (v !== undefined && (!Number.isInteger(v) || v < 1))
        throw new RangeError(`${where}: ${name} must be an integer >= 1, got ${show(v)}`);
    this.model = model;
    this.prompts = [...prompts];
    this.opts = opts;
    this.sft = sft;
    tokenizerOf(model, where);
  }

  /** Samples k completions per prompt and keeps the verified, distinct, short-enough ones. */
  sample(stats?: SampleStats): { pairs: Pair[]; round: Omit<RejectionRound, "round"> } {
    const o = this.opts;
    const st: SampleStats = stats ?? { tokens: 0, seconds: 0 };
    const samples = T.noGrad(() =>
      sampleCompletions(
        this.model,
        this.prompts,
        {
          k: o.k ?? 8,
          temperature: o.temperature ?? 1,
          maxNewTokens: o.maxNewTokens ?? 64,
          stop: o.stop,
          seed: ((o.seed ?? 0) * 7919 + this.round) >>> 0,
        },
        st,
      ),
    );
    let correct = 0;
    let unique = 0;
    let covered = 0;
    const pairs: Pair[] = [];
    samples.forEach((group, i) => {
      const prompt = this.prompts[i];
      const seen = new Set<string>();
      let any = false;
      for (const s of group) {
        // Every sample is verified (an error in the verifier names the prompt); a completion
        // cut at maxNewTokens is never kept.
        const ok = callReward(o.verify, prompt, s.text) > 0;
        if (!ok || !s.stopped) continue;
        correct++;
        if (seen.has(s.text)) continue;
        seen.add(s.text);
        unique++;
        if (o.maxLength !== undefined && s.tokens.length > o.maxLength) continue;
        pairs.push({ prompt, completion: s.text });
        any = true;
      }
      if (any) covered++;
    });
    return {
      pairs,
      round: {
        prompts: this.prompts.length,
        sampled: this.prompts.length * (o.k ?? 8),
        correct,
        unique,
        kept: pairs.length,
        promptsCovered: covered,
        samplingTokensPerSec: st.tokens / Math.max(st.seconds, 1e-9),
      },
    };
  }

  /**
   * `rounds` rounds (default 1) of sampling then `steps` SFT steps on the kept pairs. A round that
   * keeps nothing trains nothing (and says so in its counts).
   */
  async fit(opts: { rounds?: number; steps: number }): Promise<RejectionRound[]> {
    const rounds = opts.rounds ?? 1;
    if (!Number.isInteger(rounds) || rounds < 1)
      throw new RangeError(
        `RejectionSampler.fit: rounds must be an integer >= 1, got ${show(rounds)}`,
      );
    if (!Number.isInteger(opts.steps) || opts.steps < 1)
      throw new RangeError(
        `RejectionSampler.fit: steps must be an integer >= 1, got ${show(opts.steps)}`,
      );
    const out: RejectionRound[] = [];
    for (let r = 0; r < rounds; r++) {
      const { pairs, round } = this.sample();
      this.round++;
      const row = { round: this.round, ...round } as RejectionRound;
      this.history.rounds.push(row);
      out.push(row);
      this.kept = pairs;
      if (pairs.length === 0) continue;
      const sft = new SFTTrainer(this.model, pairs, this.sft as PostOptions);
      await sft.fit({ steps: opts.steps });
      this.history.steps.push(...sft.history.steps);
    }
    return out;
  }
}
