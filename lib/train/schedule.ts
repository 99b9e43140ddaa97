/**
 * Learning-rate schedules. A schedule maps (step, progress) to a learning rate: `step` is the
 * index of the update about to run (0 for the first), `progress` ∈ [0, 1] how far the run is —
 * step / totalSteps when training for N steps, elapsed / budget when training for S seconds.
 * Warm-up is counted in steps, decay over progress, so one schedule serves both kinds of run.
 *
 *   const s = cosine({ lr: 2e-3, warmup: 100, minRatio: 0.1 });
 *   opt.step({ lr: s.at(step, step / 1000) });
 */
import { checkCount, checkKeys, checkNumber, show } from "./options.js";

export abstract class Schedule {
  /** "constant", "cosine", "wsd" or "function". */
  abstract readonly kind: string;
  /** The peak learning rate (NaN for a plain function). */
  abstract readonly lr: number;

  /** The learning rate of update `step` (0-based) at `progress` ∈ [0, 1] (above 1 counts as 1). */
  at(step: number, progress: number): number {
    checkCount(step, "step", `${this.kind} schedule`);
    checkNumber(progress, "progress", `${this.kind} schedule`, 0);
    return this.value(step, Math.min(progress, 1));
  }

  /** The learning rates of a run of `totalSteps` steps (progress = step / totalSteps). */
  values(totalSteps: number): Float64Array {
    checkCount(totalSteps, "totalSteps", `${this.kind} schedule`);
    const out = new Float64Array(totalSteps);
    for (let s = 0; s < totalSteps; s++) out[s] = this.at(s, s / totalSteps);
    return out;
  }

  /** One line: the shape and its numbers. */
  abstract describe(): string;

  protected abstract value(step: number, progress: number): number;

  toString(): string {
    return this.describe();
  }

  [Symbol.for("Jupyter.display")](): Record<string, string> {
    return { "text/plain": this.describe() };
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.describe();
  }
}

function fmt(x: number): string {
  return String(Number(x.toPrecision(6)));
}

/** Linear warm-up factor: (step + 1) / warmup during the first `warmup` steps, then 1. */
function warmFactor(step: number, warmup: number): number {
  return step < warmup ? (step + 1) / warmup : 1;
}

/**
 * How far the decay after warm-up has gone: (step − W) / (N − W) for a run of N steps, written
 * with progress so that a time budget works too (the progress where warm-up ended is estimated
 * as W · progress / step, exact when progress = step / N).
 */
function decayProgress(step: number, progress: number, warmup: number): number {
  if (step <= warmup || progress <= 0) return 0;
  const q = (progress * (step - warmup)) / (step - warmup * progress);
  return Math.min(1, Math.max(0, q));
}

function warmText(warmup: number): string {
  return warmup > 0 ? `linear warm-up over ${warmup} steps, then ` : "";
}

interface PeakOptions {
  /** Peak learning rate. */
  lr: number;
  /** Steps of linear warm-up from lr/warmup to lr (default 0). */
  warmup?: number;
}

function checkPeak(
  opts: unknown,
  keys: readonly string[],
  where: string,
): { lr: number; warmup: number } {
  if (opts === null || typeof opts !== "object")
    throw new TypeError(`${where}: expected options { lr, ... }, got ${show(opts)}`);
  checkKeys(opts, keys, where);
  const o = opts as PeakOptions;
  return {
    lr: checkNumber(o.lr, "lr", where, 0),
    warmup: checkCount(o.warmup ?? 0, "warmup", where),
  };
}

function checkRatio(x: unknown, name: string, where: string, fallback: number): number {
  return checkNumber(x ?? fallback, name, where, 0, 1);
}

class Constant extends Schedule {
  readonly kind = "constant";
  constructor(
    readonly lr: number,
    readonly warmup: number,
  ) {
    super();
  }
  protected value(step: number): number {
    return this.lr * warmFactor(step, this.warmup);
  }
  describe(): string {
    return `constant: ${warmText(this.warmup)}lr ${fmt(this.lr)}`;
  }
}

export interface CosineOptions extends PeakOptions {
  /** Final learning rate as a fraction of lr (default 0.1). */
  minRatio?: number;
}

class Cosine extends Schedule {
  readonly kind = "cosine";
  constructor(
    readonly lr: number,
    readonly warmup: number,
    readonly minRatio: number,
  ) {
    super();
  }
  protected value(step: number, progress: number): number {
    if (step < this.warmup) return this.lr * warmFactor(step, this.warmup);
    const q = decayProgress(step, progress, this.warmup);
    const m = this.minRatio;
    return this.lr * (m + (1 - m) * 0.5 * (1 + Math.cos(Math.PI * q)));
  }
  describe(): string {
    return (
      `cosine: ${warmText(this.warmup)}cosine decay from ${fmt(this.lr)} to ` +
      `${fmt(this.lr * this.minRatio)} (${fmt(this.minRatio * 100)}%) at the end of the run`
    );
  }
}

export interface WsdOptions extends PeakOptions {
  /** Share of the run (by progress) spent decaying, at its end (default 0.2). */
  decayFraction?: number;
  /** Final learning rate as a fraction of lr (default 0). */
  minRatio?: number;
  /** Shape of the decay (default "linear"). */
  shape?: "linear" | "cosine";
}

class Wsd extends Schedule {
  readonly kind = "wsd";
  constructor(
    readonly lr: number,
    readonly warmup: number,
    readonly decayFraction: number,
    readonly minRatio: number,
    readonly shape: "linear" | "cosine",
  ) {
    super();
  }
  protected value(step: number, progress: number): number {
    if (step < this.warmup) return this.lr * warmFactor(step, this.warmup);
    const start = 1 - this.decayFraction;
    if (progress <= start || this.decayFraction === 0) return this.lr;
    const r = Math.min(1, (progress - start) / this.decayFraction);
    const m = this.minRatio;
    const f = this.shape === "linear" ? 1 - r : 0.5 * (1 + Math.cos(Math.PI * r));
    return this.lr * (m + (1 - m) * f);
  }
  describe(): string {
    return (
      `wsd: ${warmText(this.warmup)}stable at ${fmt(this.lr)} until ` +
      `${fmt((1 - this.decayFraction) * 100)}% of the run, then ${this.shape} decay to ` +
      `${fmt(this.lr * this.minRatio)} (${fmt(this.minRatio * 100)}%)`
    );
  }
}

class FromFunction extends Schedule {
  readonly kind = "function";
  readonly lr = NaN;
  constructor(
    private readonly fn: (step: number, progress: number) => number,
    private readonly text: string,
  ) {
    super();
  }
  protected value(step: number, progress: number): number {
    const lr = this.fn(step, progress);
    if (typeof lr !== "number" || !Number.isFinite(lr) || lr < 0)
      throw new RangeError(
        `schedule function: returned ${show(lr)} at step ${step} (progress ${progress}); a learning rate is a finite number >= 0`,
      );
    return lr;
  }
  describe(): string {
    return `function: ${this.text}`;
  }
}

/** The same lr throughout, after an optional linear warm-up. */
export function constant(opts: PeakOptions): Schedule {
  const { lr, warmup } = checkPeak(opts, ["lr", "warmup"], "constant");
  return new Constant(lr, warmup);
}

/** Linear warm-up, then cosine decay from lr to lr·minRatio, reached at the end of the run. */
export function cosine(opts: CosineOptions): Schedule {
  const where = "cosine";
  const { lr, warmup } = checkPeak(opts, ["lr", "warmup", "minRatio"], where);
  return new Cosine(lr, warmup, checkRatio(opts.minRatio, "minRatio", where, 0.1));
}

/**
 * Warm-up / stable / decay: linear warm-up, lr held until the last `decayFraction` of the run,
 * then a linear (or cosine) decay to lr·minRatio.
 */
export function wsd(opts: WsdOptions): Schedule {
  const where = "wsd";
  const { lr, warmup } = checkPeak(
    opts,
    ["lr", "warmup", "decayFraction", "minRatio", "shape"],
    where,
  );
  const shape = opts.shape ?? "linear";
  if (shape !== "linear" && shape !== "cosine")
    throw new TypeError(`${where}: shape must be "linear" or "cosine", got ${show(shape)}`);
  return new Wsd(
    lr,
    warmup,
    checkRatio(opts.decayFraction, "decayFraction", where, 0.2),
    checkRatio(opts.minRatio, "minRatio", where, 0),
    shape,
  );
}

/** Any (step, progress) => lr; its values are checked as they are asked for. */
export function fromFunction(
  fn: (step: number, progress: number) => number,
  description = "a user function of (step, progress)",
): Schedule {
  if (typeof fn !== "function")
    throw new TypeError(`fromFunction: expected (step, progress) => lr, got ${show(fn)}`);
  if (typeof description !== "string")
    throw new TypeError(`fromFunction: description must be a string`);
  return new FromFunction(fn, description);
}
