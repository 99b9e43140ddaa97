/**
 * The Trainer: DeepSeek-V3's pre-training recipe for a moelab model, cell by cell.
 *
 *   const trainer = new Trainer(model, { train, validation }, { batchSize: 16, seqLen: 128 });
 *   await trainer.fit({ steps: 1000, evalEvery: 100 });   // one live output; Interrupt stops it
 *   trainer.history;                                       // every step's metrics
 *
 * One step, as it reads below in `step()`: for each micro-batch, the model's loss (main
 * cross-entropy + λ·MTP) plus the balance losses its gates reported, backward; then the global
 * gradient norm, clipping fused into AdamW's update, and DeepSeek-V3's bias update from the
 * step's expert loads. Evaluation measures the validation loss and MaxVio_global; checkpoints
 * keep everything a later fit() needs to continue bit for bit.
 */
import { EventEmitter } from "node:events";
import * as T from "../tensor/index.js";
import type { Precision } from "../fp8/index.js";
import type { Module } from "../nn/index.js";
import { Transformer } from "../model/index.js";
import { TokenDataset, type Batch, type Batches, type BatchState } from "../data/index.js";
import { maxVio, updateBias, type BalanceMode } from "./balance.js";
import {
  RunCheckpointError,
  checkpointSteps,
  readMoments,
  readTrainerJSON,
  resolveCheckpoint,
  writeRunCheckpoint,
  TRAINER_FORMAT,
} from "./checkpoint.js";
import { clipGradScale, gradNorm } from "./clip.js";
import { History, type EvalRecord, type StepRecord } from "./history.js";
import { AdamW, type AdamWScalars, type MomentsDType } from "./optim.js";
import { interruptSource } from "./interrupt.js";
import { checkKeys, checkNumber, show } from "./options.js";
import { ProgressView, type ProgressState, type TrainerView } from "./progress.js";
import { RouterStats } from "./router-stats.js";
import { Schedule, constant, cosine, wsd } from "./schedule.js";

export interface TrainerOptions {
  /** Rows per micro-batch (default 16). */
  batchSize?: number;
  /** Tokens per row (default min(128, max_seq_len − mtp_depth)). */
  seqLen?: number;
  /** Micro-batches per optimizer step (gradient accumulation; default 1). */
  accumulate?: number;
  /** "random" windows over the token stream (default) or "packed" windows inside documents. */
  batchMode?: "random" | "packed";
  /** Seed of the batch order (default 0). */
  seed?: number;
  /** Peak learning rate (default 2e-3). */
  lr?: number;
  /** "cosine" (default), "wsd", "constant", or a Schedule (then lr, warmup, minLrRatio are its). */
  schedule?: "cosine" | "wsd" | "constant" | Schedule;
  /** Linear warm-up steps (default: 5% of a step target, at most 100; 20 for a time budget). */
  warmup?: number;
  /** The learning rate decays to lr · minLrRatio (default 0.1). */
  minLrRatio?: number;
  /** AdamW's betas (default [0.9, 0.95]), eps (1e-8), weight decay on matrices (0.1). */
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  /** AdamW's moments in float32 (default) or bfloat16, as DeepSeek-V3 keeps them. */
  moments?: MomentsDType;
  /** Clip the global gradient norm to this (default 1.0; 0 turns clipping off). */
  clip?: number;
  /** GEMM precision of the model's Linear layers during the run (default: the model's). */
  precision?: Precision;
  /**
   * "bias": DeepSeek-V3's auxiliary-loss-free balancing (default when the gates have a bias);
   * "aux": the expert-level auxiliary loss; "none": neither. The bias stays frozen unless "bias".
   */
  balance?: BalanceMode;
  /** γ of the bias update (default: the model's bias_update_speed, 0.001). */
  biasUpdateSpeed?: number;
  /** α of V3's complementary sequence-wise balance loss (default 1e-4 with "bias", else 0). */
  seqAux?: number;
  /** α of the expert-level auxiliary loss of "aux" (default 1e-3, the LFB paper's baseline). */
  auxAlpha?: number;
  /** MTP loss weight λ (default 0.3; V3 lowers it to 0.1 late in training). */
  mtpWeight?: number;
  /** Validation windows per evaluation (default 64, evenly spaced). */
  evalWindows?: number;
  /** The live output (default: a progress bar and table; lib/viz offers a dashboard). */
  view?: TrainerView | null;
}

export interface FitOptions {
  /** Train until the run has made this many steps in all (a later fit() continues toward it). */
  steps?: number;
  /** Train until the run has trained this many seconds in all (evaluation and saving excluded). */
  seconds?: number;
  /** Evaluate on the validation split every N steps (and at the end); 0: only at the end. */
  evalEvery?: number;
  /** Save a checkpoint every N steps (and at the end) into `dir`. */
  checkpointEvery?: number;
  /** The run's checkpoint directory. */
  dir?: string;
  /** Checkpoints kept in dir (default 3). */
  keep?: number;
}

/** Thrown when training stops on a NaN or Inf: names the step and the first non-finite tensor. */
export class NonFiniteError extends Error {
  constructor(
    readonly step: number,
    readonly tensor: string,
    message: string,
  ) {
    super(message);
    this.name = "NonFiniteError";
  }
}

/** Data a trainer reads: a dataset, or a train split with an optional validation split. */
export type TrainerData = TokenDataset | { train: TokenDataset; validation?: TokenDataset | null };

type Resolved = Required<Omit<TrainerOptions, "schedule" | "view" | "precision" | "warmup">> & {
  schedule: "cosine" | "wsd" | "constant" | Schedule;
  precision: Precision;
  warmup: number | null;
};

const OPTION_KEYS: (keyof TrainerOptions)[] = [
  "batchSize",
  "seqLen",
  "accumulate",
  "batchMode",
  "seed",
  "lr",
  "schedule",
  "warmup",
  "minLrRatio",
  "betas",
  "eps",
  "weightDecay",
  "moments",
  "clip",
  "precision",
  "balance",
  "biasUpdateSpeed",
  "seqAux",
  "auxAlpha",
  "mtpWeight",
  "evalWindows",
  "view",
];

const now = (): number => Number(process.hrtime.bigint()) / 1e6;

function int(v: unknown, name: string, min: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min)
    throw new RangeError(`Trainer: ${name} must be an integer >= ${min}, got ${show(v)}`);
  return v;
}

function oneOf<V extends string>(v: unknown, name: string, allowed: readonly V[]): V {
  if (!allowed.includes(v as V))
    throw new TypeError(
      `Trainer: ${name} must be ${allowed.map((a) => JSON.stringify(a)).join(" or ")}, got ${show(v)}`,
    );
  return v as V;
}

export class Trainer extends EventEmitter {
  /** The default live output, replaced by lib/viz's dashboard where it is registered. */
  static defaultView: () => TrainerView = () => new ProgressView();

  readonly model: Transformer;
  readonly train: TokenDataset;
  readonly validation: TokenDataset | null;
  readonly options: Readonly<Resolved>;
  readonly optimizer: AdamW;
  readonly batches: Batches;
  readonly history = new History();
  readonly view: TrainerView | null;
  /** Optimizer steps made so far. */
  step = 0;
  /** Seconds trained so far (steps only: evaluation and saving are not counted). */
  elapsed = 0;
  /** The run's target: steps or seconds (set by fit()). */
  target: { steps: number | null; seconds: number | null } = { steps: null, seconds: null };

  private readonly params: Map<string, T.Tensor>;
  private readonly router: RouterStats;
  private evalSet: Batch[] | null = null;
  private scheduleObj: Schedule | null = null;
  private recentMs: number[] = [];

  constructor(model: Transformer, data: TrainerData, opts: TrainerOptions = {}) {
    super();
    if (!(model instanceof Transformer))
      throw new TypeError(`Trainer: model must be a Transformer, got ${show(model)}`);
    checkKeys(opts, OPTION_KEYS, "Trainer");
    this.model = model;
    const split = data instanceof TokenDataset ? { train: data, validation: null } : data;
    if (!split || !(split.train instanceof TokenDataset))
      throw new TypeError(
        "Trainer: data must be a TokenDataset or { train: TokenDataset, validation?: TokenDataset }",
      );
    if (split.validation != null && !(split.validation instanceof TokenDataset))
      throw new TypeError("Trainer: data.validation must be a TokenDataset");
    this.train = split.train;
    this.validation = split.validation ?? null;
    this.options = this.resolve(opts);
    this.adoptTokenizer();
    this.checkData();
    const o = this.options;
    this.view = opts.view === undefined ? Trainer.defaultView() : checkView(opts.view);
    this.params = model.trainableParameters();
    this.optimizer = new AdamW(this.params, {
      lr: o.lr,
      betas: o.betas,
      eps: o.eps,
      weightDecay: o.weightDecay,
      moments: o.moments,
    });
    this.batches = this.train.batches({
      batchSize: o.batchSize,
      seqLen: o.seqLen,
      seed: o.seed,
      mode: o.batchMode,
    });
    this.router = new RouterStats(o.balance, o.seqAux, o.auxAlpha, model.args.n_activated_experts);
    this.registerLayers();
  }

  private resolve(opts: TrainerOptions): Resolved {
    const m = this.model;
    const biased = m.config.settings.routing === "noaux_tc" && m.args.n_routed_experts > 0;
    const balance = oneOf(opts.balance ?? (biased ? "bias" : "none"), "balance", [
      "bias",
      "aux",
      "none",
    ] as const);
    if (balance === "bias" && !biased)
      throw new RangeError(
        `Trainer: balance "bias" needs gates with a bias (routing "noaux_tc" and routed experts); this model has routing "${m.config.settings.routing}"`,
      );
    const maxLen = m.args.max_seq_len - m.config.settings.mtp_depth;
    const seqLen = int(opts.seqLen ?? Math.min(128, maxLen), "seqLen", 1);
    if (seqLen > m.args.max_seq_len)
      throw new RangeError(
        `Trainer: seqLen ${seqLen} exceeds the model's max_seq_len ${m.args.max_seq_len}`,
      );
    const schedule = opts.schedule ?? "cosine";
    if (!(schedule instanceof Schedule)) oneOf(schedule, "schedule", ["cosine", "wsd", "constant"]);
    const betas = opts.betas ?? [0.9, 0.95];
    return {
      batchSize: int(opts.batchSize ?? 16, "batchSize", 1),
      seqLen,
      accumulate: int(opts.accumulate ?? 1, "accumulate", 1),
      batchMode: oneOf(opts.batchMode ?? "random", "batchMode", ["random", "packed"] as const),
      seed: int(opts.seed ?? 0, "seed", 0),
      lr: checkNumber(opts.lr ?? 2e-3, "lr", "Trainer", 0, Infinity, { openLo: true }),
      schedule,
      warmup: opts.warmup === undefined ? null : int(opts.warmup, "warmup", 0),
      minLrRatio: checkNumber(opts.minLrRatio ?? 0.1, "minLrRatio", "Trainer", 0, 1),
      betas: [betas[0], betas[1]],
      eps: checkNumber(opts.eps ?? 1e-8, "eps", "Trainer", 0, Infinity, { openLo: true }),
      weightDecay: checkNumber(opts.weightDecay ?? 0.1, "weightDecay", "Trainer", 0),
      moments: oneOf(opts.moments ?? "float32", "moments", ["float32", "bfloat16"] as const),
      clip: checkNumber(opts.clip ?? 1.0, "clip", "Trainer", 0, Infinity, { allowInf: true }),
      precision: oneOf(opts.precision ?? m.precision, "precision", [
        "fp32",
        "bf16",
        "fp8",
      ] as const),
      balance,
      biasUpdateSpeed: checkNumber(
        opts.biasUpdateSpeed ?? m.config.settings.bias_update_speed,
        "biasUpdateSpeed",
        "Trainer",
        0,
      ),
      seqAux: checkNumber(opts.seqAux ?? (balance === "bias" ? 1e-4 : 0), "seqAux", "Trainer", 0),
      auxAlpha: checkNumber(opts.auxAlpha ?? 1e-3, "auxAlpha", "Trainer", 0),
      mtpWeight: checkNumber(opts.mtpWeight ?? 0.3, "mtpWeight", "Trainer", 0),
      evalWindows: int(opts.evalWindows ?? 64, "evalWindows", 1),
    };
  }

  /** The model reads and writes text with the data's tokenizer; two different ones are an error. */
  private adoptTokenizer(): void {
    const tk = this.train.tokenizer;
    const V = this.model.args.vocab_size;
    for (const ds of [this.train, this.validation])
      if (ds && ds.vocabSize > V)
        throw new RangeError(
          `Trainer: ${ds.name} has token ids up to ${ds.vocabSize - 1} but the model's vocab_size is ${V}`,
        );
    if (!tk) return;
    const mine = this.model.tokenizer;
    if (mine === null) this.model.tokenizer = tk;
    else if (JSON.stringify(mine.toJSON()) !== JSON.stringify(tk.toJSON()))
      throw new Error(
        `Trainer: the data was tokenized with another tokenizer (${tk.kind}, ${tk.vocabSize} ids) than the model carries (${mine.kind}, ${mine.vocabSize} ids)`,
      );
  }

  private checkData(): void {
    const { batchSize, seqLen } = this.options;
    if (this.train.length < seqLen + 1)
      throw new RangeError(
        `Trainer: rows of seqLen ${seqLen} need at least ${seqLen + 1} tokens; ${this.train.name} has ${this.train.length}`,
      );
    if (this.options.batchMode === "random" && this.train.length < batchSize * (seqLen + 1))
      throw new RangeError(
        `Trainer: a batch of ${batchSize} x ${seqLen + 1} tokens is larger than ${this.train.name} (${this.train.length} tokens)`,
      );
  }

  /** The MoE layers, in model order: main blocks, then MTP modules. */
  private registerLayers(): void {
    const add = (name: string, ffn: Module): void => {
      const gate = (ffn as Module & { gate?: Module & { bias: T.Tensor | null } }).gate;
      if (!gate) return;
      this.router.addLayer(name, gate, gate.bias, this.model.args.n_routed_experts);
    };
    this.model.layers.forEach((b) => add(b.ffn.hookPath, b.ffn));
    this.history.mainLayers = this.router.layers.length;
    this.model.mtp.forEach((b) => add(b.ffn.hookPath, b.ffn));
    this.history.layers = this.router.layers.map((l) => l.name);
  }

  /** The learning-rate schedule of the run (its length is the run's target). */
  get schedule(): Schedule {
    if (!this.scheduleObj) {
      const o = this.options;
      if (o.schedule instanceof Schedule) this.scheduleObj = o.schedule;
      else {
        const steps = this.target.steps;
        const warmup = o.warmup ?? (steps !== null ? Math.min(100, Math.round(0.05 * steps)) : 20);
        this.scheduleObj =
          o.schedule === "constant"
            ? constant({ lr: o.lr, warmup })
            : o.schedule === "wsd"
              ? wsd({ lr: o.lr, warmup, minRatio: o.minLrRatio })
              : cosine({ lr: o.lr, warmup, minRatio: o.minLrRatio });
      }
    }
    return this.scheduleObj;
  }

  /** The schedule in words; before the first fit() its length is not known yet. */
  private scheduleText(): string {
    const o = this.options;
    if (
      o.schedule instanceof Schedule ||
      this.target.steps !== null ||
      this.target.seconds !== null
    )
      return this.schedule.describe();
    const warm =
      o.warmup !== null
        ? `${o.warmup} warm-up steps`
        : "warm-up over 5% of the run (at most 100 steps)";
    return `${o.schedule}: ${warm}, then ${o.schedule === "constant" ? "constant" : `decay to ${o.lr * o.minLrRatio}`} over the run fit() sets`;
  }

  /** How far the run is toward its target, 0..1. */
  progress(): number {
    const { steps, seconds } = this.target;
    if (steps !== null) return steps > 0 ? Math.min(1, this.step / steps) : 1;
    if (seconds !== null) return seconds > 0 ? Math.min(1, this.elapsed / seconds) : 1;
    return 0;
  }

  private done(): boolean {
    const { steps, seconds } = this.target;
    return steps !== null ? this.step >= steps : seconds !== null ? this.elapsed >= seconds : true;
  }

  /**
   * One optimizer step: forward, backward, clipping, AdamW, bias update. Weights change only when
   * the loss and every gradient are finite; otherwise a NonFiniteError names the first bad tensor.
   */
  private trainStep(): StepRecord {
    const o = this.options;
    const t0 = now();
    const lr = this.schedule.at(this.step, this.progress());
    const r = this.router;
    r.reset();
    r.withLoss = true;
    let loss = 0;
    let main = 0;
    let mtp: number | null = null;
    let balance = 0;
    const batches: Batch[] = [];
    try {
      for (let m = 0; m < o.accumulate; m++)
        T.tidy(() => {
          const b = this.batches.next();
          batches.push(b);
          const parts = this.model.lossParts(b.inputs, b.targets, { mtpWeight: o.mtpWeight });
          const bal = r.takeLoss();
          const total = bal ? parts.loss.add(bal) : parts.loss;
          (o.accumulate > 1 ? total.div(o.accumulate) : total).backward();
          loss += total.item() / o.accumulate;
          main += parts.main.item() / o.accumulate;
          if (parts.mtp) mtp = (mtp ?? 0) + parts.mtp.item() / o.accumulate;
          if (bal) balance += bal.item() / o.accumulate;
          T.keep(b.inputs);
          T.keep(b.targets);
        });
    } finally {
      r.withLoss = false;
    }
    try {
      const { norm, scale } =
        o.clip > 0 && o.clip < Infinity
          ? clipGradScale(this.params, o.clip)
          : { norm: gradNorm(this.params), scale: 1 };
      if (!Number.isFinite(loss) || !Number.isFinite(norm)) {
        this.model.zeroGrad();
        throw this.diagnose(loss, norm, batches[batches.length - 1]);
      }
      this.optimizer.step({ lr, gradScale: scale });
      this.model.zeroGrad();
      if (o.balance === "bias" && o.biasUpdateSpeed > 0)
        for (const l of r.layers)
          if (l.bias)
            updateBias(l.bias._contiguousData() as Float32Array, l.counts, o.biasUpdateSpeed);
      this.step++;
      const ms = now() - t0;
      this.elapsed += ms / 1000;
      this.recentMs.push(ms);
      if (this.recentMs.length > 20) this.recentMs.shift();
      const tokens = o.batchSize * o.seqLen * o.accumulate;
      return {
        step: this.step,
        loss,
        main,
        mtp,
        balance,
        lr,
        gradNorm: norm,
        tokensPerSec: tokens / (ms / 1000),
        ms,
        elapsed: this.elapsed,
        maxVio: r.layers.map((l) => maxVio(l.counts)),
        load: r.layers.map((l) => Array.from(l.counts)),
        bias: r.layers.map((l) => (l.bias ? Array.from(l.bias.toArray()) : [])),
      };
    } finally {
      for (const b of batches) {
        b.inputs.dispose();
        b.targets.dispose();
      }
    }
  }

  /** Finds the first non-finite tensor of a failed step: a weight, an activation, a gradient. */
  private diagnose(loss: number, norm: number, batch: Batch): NonFiniteError {
    const step = this.step + 1;
    for (const [name, p] of this.model.namedParameters())
      if (!(p.toArray() as Float32Array).every(Number.isFinite))
        return new NonFiniteError(step, name, `step ${step}: the weight "${name}" is not finite`);
    if (!Number.isFinite(loss)) {
      let first: string | null = null;
      const removers = this.model.hookPoints().map((h) =>
        this.model.addHook(h, (t, name) => {
          if (
            first === null &&
            t.dtype === "float32" &&
            !(t.toArray() as Float32Array).every(Number.isFinite)
          )
            first = name;
        }),
      );
      try {
        T.noGrad(() => T.tidy(() => void this.model.lossParts(batch.inputs, batch.targets)));
      } catch {
        // The activation found so far is the answer.
      } finally {
        removers.forEach((rm) => rm());
      }
      const where = first ?? "the loss itself";
      return new NonFiniteError(
        step,
        where,
        `step ${step}: the loss is ${loss}; the first non-finite activation is ${where}. Nothing was updated; the last checkpoint is untouched`,
      );
    }
    for (const [name, p] of this.params)
      if (p.grad && !(p.grad.toArray() as Float32Array).every(Number.isFinite))
        return new NonFiniteError(
          step,
          name,
          `step ${step}: the gradient norm is ${norm}; the first non-finite gradient is "${name}". Nothing was updated`,
        );
    return new NonFiniteError(step, "gradient norm", `step ${step}: the gradient norm is ${norm}`);
  }

  /**
   * Validation loss (main next-token cross-entropy over evenly spaced windows) and MaxVio_global
   * (each MoE layer's load over all of them). `stop()` is polled between windows.
   */
  evaluate(stop: () => boolean = () => false): EvalRecord | null {
    if (!this.validation) return null;
    const o = this.options;
    this.evalSet ??= this.validation.evalWindows({
      count: o.evalWindows,
      seqLen: o.seqLen,
      batchSize: Math.min(o.batchSize, o.evalWindows),
    });
    for (const b of this.evalSet) {
      T.keep(b.inputs);
      T.keep(b.targets);
    }
    const r = this.router;
    r.reset();
    let sum = 0;
    let n = 0;
    for (const b of this.evalSet) {
      if (stop()) return null;
      T.noGrad(() =>
        T.tidy(() => {
          const logits = this.model.forward(b.inputs);
          const rows = b.inputs.shape[0] * b.inputs.shape[1];
          sum += T.crossEntropy(logits, b.targets).item() * rows;
          n += rows;
        }),
      );
    }
    return {
      step: this.step,
      valLoss: sum / n,
      maxVio: r.layers.map((l, i) => (i < this.history.mainLayers ? maxVio(l.counts) : NaN)),
    };
  }

  private state(status: ProgressState["status"], message = ""): ProgressState {
    const s = this.history.lastStep;
    const ev = this.history.lastEval;
    const avg = this.recentMs.length
      ? this.recentMs.reduce((a, b) => a + b, 0) / this.recentMs.length / 1000
      : NaN;
    const { steps, seconds } = this.target;
    const eta =
      steps !== null
        ? Math.max(0, steps - this.step) * avg
        : seconds !== null
          ? seconds - this.elapsed
          : NaN;
    const main = this.history.mainLayers;
    return {
      status,
      step: this.step,
      totalSteps: steps,
      totalSeconds: seconds,
      elapsed: this.elapsed,
      progress: this.progress(),
      eta,
      loss: s?.loss ?? NaN,
      main: s?.main ?? NaN,
      mtp: s?.mtp ?? null,
      valLoss: ev?.valLoss ?? null,
      lr: s?.lr ?? NaN,
      gradNorm: s?.gradNorm ?? NaN,
      tokensPerSec: s?.tokensPerSec ?? 0,
      maxVio: s && main > 0 ? s.maxVio.slice(0, main).reduce((a, b) => a + b, 0) / main : NaN,
      message,
      history: this.history,
    };
  }

  /**
   * Trains until the run reaches its target (`steps` or `seconds`, totals over every fit() of the
   * run; a later fit() with no target continues toward the same one). Runs to completion without
   * yielding to the event loop; the kernel's Interrupt stops it at the next step boundary with
   * the model, optimizer, biases and data position consistent.
   */
  async fit(opts: FitOptions = {}): Promise<History> {
    checkKeys(opts, ["steps", "seconds", "evalEvery", "checkpointEvery", "dir", "keep"], "fit");
    if (opts.steps !== undefined && opts.seconds !== undefined)
      throw new TypeError("fit: give steps or seconds, not both");
    if (opts.steps !== undefined) {
      int(opts.steps, "steps", 1);
      this.setTarget({ steps: opts.steps, seconds: null });
    } else if (opts.seconds !== undefined) {
      checkNumber(opts.seconds, "seconds", "fit", 0, Infinity, { openLo: true });
      this.setTarget({ steps: null, seconds: opts.seconds });
    } else if (this.target.steps === null && this.target.seconds === null)
      throw new TypeError("fit: give a target, { steps: N } or { seconds: S }");
    const evalEvery = int(opts.evalEvery ?? 0, "evalEvery", 0);
    const ckptEvery = int(opts.checkpointEvery ?? 0, "checkpointEvery", 0);
    const keep = int(opts.keep ?? 3, "keep", 1);
    if (ckptEvery > 0 && opts.dir === undefined)
      throw new TypeError("fit: checkpointEvery needs a dir to save into");
    if (opts.dir !== undefined) {
      if (typeof opts.dir !== "string" || opts.dir === "")
        throw new TypeError(`fit: dir must be a path, got ${show(opts.dir)}`);
      this.checkRunDir(opts.dir);
    }
    if (this.done()) {
      this.view?.update(
        this.state(
          "done",
          `already at step ${this.step} of the target: give fit a larger target to train on`,
        ),
        true,
      );
      return this.history;
    }
    this.model.precision = this.options.precision;
    const irq = interruptSource();
    const interrupted = (): boolean => irq.flag !== null && Atomics.load(irq.flag, 0) === 1;
    const holds: (() => void)[] = [];
    const hold = (ms: number): void => {
      const r = irq.hold(ms);
      if (r) holds.push(r);
    };
    hold(5000);
    this.model.ctx.onRoute = this.router.observe;
    let status: ProgressState["status"] = "running";
    let message = "";
    try {
      while (!this.done()) {
        if (interrupted()) {
          status = "interrupted";
          break;
        }
        const rec = this.trainStep();
        this.history.steps.push(rec);
        this.emit("step", rec);
        // An interrupt waits for one step (and an evaluation) at least.
        if (rec.ms * 3 > 5000) hold(rec.ms * 3);
        const last = this.done();
        if (this.validation && ((evalEvery > 0 && this.step % evalEvery === 0) || last)) {
          const ev = this.evaluate(interrupted);
          if (ev) {
            this.history.evals.push(ev);
            this.emit("eval", ev);
          }
        }
        if (opts.dir !== undefined && ((ckptEvery > 0 && this.step % ckptEvery === 0) || last))
          this.save(opts.dir, keep);
        this.view?.update(this.state("running"), false);
      }
      if (status === "interrupted") {
        message = `interrupted at step ${this.step}: the model, optimizer, biases and data position are consistent; fit() continues from here`;
        if (opts.dir !== undefined && this.step > 0) this.save(opts.dir, keep);
      } else status = "done";
    } catch (e) {
      status = "failed";
      message = (e as Error).message;
      throw e;
    } finally {
      this.model.ctx.onRoute = null;
      this.view?.update(this.state(status, message), true);
      this.emit("end", this.state(status, message));
      while (holds.length) holds.pop()!();
    }
    if (status === "interrupted") {
      irq.raise();
      throw new Error(message);
    }
    return this.history;
  }

  private setTarget(t: { steps: number | null; seconds: number | null }): void {
    const same = t.steps === this.target.steps && t.seconds === this.target.seconds;
    if (!same) this.scheduleObj = null; // a new target stretches the schedule to it
    this.target = t;
  }

  /** A run directory must not hold another config's or tokenizer's checkpoints. */
  private checkRunDir(dir: string): void {
    if (checkpointSteps(dir).length === 0) return;
    const ck = resolveCheckpoint(dir);
    const j = readTrainerJSON(ck);
    this.checkCompatible(j, ck);
  }

  private checkCompatible(j: Record<string, unknown>, where: string): void {
    const mine = this.model.config;
    const cfg = j.config as { args?: unknown; settings?: unknown } | undefined;
    const strip = (s: unknown): string => {
      const { precision: _p, seed: _s, ...rest } = (s ?? {}) as Record<string, unknown>;
      return JSON.stringify(rest);
    };
    if (
      !cfg ||
      JSON.stringify(cfg.args) !== JSON.stringify(mine.args) ||
      strip(cfg.settings) !== strip(mine.settings)
    )
      throw new RunCheckpointError(
        `${where} holds a checkpoint of another model config; nothing was changed (use another dir, or the same config)`,
      );
    const tok = this.model.tokenizer ? JSON.stringify(this.model.tokenizer.toJSON()) : null;
    const theirs =
      j.tokenizer === null || j.tokenizer === undefined ? null : JSON.stringify(j.tokenizer);
    if (tok !== theirs)
      throw new RunCheckpointError(
        `${where} holds a checkpoint made with another tokenizer; nothing was changed`,
      );
  }

  /** Saves a checkpoint of the run now (into dir/step-N, `latest` updated atomically). */
  save(dir: string, keep = 3): string {
    const opt = this.optimizer.stateDict();
    const { view: _v, schedule, ...opts } = this.options as Resolved & { view?: unknown };
    const json = {
      format: TRAINER_FORMAT,
      version: 1,
      step: this.step,
      elapsed: this.elapsed,
      target: this.target,
      threads: T.getNumThreads(),
      options: { ...opts, schedule: schedule instanceof Schedule ? schedule.describe() : schedule },
      config: { args: this.model.config.args, settings: this.model.config.settings },
      tokenizer: this.model.tokenizer ? this.model.tokenizer.toJSON() : null,
      data: {
        train: {
          name: this.train.name,
          tokens: this.train.length,
          fingerprint: this.train.fingerprint(),
        },
        batches: this.batches.state(),
      },
      optimizer: opt.scalars,
      history: this.history.toJSON(),
    };
    return writeRunCheckpoint(
      dir,
      this.step,
      (p) => this.model.saveSync(p),
      opt.tensors,
      json,
      keep,
    );
  }

  /**
   * Restores this trainer from a checkpoint (a run directory's latest, or a step-N directory):
   * weights, biases, optimizer, data position, step, clock and history. Everything is read and
   * checked first; a checkpoint of another config, tokenizer or dataset changes nothing.
   */
  async load(path: string): Promise<this> {
    const ck = resolveCheckpoint(path);
    const j = readTrainerJSON(ck);
    this.checkCompatible(j, ck);
    const data = j.data as {
      train?: { fingerprint?: number; tokens?: number };
      batches?: BatchState;
    };
    if (data?.train?.fingerprint !== this.train.fingerprint())
      throw new RunCheckpointError(
        `${ck} was trained on other data (${data?.train?.tokens ?? "?"} tokens) than ${this.train.name} (${this.train.length} tokens); nothing was changed`,
      );
    const saved = await Transformer.load(ck);
    const moments = await readMoments(ck);
    const history = History.fromJSON(j.history);
    const step = j.step as number;
    const elapsed = j.elapsed as number;
    if (!Number.isInteger(step) || step < 0 || !(elapsed >= 0))
      throw new RunCheckpointError(`${ck}: step or elapsed time is invalid`);
    // Everything is read; now it is applied (each setter below validates before it changes).
    const before = this.optimizer.stateDict();
    this.optimizer.loadStateDict({ tensors: moments, scalars: j.optimizer as AdamWScalars });
    try {
      this.batches.setState(data.batches as BatchState);
    } catch (e) {
      this.optimizer.loadStateDict(before);
      throw e;
    }
    T.noGrad(() => {
      const mine = this.model.namedParameters();
      for (const [n, p] of saved.namedParameters()) mine.get(n)!.copy_(p);
    });
    this.step = step;
    this.elapsed = elapsed;
    const t = j.target as { steps: number | null; seconds: number | null };
    this.setTarget({ steps: t?.steps ?? null, seconds: t?.seconds ?? null });
    this.scheduleObj = null;
    this.history.steps.length = 0;
    this.history.evals.length = 0;
    this.history.steps.push(...history.steps);
    this.history.evals.push(...history.evals);
    return this;
  }

  /**
   * A trainer continuing a checkpointed run: the model is read from the checkpoint, the options
   * are the run's (`opts` may change the view and other options that do not alter the numbers).
   */
  static async resume(
    path: string,
    data: TrainerData,
    opts: TrainerOptions = {},
  ): Promise<Trainer> {
    const ck = resolveCheckpoint(path);
    const j = readTrainerJSON(ck);
    const model = await Transformer.load(ck);
    const saved = (j.options ?? {}) as Record<string, unknown>;
    const { schedule, ...rest } = saved;
    const base: TrainerOptions = { ...(rest as TrainerOptions) };
    if (base.warmup === null) delete base.warmup;
    if (schedule === "cosine" || schedule === "wsd" || schedule === "constant")
      base.schedule = schedule;
    else if (opts.schedule === undefined)
      throw new RunCheckpointError(
        `${ck} was trained with a custom schedule (${String(schedule)}): pass it again as opts.schedule`,
      );
    const tr = new Trainer(model, data, { ...base, ...opts });
    return tr.load(ck);
  }

  override toString(): string {
    const o = this.options;
    const t =
      this.target.steps !== null
        ? `${this.step}/${this.target.steps} steps`
        : this.target.seconds !== null
          ? `${this.step} steps, ${this.elapsed.toFixed(0)}/${this.target.seconds} s`
          : `${this.step} steps`;
    return [
      `Trainer: ${t}; batch ${o.batchSize} x ${o.seqLen}${o.accumulate > 1 ? ` x ${o.accumulate} micro-batches` : ""}, ${o.precision}`,
      `  AdamW lr ${o.lr} (${this.scheduleText()}), betas ${o.betas.join("/")}, weight decay ${o.weightDecay}, clip ${o.clip}, moments ${o.moments}`,
      `  balance ${o.balance}${o.balance === "bias" ? ` (γ ${o.biasUpdateSpeed})` : ""}${o.seqAux > 0 ? `, sequence-wise α ${o.seqAux}` : ""}${o.balance === "aux" ? `, auxiliary α ${o.auxAlpha}` : ""}; MTP λ ${o.mtpWeight}`,
      `  data: ${this.train.name} (${this.train.length.toLocaleString("en-US")} tokens)${this.validation ? `, validation ${this.validation.name} (${this.validation.length.toLocaleString("en-US")} tokens)` : ""}`,
    ].join("\n");
  }

  [Symbol.for("Jupyter.display")](): Record<string, string> {
    return { "text/plain": this.toString() };
  }
}

function checkView(v: unknown): TrainerView | null {
  if (v === null) return null;
  if (typeof v === "object" && typeof (v as { update?: unknown }).update === "function")
    return v as TrainerView;
  const got = typeof v === "string" ? JSON.stringify(v) : typeof v;
  throw new TypeError(
    `Trainer: view must be an object with update(state, final) (e.g. a ProgressView or viz.Dashboard), or null for no live output; got ${got}`,
  );
}
