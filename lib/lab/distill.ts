/**
 * Knowledge distillation in miniature (issue 15), shared by bench/posttrain.ts and the notebook
 * 06-distillation: a teacher, a smaller student trained alone or from the teacher, same student,
 * steps, batches and optimizer in both arms.
 *
 *   Logit distillation on language: the teacher is the training benchmark's model pre-trained on
 *   the Brown corpus; the student sees a few windows of Brown text (`textPairs`) with or without
 *   the teacher's logits (`logitArm`); the quantity is its loss on held-out Brown windows.
 *   Sequence-level distillation on a task: the teacher is fine-tuned on many labelled examples;
 *   the student learns from a few labelled pairs alone, or from the teacher's greedy completions
 *   of many more prompts (`sequenceArm`); the quantity is its held-out accuracy.
 */
import { preset, type ConfigFields } from "../config/index.js";
import { ByteTokenizer, type Task, type TaskExample } from "../data/index.js";
import { Transformer } from "../model/index.js";
import { Rng } from "../tensor/index.js";
import { SFTTrainer, Trainer, sequenceDistill, type Pair } from "../train/index.js";
import { greedyAccuracy } from "./posttrain.js";
import { BENCH_CONFIG, benchTrainerOptions, type BrownBytes } from "./setup.js";

/** The student: the `tiny` preset narrowed to dim 64 and 2 layers (1 dense), bytes, no MTP. */
export const DISTILL_STUDENT: Readonly<ConfigFields> = Object.freeze({
  ...preset("tiny").args,
  ...preset("tiny").settings,
  vocab_size: 256,
  mtp_depth: 0,
  dim: 64,
  n_layers: 2,
  inter_dim: 192,
  moe_inter_dim: 64,
  q_lora_rank: 32,
  kv_lora_rank: 16,
});

/** The teacher: the training benchmark's model (dim 128, 4 layers), about 6x the student. */
export const DISTILL_TEACHER: Readonly<ConfigFields> = BENCH_CONFIG;

/** The student's optimizer in both arms (logit: 16 pairs a step; sequence-level: 32). */
export const DISTILL_SFT = Object.freeze({ batchSize: 16, lr: 3e-3 });

/** A model reading bytes (ByteTokenizer), from a config and a seed. */
export function byteModel(config: ConfigFields, seed: number): Transformer {
  const m = Transformer.create({ ...config }, { seed });
  m.tokenizer = new ByteTokenizer();
  return m;
}

/**
 * `n` windows of `length` bytes from a dataset's stream at seeded positions, as (prompt,
 * completion) pairs: the window's first byte is the prompt, the rest is the completion.
 */
export function textPairs(
  tokens: Int32Array,
  n: number,
  opts: { length?: number; seed?: number } = {},
): Pair[] {
  const length = opts.length ?? 64;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`textPairs: n must be >= 1, got ${n}`);
  if (!Number.isInteger(length) || length < 2 || length > tokens.length)
    throw new RangeError(
      `textPairs: length must be an integer in 2..${tokens.length} (the stream), got ${length}`,
    );
  const rng = new Rng(opts.seed ?? 0);
  const tok = new ByteTokenizer();
  return Array.from({ length: n }, () => {
    const at = rng.below(tokens.length - length + 1);
    const w = Array.from(tokens.subarray(at, at + length));
    return { prompt: tok.decode(w.slice(0, 1)), completion: tok.decode(w.slice(1)) };
  });
}

/** Pre-trains a language-model teacher on Brown bytes with the training benchmark's optimizer. */
export async function pretrainTeacher(
  data: Pick<BrownBytes, "train" | "validation">,
  opts: { steps: number; seqLen?: number; seed?: number; config?: ConfigFields },
): Promise<Trainer> {
  const seed = opts.seed ?? 100;
  const model = byteModel(opts.config ?? DISTILL_TEACHER, seed);
  const trainer = new Trainer(
    model,
    { train: data.train, validation: data.validation },
    benchTrainerOptions(Math.min(20, Math.ceil(opts.steps / 10)), {
      seqLen: opts.seqLen ?? 64,
      seed,
      view: null,
    }),
  );
  await trainer.fit({ steps: opts.steps });
  return trainer;
}

export interface DistillArm {
  trainer: SFTTrainer;
  /** The student's completion cross-entropy on the validation pairs (nats per token). */
  val: number;
}

/**
 * One arm of the logit-distillation comparison: a fresh student (`DISTILL_STUDENT` or `config`,
 * seed `seed`) trained `steps` SFT steps on `train`, alone (teacher null: CE) or with the
 * teacher's logits (α·CE + (1−α)·T²·KL); same batches for the same seed either way.
 */
export async function logitArm(
  teacher: Transformer | null,
  train: readonly Pair[],
  valid: readonly Pair[],
  opts: {
    steps: number;
    seed: number;
    alpha?: number;
    temperature?: number;
    config?: ConfigFields;
    batchSize?: number;
    lr?: number;
  },
): Promise<DistillArm> {
  const student = byteModel(opts.config ?? DISTILL_STUDENT, opts.seed);
  const trainer = new SFTTrainer(student, train, {
    batchSize: opts.batchSize ?? DISTILL_SFT.batchSize,
    lr: opts.lr ?? DISTILL_SFT.lr,
    seed: opts.seed,
    teacher,
    alpha: opts.alpha ?? 0.5,
    temperature: opts.temperature ?? 1,
    view: null,
  });
  await trainer.fit({ steps: opts.steps });
  return { trainer, val: trainer.evaluate(valid) };
}

/** Greedy accuracy of a model on task examples (lib/lab/posttrain's, 64 new tokens by default). */
export function taskAccuracy(
  model: Transformer,
  task: Task,
  examples: readonly TaskExample[],
  maxNewTokens = 64,
): number {
  return greedyAccuracy(model, task, examples, maxNewTokens);
}

/** Fine-tunes a task teacher (`DISTILL_TEACHER` or `config`) on labelled pairs. */
export async function taskTeacher(
  pairs: readonly Pair[],
  opts: { steps: number; seed?: number; config?: ConfigFields },
): Promise<SFTTrainer> {
  const seed = opts.seed ?? 100;
  const trainer = new SFTTrainer(byteModel(opts.config ?? DISTILL_TEACHER, seed), pairs, {
    batchSize: 32,
    lr: 3e-3,
    seed,
    schedule: "cosine",
    warmup: 10,
    view: null,
  });
  await trainer.fit({ steps: opts.steps });
  return trainer;
}

/**
 * One arm of the sequence-level comparison: a fresh student trained `steps` SFT steps either on
 * `labelled` pairs (teacher null) or on the teacher's greedy completions of `prompts`
 * (`sequenceDistill`); returns the trainer and the pairs it trained on.
 */
export async function sequenceArm(
  teacher: Transformer | null,
  source: { labelled: readonly Pair[] } | { prompts: readonly string[] },
  opts: {
    steps: number;
    seed: number;
    config?: ConfigFields;
    maxNewTokens?: number;
    batchSize?: number;
    lr?: number;
  },
): Promise<{ trainer: SFTTrainer; pairs: readonly Pair[] }> {
  const student = byteModel(opts.config ?? DISTILL_STUDENT, opts.seed);
  const sft = {
    batchSize: opts.batchSize ?? 32,
    lr: opts.lr ?? DISTILL_SFT.lr,
    seed: opts.seed,
    view: null,
  };
  if (teacher === null) {
    if (!("labelled" in source))
      throw new TypeError("sequenceArm: without a teacher, give { labelled } pairs");
    const trainer = new SFTTrainer(student, source.labelled, sft);
    await trainer.fit({ steps: opts.steps });
    return { trainer, pairs: source.labelled };
  }
  if (!("prompts" in source))
    throw new TypeError("sequenceArm: with a teacher, give { prompts } for it to complete");
  const r = await sequenceDistill(teacher, student, source.prompts, {
    ...sft,
    steps: opts.steps,
    sampling: { temperature: 0, maxNewTokens: opts.maxNewTokens ?? 64 },
  });
  return { trainer: r.trainer, pairs: r.pairs };
}
