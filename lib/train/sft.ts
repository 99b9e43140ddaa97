/**
 * Supervised fine-tuning on (prompt, completion) pairs, the loss masked to the completion, and
 * logit distillation from a frozen teacher:
 *
 *   L = α·CE(student, data) + (1 − α)·T²·KL(softmax(teacher/T) ‖ softmax(student/T))
 *
 * averaged over completion tokens (Hinton et al.; MiniMind's form). Without a teacher L is the
 * CE. Sequence-level distillation (how DeepSeek distils R1) is SFT on the teacher's samples:
 * `sequenceDistill`.
 *
 *   const sft = new SFTTrainer(model, pairs, { batchSize: 16, lr: 1e-3 });
 *   await sft.fit({ steps: 200 });
 *   sft.evaluate(heldOut);          // mean completion cross-entropy
 */
import * as T from "../tensor/index.js";
import { Rng } from "../tensor/index.js";
import { Transformer } from "../model/index.js";
import {
  PostTrainer,
  checkNumber,
  show,
  type PostFitOptions,
  type PostOptions,
  type PostRecord,
} from "./post.js";
import { sampleCompletions, type SampleOptions, type SampleStats } from "./sampling.js";
import { IGNORE, encodePairs, packPairs, type Pair, type TokenPair } from "./sequences.js";

export interface SFTOptions extends PostOptions {
  /** Pairs per step (default 16). */
  batchSize?: number;
  /** A frozen teacher: logit distillation (same vocabulary and tokenizer). Default none. */
  teacher?: Transformer | null;
  /** α: the weight of the data's cross-entropy when distilling (default 0.5). */
  alpha?: number;
  /** T: the distillation temperature (default 2). */
  temperature?: number;
}

/**
 * One SFT step's metrics: loss (what was minimised), ce (completion cross-entropy), kl (the
 * distillation KL at temperature T, 0 without a teacher), lr, gradNorm, tokensPerSec.
 */
export interface SFTRecord extends PostRecord {
  loss: number;
  ce: number;
  kl: number;
  lr: number;
  gradNorm: number;
  tokensPerSec: number;
}

/**
 * The distillation loss on a batch: α·CE + (1 − α)·T²·KL(p_teacher^T ‖ p_student^T), CE and KL
 * averaged over the positions whose target is not ignored. `teacherLogits` carry no gradient.
 * student/teacherLogits [B, L, V], targets [B, L] int32 (-100: ignored).
 */
export function distillLoss(
  studentLogits: T.Tensor,
  teacherLogits: T.Tensor,
  targets: T.Tensor,
  opts: { alpha: number; temperature: number },
): { loss: T.Tensor; ce: T.Tensor; kl: T.Tensor } {
  const { alpha, temperature: tau } = opts;
  const [B, L, V] = studentLogits.shape;
  if (teacherLogits.shape.join() !== studentLogits.shape.join())
    throw new RangeError(
      `distillLoss: teacher logits [${teacherLogits.shape.join(", ")}] and student logits [${studentLogits.shape.join(", ")}] differ`,
    );
  const ce = T.crossEntropy(studentLogits, targets, { ignoreIndex: IGNORE });
  // The teacher's tempered distribution, as constants.
  const tl = teacherLogits.contiguous().toArray() as Float32Array;
  const tg = targets.toArray();
  const pt = new Float32Array(B * L * V);
  const logpt = new Float32Array(B * L * V);
  const mask = new Float32Array(B * L);
  let n = 0;
  for (let r = 0; r < B * L; r++) {
    if (tg[r] === IGNORE) continue;
    mask[r] = 1;
    n++;
    let m = -Infinity;
    for (let v = 0; v < V; v++) m = Math.max(m, tl[r * V + v] / tau);
    let z = 0;
    for (let v = 0; v < V; v++) z += Math.exp(tl[r * V + v] / tau - m);
    const lz = Math.log(z) + m;
    for (let v = 0; v < V; v++) {
      const lp = tl[r * V + v] / tau - lz;
      logpt[r * V + v] = lp;
      pt[r * V + v] = Math.exp(lp);
    }
  }
  if (n === 0) throw new RangeError("distillLoss: every target is ignored");
  const ls = studentLogits.div(tau).logSoftmax(-1);
  const P = T.tensor(pt, { shape: [B, L, V] });
  const LP = T.tensor(logpt, { shape: [B, L, V] });
  const perTok = P.mul(LP.sub(ls)).sum(-1); // [B, L]
  const kl = perTok
    .mul(T.tensor(mask, { shape: [B, L] }))
    .sum()
    .div(n);
  const loss = ce.mul(alpha).add(kl.mul((1 - alpha) * tau * tau));
  return { loss, ce, kl };
}

const SFT_KEYS = ["batchSize", "teacher", "alpha", "temperature"] as const;

/** Supervised fine-tuning, and logit distillation when a teacher is given (see the file comment). */
export class SFTTrainer extends PostTrainer<SFTRecord> {
  readonly pairs: TokenPair[];
  readonly teacher: Transformer | null;
  readonly options: Readonly<{ batchSize: number; alpha: number; temperature: number }>;
  protected readonly title: string;
  private order: number[] = [];
  private cursor = 0;
  private readonly rng: Rng;

  constructor(model: Transformer, pairs: readonly Pair[], opts: SFTOptions = {}) {
    super(model, opts, SFT_KEYS, "SFTTrainer", { lr: 1e-3 });
    const where = "SFTTrainer";
    const batchSize = opts.batchSize ?? 16;
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new RangeError(`${where}: batchSize must be an integer >= 1, got ${show(batchSize)}`);
    this.teacher = checkTeacher(model, opts.teacher ?? null, where);
    this.options = {
      batchSize,
      alpha: checkNumber(opts.alpha ?? 0.5, "alpha", where, 0, 1),
      temperature: checkNumber(opts.temperature ?? 2, "temperature", where, 0, Infinity, {
        openLo: true,
      }),
    };
    this.title = this.teacher ? "distill" : "SFT";
    this.pairs = encodePairs(model, pairs, { stop: this.base.stop, where });
    this.rng = new Rng(this.base.seed);
  }

  /** The next batch: pairs in a seeded shuffled order, epoch after epoch. */
  private nextBatch(): TokenPair[] {
    const out: TokenPair[] = [];
    while (out.length < Math.min(this.options.batchSize, this.pairs.length)) {
      if (this.cursor >= this.order.length) {
        this.order = this.rng.shuffle([...this.pairs.keys()]);
        this.cursor = 0;
      }
      out.push(this.pairs[this.order[this.cursor++]]);
    }
    return out;
  }

  /** Trains `steps` more steps, or for `seconds`; `onStep` sees each record; returns the history. */
  async fit(opts: PostFitOptions<SFTRecord>): Promise<SFTTrainer["history"]> {
    return this.loop(opts, (progress) => this.sftStep(progress));
  }

  private sftStep(progress: number): Omit<SFTRecord, "step" | "ms" | "elapsed"> {
    const t0 = Date.now();
    const batch = packPairs(this.nextBatch());
    const lr = this.lrAt(progress);
    let ce = 0;
    let kl = 0;
    const { loss, gradNorm } = this.update(() => {
      const targets = T.tensor(Int32Array.from(batch.targets.flat()), {
        shape: [batch.targets.length, batch.targets[0].length],
      });
      const logits = this.model.forward(batch.inputs);
      if (!this.teacher) {
        const l = T.crossEntropy(logits, targets, { ignoreIndex: IGNORE });
        ce = l.item();
        return l;
      }
      const teacher = this.teacher;
      const tLogits = T.noGrad(() => teacher.forward(batch.inputs));
      const parts = distillLoss(logits, tLogits, targets, this.options);
      ce = parts.ce.item();
      kl = parts.kl.item();
      return parts.loss;
    }, lr);
    const tokens = batch.inputs.length * batch.inputs[0].length;
    return { loss, ce, kl, lr, gradNorm, tokensPerSec: tokens / ((Date.now() - t0) / 1000) };
  }

  protected shown(r: SFTRecord): [string, number][] {
    return [
      ["loss", r.loss],
      ["ce", r.ce],
      ...(this.teacher ? ([["kl", r.kl]] as [string, number][]) : []),
      ["lr", r.lr],
      ["|g|", r.gradNorm],
      ["tok/s", Math.round(r.tokensPerSec)],
    ];
  }

  /** Mean cross-entropy of the completion tokens of `pairs` (default: the training pairs). */
  evaluate(pairs?: readonly Pair[], batchSize = 32): number {
    const rows = pairs
      ? encodePairs(this.model, pairs, { stop: this.base.stop, where: "SFTTrainer.evaluate" })
      : this.pairs;
    return completionLoss(this.model, rows, batchSize);
  }
}

/** Mean cross-entropy over the completion tokens of encoded pairs (no gradients). */
export function completionLoss(
  model: Transformer,
  rows: readonly TokenPair[],
  batchSize = 32,
): number {
  let sum = 0;
  let n = 0;
  for (let s = 0; s < rows.length; s += batchSize) {
    const b = packPairs(rows.slice(s, s + batchSize));
    T.noGrad(() =>
      T.tidy(() => {
        const tg = T.tensor(Int32Array.from(b.targets.flat()), {
          shape: [b.targets.length, b.targets[0].length],
        });
        const k = b.lengths.reduce((a, x) => a + x, 0);
        sum += T.crossEntropy(model.forward(b.inputs), tg, { ignoreIndex: IGNORE }).item() * k;
        n += k;
      }),
    );
  }
  return sum / n;
}

/** A teacher must be a Transformer with the student's vocabulary and tokenizer. */
export function checkTeacher(
  student: Transformer,
  teacher: Transformer | null,
  where: string,
  option = "teacher",
): Transformer | null {
  if (teacher === null) return null;
  if (!(teacher instanceof Transformer))
    throw new TypeError(`${where}: option ${option} must be a Transformer, got ${show(teacher)}`);
  if (teacher === student)
    throw new Error(
      `${where}: option ${option} is the model itself; pass a separate (frozen) model`,
    );
  const vs = student.args.vocab_size;
  const vt = teacher.args.vocab_size;
  if (vs !== vt)
    throw new RangeError(
      `${where}: option ${option} has another vocabulary (vocab_size ${vt}) than the student (${vs}); logits cannot be compared`,
    );
  const a = student.tokenizer ? JSON.stringify(student.tokenizer.toJSON()) : null;
  const b = teacher.tokenizer ? JSON.stringify(teacher.tokenizer.toJSON()) : null;
  if (a !== null && b !== null && a !== b)
    throw new Error(
      `${where}: option ${option} reads text with another tokenizer (${teacher.tokenizer!.kind}) than the student (${student.tokenizer!.kind})`,
    );
  return teacher;
}

export interface SequenceDistillOptions extends SFTOptions {
  /** SFT steps on the teacher's samples. */
  steps: number;
  /** How the teacher samples (k per prompt, temperature, maxNewTokens, ...). */
  sampling?: SampleOptions;
  /** Keep only the samples this accepts (e.g. verified-correct); default: all that stopped. */
  filter?: (prompt: string, completion: string) => boolean;
}

/**
 * Sequence-level distillation: the teacher completes each prompt (batched, cached decoding), the
 * student is fine-tuned on those completions. Returns the trainer and the pairs it used.
 */
export async function sequenceDistill(
  teacher: Transformer,
  student: Transformer,
  prompts: readonly string[],
  opts: SequenceDistillOptions,
): Promise<{ trainer: SFTTrainer; pairs: Pair[]; sampling: SampleStats }> {
  const where = "sequenceDistill";
  checkTeacher(student, teacher, where);
  const { steps, sampling, filter, ...sft } = opts;
  const stats: SampleStats = { tokens: 0, seconds: 0 };
  const samples = T.noGrad(() =>
    sampleCompletions(teacher, prompts, { stop: sft.stop, seed: sft.seed, ...sampling }, stats),
  );
  const pairs: Pair[] = [];
  samples.forEach((row, i) =>
    row.forEach((s) => {
      if (s.stopped && (!filter || filter(prompts[i], s.text)))
        pairs.push({ prompt: prompts[i], completion: s.text });
    }),
  );
  if (pairs.length === 0)
    throw new Error(
      `${where}: the teacher's samples left no pair to train on (filter or maxNewTokens too strict)`,
    );
  const trainer = new SFTTrainer(student, pairs, { ...sft, teacher: null });
  await trainer.fit({ steps });
  return { trainer, pairs, sampling: stats };
}
