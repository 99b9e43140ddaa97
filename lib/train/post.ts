/**
 * What the post-training methods share (SFT, distillation, GRPO, rejection sampling): the
 * Trainer's AdamW, schedules and gradient clipping, one optimizer step that changes nothing
 * unless the loss and gradients are finite, the kernel's interrupt polled between steps, one live
 * output updated in place, a history of per-step metrics, and checkpoints.
 */
import * as T from "../tensor/index.js";
import { Transformer } from "../model/index.js";
import { writeRunCheckpoint } from "./checkpoint.js";
import { clipGradScale, gradNorm } from "./clip.js";
import { interruptSource } from "./interrupt.js";
import { AdamW } from "./optim.js";
import { checkKeys, checkNumber, show } from "./options.js";
import { LiveOutput, formatDuration, progressBox, statusColour } from "./progress.js";
import { Schedule, constant, cosine } from "./schedule.js";
import { NonFiniteError } from "./trainer.js";

/** Options every post-training method takes (each states its own defaults). */
export interface PostOptions {
  /** Peak learning rate. */
  lr?: number;
  /** "constant" (default), "cosine", or a Schedule. */
  schedule?: "constant" | "cosine" | Schedule;
  /** Linear warm-up steps (default 0). */
  warmup?: number;
  /** AdamW's betas (default [0.9, 0.95]), eps (1e-8) and weight decay (default 0). */
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  /** Clip the global gradient norm to this (default 1; 0 turns clipping off). */
  clip?: number;
  /** Seed of the data order and of sampling (default 0). */
  seed?: number;
  /** The string a completion ends with; it must be one token (default "\n"). */
  stop?: string;
  /** The live output (default: a PostView; null for none). */
  view?: PostView | null;
}

export const POST_OPTION_KEYS = [
  "lr",
  "schedule",
  "warmup",
  "betas",
  "eps",
  "weightDecay",
  "clip",
  "seed",
  "stop",
  "view",
] as const;

/** One step's metrics, by name (each method documents its own). */
export type PostRecord = { step: number } & Record<string, number>;

/** Where a post-training run stands, as a view receives it. */
export interface PostState {
  title: string;
  status: "running" | "done" | "interrupted" | "failed";
  step: number;
  /** The steps of this fit() call (0 when it trains for a time budget). */
  totalSteps: number;
  /** The time budget of this fit() call in seconds, when it trains for one (else null). */
  totalSeconds?: number | null;
  /** Seconds since this fit() call started (wall clock, per-step callbacks included). */
  runElapsed?: number;
  elapsed: number;
  eta: number;
  /** The last step's metrics shown (label, value). */
  metrics: [string, number][];
  message: string;
}

/** A live output: `final` is true on the last call of a run. */
export interface PostView {
  update(state: PostState, final: boolean): void;
}

const fmt = (x: number): string =>
  !Number.isFinite(x)
    ? "-"
    : x !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e5)
      ? x.toExponential(2)
      : Number.isInteger(x)
        ? String(x)
        : x.toFixed(3);

/** How far a run is, 0..1: by steps, or by time when it trains for a time budget. */
function fraction(s: PostState): number {
  const byTime = s.totalSeconds ? Math.min(1, (s.runElapsed ?? 0) / s.totalSeconds) : 0;
  const bySteps = s.totalSteps > 0 ? Math.min(1, s.step / s.totalSteps) : 0;
  return s.totalSeconds || s.totalSteps > 0 ? Math.max(byTime, bySteps) : 1;
}

/** "12/100", or "12 (1m00s of 8m00s)" for a time budget. */
function stepText(s: PostState): string {
  const n = s.totalSteps > 0 ? `${s.step}/${s.totalSteps}` : String(s.step);
  return s.totalSeconds
    ? `${n} (${formatDuration(Math.min(s.runElapsed ?? 0, s.totalSeconds))} of ${formatDuration(s.totalSeconds)})`
    : n;
}

/** The text/plain line of a state. */
export function postLine(s: PostState, width = 20): string {
  const filled = Math.round(fraction(s) * width);
  return (
    [
      `${s.title} [${"#".repeat(filled)}${"-".repeat(width - filled)}] step ${stepText(s)}`,
      ...s.metrics.map(([k, v]) => `${k} ${fmt(v)}`),
      s.status === "running" ? `ETA ${formatDuration(s.eta)}` : formatDuration(s.elapsed),
    ].join("  ") + (s.message ? `\n${s.message}` : "")
  );
}

/** The text/html form: a bar and a one-row table. */
export function postHtml(s: PostState): string {
  const pct = (fraction(s) * 100).toFixed(1);
  const colour = statusColour(s.status);
  const cells: [string, string][] = [
    ["step", stepText(s).replace("/", " / ")],
    ...s.metrics.map(([k, v]): [string, string] => [k, fmt(v)]),
    [
      s.status === "running" ? "ETA" : "time",
      formatDuration(s.status === "running" ? s.eta : s.elapsed),
    ],
  ];
  return progressBox(pct, colour, cells, s.message, s.title);
}

/**
 * The default live output: in a kernel ONE output updated in place (a display id, at most every
 * `intervalMs`, and at the end); elsewhere a line on stdout every `printEveryMs` and at the end.
 */
export class PostProgressView implements PostView {
  private readonly out: LiveOutput;
  constructor(readonly opts: { intervalMs?: number; printEveryMs?: number } = {}) {
    this.out = new LiveOutput(opts);
  }
  update(state: PostState, final: boolean): void {
    this.out.show(
      () => postLine(state),
      () => postHtml(state),
      final,
    );
  }
}

/**
 * What one fit() call trains: `steps` more steps, or for `seconds` of wall clock (both: it stops
 * at whichever comes first).
 */
export interface PostFitOptions<R extends PostRecord = PostRecord> {
  steps?: number;
  /** Train until this many seconds have passed since the call (onStep's time included). */
  seconds?: number;
  /** Called after every step with its record (an evaluation, a log); inside the time budget. */
  onStep?: (record: R) => void;
}

/** Checks fit()'s options: steps or seconds (or both), and onStep a function if given. */
function checkFit<R extends PostRecord>(
  o: PostFitOptions<R>,
  where: string,
): { steps: number | null; seconds: number | null; onStep: ((r: R) => void) | null } {
  if (!o || typeof o !== "object")
    throw new TypeError(`${where}: fit takes { steps: N } or { seconds: S }, got ${show(o)}`);
  checkKeys(o as Record<string, unknown>, ["steps", "seconds", "onStep"], `${where} fit`);
  if (o.steps === undefined && o.seconds === undefined)
    throw new TypeError(`${where}: fit takes { steps: N } or { seconds: S } (when to stop)`);
  if (o.steps !== undefined && !(Number.isInteger(o.steps) && o.steps >= 1))
    throw new RangeError(`${where}: steps must be an integer >= 1, got ${show(o.steps)}`);
  if (o.seconds !== undefined)
    checkNumber(o.seconds, "seconds", where, 0, Infinity, { openLo: true });
  if (o.onStep !== undefined && typeof o.onStep !== "function")
    throw new TypeError(
      `${where}: onStep must be a function (record) => void, got ${show(o.onStep)}`,
    );
  return { steps: o.steps ?? null, seconds: o.seconds ?? null, onStep: o.onStep ?? null };
}

/** Per-step metrics of a post-training run, kept as plain numbers and shown as a table. */
export class PostHistory<R extends PostRecord = PostRecord> {
  readonly steps: R[] = [];
  /** Extra records a method keeps per round or evaluation (rejection sampling's kept counts). */
  readonly rounds: Record<string, number>[] = [];
  get lastStep(): R | undefined {
    return this.steps[this.steps.length - 1];
  }
  /** One metric of every step, e.g. history.column("reward"). */
  column(key: keyof R & string): number[] {
    return this.steps.map((r) => r[key] as number);
  }
  toJSON(): { steps: R[]; rounds: Record<string, number>[] } {
    return { steps: this.steps, rounds: this.rounds };
  }
  /** A table of every `every`-th step (and the last) over the given columns (default all). */
  table(columns?: string[], every = 1): string {
    if (this.steps.length === 0) return "(no steps)";
    const cols = columns ?? Object.keys(this.steps[0]);
    const rows = this.steps.filter((r, i) => i % every === 0 || i === this.steps.length - 1);
    const cells = rows.map((r) => cols.map((c) => fmt(r[c] as number)));
    const w = cols.map((c, j) => Math.max(c.length, ...cells.map((row) => row[j].length)));
    const line = (xs: string[]): string => xs.map((x, j) => x.padStart(w[j])).join("  ");
    return [line(cols), ...cells.map(line)].join("\n");
  }
  toString(): string {
    return this.table();
  }
  [Symbol.for("Jupyter.display")](): Record<string, string> {
    return { "text/plain": this.table() };
  }
}

const now = (): number => Number(process.hrtime.bigint()) / 1e6;

/** The shared loop; each method supplies its step. */
export abstract class PostTrainer<R extends PostRecord> {
  readonly model: Transformer;
  readonly optimizer: AdamW;
  readonly history = new PostHistory<R>();
  readonly view: PostView | null;
  /** Optimizer steps made so far (over every run of this object). */
  step = 0;
  /** Seconds of steps so far. */
  elapsed = 0;
  protected readonly params: Map<string, T.Tensor>;
  protected readonly base: {
    lr: number;
    schedule: "constant" | "cosine" | Schedule;
    warmup: number;
    clip: number;
    seed: number;
    stop: string;
  };
  private scheduleObj: Schedule | null = null;
  protected abstract readonly title: string;

  constructor(
    model: Transformer,
    opts: PostOptions,
    keys: readonly string[],
    where: string,
    defaults: { lr: number },
  ) {
    if (!(model instanceof Transformer))
      throw new TypeError(`${where}: model must be a Transformer, got ${show(model)}`);
    checkKeys(opts, [...POST_OPTION_KEYS, ...keys], where);
    this.model = model;
    const schedule = opts.schedule ?? "constant";
    if (!(schedule instanceof Schedule) && schedule !== "constant" && schedule !== "cosine")
      throw new TypeError(
        `${where}: schedule must be "constant", "cosine" or a Schedule, got ${show(schedule)}`,
      );
    const warmup = opts.warmup ?? 0;
    if (!Number.isInteger(warmup) || warmup < 0)
      throw new RangeError(`${where}: warmup must be an integer >= 0, got ${show(warmup)}`);
    const seed = opts.seed ?? 0;
    if (!Number.isSafeInteger(seed) || seed < 0)
      throw new RangeError(`${where}: seed must be a non-negative integer, got ${show(seed)}`);
    const stop = opts.stop ?? "\n";
    if (typeof stop !== "string" || stop === "")
      throw new TypeError(`${where}: stop must be a non-empty string, got ${show(stop)}`);
    this.base = {
      lr: checkNumber(opts.lr ?? defaults.lr, "lr", where, 0, Infinity, { openLo: true }),
      schedule,
      warmup,
      clip: checkNumber(opts.clip ?? 1, "clip", where, 0, Infinity, { allowInf: true }),
      seed,
      stop,
    };
    const betas = opts.betas ?? [0.9, 0.95];
    if (opts.view !== undefined && opts.view !== null && typeof opts.view?.update !== "function")
      throw new TypeError(`${where}: view must have update(state, final), or be null`);
    this.view = opts.view === undefined ? new PostProgressView() : opts.view;
    this.params = model.trainableParameters();
    this.optimizer = new AdamW(this.params, {
      lr: this.base.lr,
      betas: [betas[0], betas[1]],
      eps: opts.eps ?? 1e-8,
      weightDecay: opts.weightDecay ?? 0,
    });
  }

  /** The learning rate of the next update at `progress` ∈ [0, 1] of the run (see Schedule). */
  protected lrAt(progress: number): number {
    const b = this.base;
    const p = Math.min(1, Math.max(0, progress));
    if (b.schedule instanceof Schedule) return b.schedule.at(this.step, p);
    this.scheduleObj ??=
      b.schedule === "cosine"
        ? cosine({ lr: b.lr, warmup: b.warmup, minRatio: 0.1 })
        : constant({ lr: b.lr, warmup: b.warmup });
    return this.scheduleObj.at(this.step, p);
  }

  /**
   * Backward of `lossFn`'s loss, clipping and AdamW: the weights change only when the loss and
   * the gradient norm are finite (otherwise the gradients are dropped and an error is thrown).
   */
  protected update(lossFn: () => T.Tensor, lr: number): { loss: number; gradNorm: number } {
    let loss = NaN;
    try {
      T.tidy(() => {
        const l = lossFn();
        loss = l.item();
        if (Number.isFinite(loss)) l.backward();
      });
    } catch (e) {
      this.model.zeroGrad();
      throw e;
    }
    const c = this.base.clip;
    const { norm, scale } =
      Number.isFinite(loss) && c > 0 && c < Infinity
        ? clipGradScale(this.params, c)
        : { norm: Number.isFinite(loss) ? gradNorm(this.params) : NaN, scale: 1 };
    if (!Number.isFinite(loss) || !Number.isFinite(norm)) {
      this.model.zeroGrad();
      throw new NonFiniteError(
        this.step + 1,
        Number.isFinite(loss) ? "gradient norm" : "loss",
        `${this.title} step ${this.step + 1}: the ${Number.isFinite(loss) ? `gradient norm is ${norm}` : `loss is ${loss}`}; nothing was updated`,
      );
    }
    this.optimizer.step({ lr, gradScale: scale });
    this.model.zeroGrad();
    return { loss, gradNorm: norm };
  }

  /** The metrics shown live for a record. */
  protected abstract shown(r: R): [string, number][];

  /**
   * Runs `stepFn` (each call one step, returning its record) for `target.steps` steps or until
   * `target.seconds` of wall clock have passed since the call (a step started before the budget
   * runs out is finished); `onStep` runs after each step, inside the budget. Polls the kernel's
   * interrupt between steps, updates ONE live output, and stops cleanly on an interrupt or error.
   * `stepFn` gets the run's progress ∈ [0, 1] (steps done over the run's total, or time used over
   * the budget) for the learning-rate schedule.
   */
  protected async loop(
    target: PostFitOptions<R>,
    stepFn: (progress: number) => Omit<R, "step" | "ms" | "elapsed">,
  ): Promise<PostHistory<R>> {
    const { steps, seconds, onStep } = checkFit(target, this.title);
    const irq = interruptSource();
    const interrupted = (): boolean => irq.flag !== null && Atomics.load(irq.flag, 0) === 1;
    const release = irq.hold(5000);
    const start = this.step;
    const total = steps === null ? Infinity : start + steps;
    const progress = (): number =>
      Math.max(
        steps === null ? 0 : this.step / total,
        seconds === null ? 0 : runElapsed() / seconds,
      );
    const t0 = now();
    const runElapsed = (): number => (now() - t0) / 1000;
    const recent: number[] = [];
    let status: PostState["status"] = "running";
    let message = "";
    const state = (): PostState => {
      const last = this.history.lastStep;
      const avg = recent.length ? recent.reduce((a, b) => a + b, 0) / recent.length / 1000 : NaN;
      return {
        title: this.title,
        status,
        step: this.step - start,
        totalSteps: steps ?? 0,
        totalSeconds: seconds,
        runElapsed: runElapsed(),
        elapsed: this.elapsed,
        eta: Math.min(
          seconds === null ? Infinity : Math.max(0, seconds - runElapsed()),
          steps === null ? Infinity : (total - this.step) * avg,
        ),
        metrics: last ? this.shown(last) : [],
        message,
      };
    };
    try {
      while (this.step < total && (seconds === null || runElapsed() < seconds)) {
        if (interrupted()) {
          status = "interrupted";
          break;
        }
        const ts = now();
        const rec = stepFn(progress());
        this.step++;
        const ms = now() - ts;
        recent.push(ms);
        if (recent.length > 10) recent.shift();
        this.elapsed += ms / 1000;
        const full = { ...rec, step: this.step, ms, elapsed: this.elapsed } as unknown as R;
        this.history.steps.push(full);
        onStep?.(full);
        this.view?.update(state(), false);
      }
      if (status === "interrupted")
        message = `interrupted at step ${this.step}: the model and optimizer are consistent; run again to continue`;
      else status = "done";
    } catch (e) {
      status = "failed";
      message = (e as Error).message;
      throw e;
    } finally {
      this.view?.update(state(), true);
      release?.();
    }
    if (status === "interrupted") {
      irq.raise();
      throw new Error(message);
    }
    return this.history;
  }

  /** Saves the model, the optimizer's moments and the history into dir/step-N (latest updated). */
  save(dir: string, keep = 3): string {
    const opt = this.optimizer.stateDict();
    return writeRunCheckpoint(
      dir,
      this.step,
      (p) => this.model.saveSync(p),
      opt.tensors,
      {
        format: "moelab-posttrain",
        version: 1,
        method: this.title,
        step: this.step,
        elapsed: this.elapsed,
        optimizer: opt.scalars,
        config: { args: this.model.config.args, settings: this.model.config.settings },
        tokenizer: this.model.tokenizer ? this.model.tokenizer.toJSON() : null,
        history: this.history.toJSON(),
      },
      keep,
    );
  }
}

/** A frozen copy of a model (same config, tokenizer and weights), for a reference or teacher. */
export function frozenCopy(model: Transformer): Transformer {
  const copy = Transformer.create(model.config);
  copy.loadStateDict(model.stateDict());
  copy.tokenizer = model.tokenizer;
  copy.precision = model.precision;
  return copy;
}

/**
 * Per-token log-probabilities of the targets: -crossEntropy per position ([B, L], 0 where the
 * target is ignored). Gradients flow to `logits`.
 */
export function tokenLogProbs(logits: T.Tensor, targets: T.Tensor): T.Tensor {
  return T.crossEntropy(logits, targets, { reduction: "none", ignoreIndex: -100 }).neg();
}

/** Row weights 1/(B·|o_b|) on each scored position: Σ w·x is the mean over rows of per-row means. */
export function perRowMeanWeights(targets: number[][], lengths: number[]): T.Tensor {
  const B = targets.length;
  const L = targets[0].length;
  const w = new Float32Array(B * L);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < L; t++) if (targets[b][t] !== -100) w[b * L + t] = 1 / (B * lengths[b]);
  return T.tensor(w, { shape: [B, L] });
}

export { checkNumber, show };
