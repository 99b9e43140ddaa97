/**
 * The post-training issue's GRPO and rejection-sampling experiments, shared by bench/posttrain.ts
 * and notebooks/07-grpo: a `tiny` byte-level model; the benchmark's level, 2+2-digit sums whose
 * units carry into the tens (`49+33`; the tens stay below 10), with held-out prompts disjoint from
 * the GRPO prompts; an SFT cold start on easier levels (1+1, 2+1, 1+2 digits, and 2+2 sums with
 * no carry into the tens), never the benchmark's; greedy accuracy, a GRPO run with held-out
 * accuracy along the way, and one round of rejection sampling + fine-tuning.
 */
import type { ConfigFields } from "../config/index.js";
import { preset } from "../config/index.js";
import {
  ByteTokenizer,
  accuracyReward,
  addition,
  combineRewards,
  formatReward,
  parseCompletion,
  type Task,
  type TaskExample,
} from "../data/index.js";
import { Transformer } from "../model/index.js";
import {
  GRPOTrainer,
  RejectionSampler,
  SFTTrainer,
  sampleCompletions,
  type GRPORecord,
  type PostView,
  type RejectionRound,
} from "../train/index.js";
import { mean } from "./stats.js";

/** Tokens per completion: a 2+2 reference completion is 44 bytes and the stop token. */
export const POST_MAX_NEW = 56;

/**
 * The `tiny` preset with a byte-level vocabulary (no unused ids to sample) and no MTP module
 * (post-training scores the main head only); `over` changes any config field.
 */
export function postModel(seed: number, over: ConfigFields = {}): Transformer {
  const m = Transformer.create(preset("tiny", { vocab_size: 256, mtp_depth: 0, ...over }), {
    seed,
  });
  m.tokenizer = new ByteTokenizer();
  return m;
}

/** Greedy accuracy on examples (batched, cached decoding): the share whose answer checks. */
export function greedyAccuracy(
  model: Transformer,
  task: Task,
  examples: readonly TaskExample[],
  maxNewTokens = POST_MAX_NEW,
): number {
  if (!Array.isArray(examples) || examples.length === 0)
    throw new RangeError("greedyAccuracy: give at least one example");
  const s = sampleCompletions(
    model,
    examples.map((e) => e.prompt),
    { temperature: 0, maxNewTokens },
  );
  return mean(
    s.map((g, i) =>
      task.check(examples[i].prompt, parseCompletion(g[0].text).answer ?? "") ? 1 : 0,
    ),
  );
}

/** The benchmark's addition set-up (see additionSplits). */
export interface AdditionSplits {
  /**
   * The level GRPO is measured on: 2+2 digits with a carry from the units into a tens column that
   * stays below 10 (`addition({ digits: 2, carry: "some", overflow: false })`, 1,260 questions).
   */
  task: Task;
  /**
   * The cold start's easier levels: 1+1, 2+1, 1+2 digits (carries and all), and 2+2 digits with
   * no carry into the tens (`carry: "none"`; the tens may overflow).
   */
  easy: Task[];
  /** Held-out examples of the level (seed 999), disjoint from every GRPO prompt. */
  heldOut: TaskExample[];
  /** GRPO's prompts of the level (seed 1). */
  trainPrompts: string[];
  /** Held-out 2+1 examples (seed 4242), to see what the cold start learned. */
  easyHeldOut: TaskExample[];
}

/**
 * The tasks and prompt sets of the GRPO experiment, at the given sizes (always the same seeds);
 * heldOut + trainPrompts at most the level's 1,260 questions.
 */
export function additionSplits(sizes: {
  heldOut: number;
  trainPrompts: number;
  easyHeldOut: number;
}): AdditionSplits {
  for (const k of ["heldOut", "trainPrompts", "easyHeldOut"] as const)
    if (!Number.isInteger(sizes?.[k]) || sizes[k] < 1)
      throw new RangeError(`additionSplits: ${k} must be an integer >= 1, got ${sizes?.[k]}`);
  if (sizes.heldOut + sizes.trainPrompts > 1260)
    throw new RangeError(
      `additionSplits: heldOut + trainPrompts must be at most the level's 1260 questions, got ${sizes.heldOut + sizes.trainPrompts}`,
    );
  const task = addition({ digits: 2, carry: "some", overflow: false });
  const easy = [
    addition({ digits: 1 }),
    addition({ digits: 2, digitsB: 1 }),
    addition({ digits: 1, digitsB: 2 }),
    addition({ digits: 2, carry: "none" }),
  ];
  const heldOut = task.examples(sizes.heldOut, { seed: 999, instruction: false });
  const trainPrompts = task
    .examples(sizes.trainPrompts, {
      seed: 1,
      exclude: heldOut.map((e) => e.question),
      instruction: false,
    })
    .map((e) => e.prompt);
  const easyHeldOut = easy[1].examples(sizes.easyHeldOut, { seed: 4242, instruction: false });
  return { task, easy, heldOut, trainPrompts, easyHeldOut };
}

/**
 * The cold start's pairs: 100 of 1+1, 300 of 2+1, 300 of 1+2 digits and 400 of 2+2 with no carry
 * into the tens (seeds seed, +1, +2, +3).
 */
export function coldStartPairs(easy: readonly Task[], seed: number): TaskExample[] {
  if (easy.length !== 4) throw new RangeError("coldStartPairs: give the four easy levels");
  return [
    ...easy[0].examples(100, { seed, instruction: false }),
    ...easy[1].examples(300, { seed: seed + 1, instruction: false }),
    ...easy[2].examples(300, { seed: seed + 2, instruction: false }),
    ...easy[3].examples(400, { seed: seed + 3, instruction: false }),
  ];
}

/**
 * R1's cold start at notebook size: a fresh postModel(seed) given `steps` SFT steps (batch 32,
 * lr 3e-3, cosine with 10 warm-up steps) on coldStartPairs(easy, 10·seed).
 */
export async function coldStart(
  easy: readonly Task[],
  seed: number,
  steps: number,
  opts: { view?: PostView | null } = {},
): Promise<Transformer> {
  const m = postModel(seed);
  const sft = new SFTTrainer(m, coldStartPairs(easy, seed * 10), {
    batchSize: 32,
    lr: 3e-3,
    seed,
    ...("view" in opts ? { view: opts.view } : {}),
    schedule: "cosine",
    warmup: 10,
  });
  await sft.fit({ steps });
  return m;
}

export interface GrpoRunOptions {
  /** G: completions per prompt. */
  groupSize: number;
  /** β of the KL penalty. */
  beta: number;
  seed: number;
  /** Sampling temperature (default 1). */
  temperature?: number;
  /** Prompts per step (default round(64 / G): 64 completions a step). */
  promptsPerStep?: number;
  /** Learning rate (default 2e-4). */
  lr?: number;
  /** Stop after this many steps or this many seconds (at least one; both: whichever first). */
  steps?: number;
  seconds?: number;
  /** Held-out accuracy every this many seconds (default: only before and after). */
  evalEverySeconds?: number;
  /** The live output (default the trainer's; null: none). */
  view?: PostView | null;
  /** The held-out accuracy of `model` when the caller has already measured it. */
  before?: number;
}

export interface GrpoRun {
  /** Greedy held-out accuracy before and after GRPO. */
  before: number;
  after: number;
  /** Held-out accuracy against GRPO's elapsed seconds (0 and the end included). */
  curve: { seconds: number; accuracy: number }[];
  records: GRPORecord[];
  seconds: number;
  trainer: GRPOTrainer;
}

/**
 * GRPO on the splits' 2+2 prompts from `model` (usually a cold start): reward accuracy + 0.1 ×
 * format, accuracy and format reported, maxNewTokens POST_MAX_NEW; held-out greedy accuracy
 * before, every evalEverySeconds, and after.
 */
export async function grpoRun(
  model: Transformer,
  splits: AdditionSplits,
  o: GrpoRunOptions,
): Promise<GrpoRun> {
  if (o.steps === undefined && o.seconds === undefined)
    throw new RangeError("grpoRun: give steps or seconds (when to stop)");
  if (o.steps !== undefined && !(Number.isInteger(o.steps) && o.steps >= 1))
    throw new RangeError(`grpoRun: steps must be an integer >= 1, got ${o.steps}`);
  if (o.seconds !== undefined && !(o.seconds > 0))
    throw new RangeError(`grpoRun: seconds must be > 0, got ${o.seconds}`);
  if (o.before !== undefined && !(o.before >= 0 && o.before <= 1))
    throw new RangeError(`grpoRun: before must be an accuracy in [0, 1], got ${o.before}`);
  const { task, heldOut, trainPrompts } = splits;
  const before = o.before ?? greedyAccuracy(model, task, heldOut);
  const acc = accuracyReward(task);
  const fmt = formatReward(task);
  const g = new GRPOTrainer(model, trainPrompts, {
    reward: combineRewards([
      [acc, 1],
      [fmt, 0.1],
    ]),
    accuracy: acc,
    format: fmt,
    groupSize: o.groupSize,
    promptsPerStep: o.promptsPerStep ?? Math.max(1, Math.round(64 / o.groupSize)),
    beta: o.beta,
    temperature: o.temperature ?? 1,
    lr: o.lr ?? 2e-4,
    maxNewTokens: POST_MAX_NEW,
    seed: o.seed,
    ...("view" in o ? { view: o.view } : {}),
  });
  const curve = [{ seconds: 0, accuracy: before }];
  const every = o.evalEverySeconds ?? Infinity;
  let nextEval = every;
  const t0 = Date.now();
  const elapsed = (): number => (Date.now() - t0) / 1000;
  // One fit() call, so one live output; the held-out evaluations run between steps, inside the
  // time budget.
  let evaluatedAt = -1; // the step of the last evaluation on the way
  const onStep = (): void => {
    const s = elapsed();
    if (s < nextEval) return;
    curve.push({ seconds: s, accuracy: greedyAccuracy(model, task, heldOut) });
    evaluatedAt = g.step;
    while (nextEval <= s) nextEval += every;
  };
  await g.fit({
    ...(o.steps !== undefined ? { steps: o.steps } : {}),
    ...(o.seconds !== undefined ? { seconds: o.seconds } : {}),
    ...(every < Infinity ? { onStep } : {}),
  });
  const seconds = elapsed();
  // The last evaluation on the way is the final one when no step ran after it.
  const after =
    evaluatedAt === g.step
      ? curve[curve.length - 1].accuracy
      : greedyAccuracy(model, task, heldOut);
  if (evaluatedAt !== g.step) curve.push({ seconds, accuracy: after });
  return { before, after, curve, records: g.history.steps, seconds, trainer: g };
}

export interface RejectionRunOptions {
  /** The task (default 2+1 digits) and its held-out examples, excluded from every prompt. */
  task: Task;
  heldOut: readonly TaskExample[];
  seed: number;
  /** SFT steps of the base model on 100 pairs (seed 300 + seed). */
  baseSteps: number;
  /** Prompts sampled (seed 400 + seed), k = 8 completions each. */
  prompts: number;
  /** SFT steps on the kept completions. */
  steps: number;
  view?: PostView | null;
}

export interface RejectionRun {
  before: number;
  after: number;
  round: RejectionRound;
  sampler: RejectionSampler;
  model: Transformer;
}

/**
 * A base model that partly solves the task (postModel(seed) after baseSteps of SFT on 100 pairs),
 * then one round of rejection sampling (k = 8, keep verified-correct, dedupe) and SFT (lr 1e-3)
 * on what was kept; greedy held-out accuracy before and after.
 */
export async function rejectionRun(o: RejectionRunOptions): Promise<RejectionRun> {
  const { task, heldOut, seed } = o;
  const seen = heldOut.map((e) => e.question);
  const view = "view" in o ? { view: o.view } : {};
  const m = postModel(seed);
  const pairs = task.examples(100, { seed: 300 + seed, exclude: seen, instruction: false });
  await new SFTTrainer(m, pairs, { batchSize: 32, lr: 3e-3, seed, ...view }).fit({
    steps: o.baseSteps,
  });
  const before = greedyAccuracy(m, task, heldOut);
  const prompts = task
    .examples(o.prompts, { seed: 400 + seed, exclude: seen, instruction: false })
    .map((e) => e.prompt);
  const sampler = new RejectionSampler(m, prompts, {
    verify: accuracyReward(task),
    k: 8,
    maxNewTokens: POST_MAX_NEW,
    batchSize: 32,
    lr: 1e-3,
    seed,
    ...view,
  });
  const [round] = await sampler.fit({ rounds: 1, steps: o.steps });
  return { before, after: greedyAccuracy(m, task, heldOut), round, sampler, model: m };
}
