/**
 * Batches of token windows for training and evaluation: inputs [B, T] and targets [B, T]
 * (targets = the next token, each row being one window of T + 1 tokens of the stream).
 *
 * Two modes, both seeded and resumable:
 *   - "random": each row starts at a uniformly drawn position of the stream; rows may run across
 *     document boundaries (and separators), as GPT-style pre-training does.
 *   - "packed": every document is cut into consecutive windows of T + 1 tokens that overlap by
 *     one token (starts 0, T, 2T, ... so every token but a document's first is a target once);
 *     a document's tail shorter than a window is dropped, as are documents shorter than T + 1.
 *     Each epoch visits every window once in a seeded shuffled order; each row carries the label
 *     of its document.
 */
import { tensor, type Tensor } from "../tensor/index.js";
import type { TokenDataset } from "./dataset.js";
import { commas, DISPLAY } from "./display.js";
import { Rng, seedState } from "../tensor/index.js";

export interface BatchOptions {
  /** Rows per batch (B). */
  batchSize: number;
  /** Tokens per row (T); each row reads T + 1 tokens. */
  seqLen: number;
  /** Seed of the order (default 0). */
  seed?: number;
  /** "random" windows over the stream (default) or "packed" windows inside documents. */
  mode?: "random" | "packed";
}

export interface Batch {
  /** Token ids [B, T], int32. */
  inputs: Tensor;
  /** The next token of each input [B, T], int32. */
  targets: Tensor;
  /** Each row's first position in the dataset's stream. */
  starts: number[];
  /** Each row's document label (packed mode and document eval windows); null in random mode. */
  labels: (string | null)[] | null;
}

/** Where a Batches iterator stands: plain numbers, JSON-serialisable, for checkpoints. */
export interface BatchState {
  mode: "random" | "packed";
  seed: number;
  batchSize: number;
  seqLen: number;
  /** The dataset's token count and fingerprint: restoring on other data is an error. */
  tokens: number;
  fingerprint: number;
  /** Batches produced so far. */
  step: number;
  /** random mode: the generator's uint32 state. */
  rng?: number;
  /** packed mode: the epoch and the next window's index in its shuffled order. */
  epoch?: number;
  index?: number;
}

function positiveInt(name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1)
    throw new RangeError(
      `${name} must be a positive integer, got ${typeof v === "string" ? JSON.stringify(v) : String(v)}`,
    );
  return v;
}

/** Starts of the packed windows: T + 1 tokens inside one document, stepping by T. */
function packedStarts(ds: TokenDataset, seqLen: number): { starts: Int32Array; docs: Int32Array } {
  const starts: number[] = [];
  const docs: number[] = [];
  ds.documents.forEach((d, i) => {
    for (let s = d.start; s + seqLen + 1 <= d.end; s += seqLen) {
      starts.push(s);
      docs.push(i);
    }
  });
  return { starts: Int32Array.from(starts), docs: Int32Array.from(docs) };
}

function longestDocument(ds: TokenDataset): number {
  return ds.documents.reduce((m, d) => Math.max(m, d.end - d.start), 0);
}

/** The rows of one batch as tensors; `starts` index the stream. */
function makeBatch(
  ds: TokenDataset,
  starts: number[],
  seqLen: number,
  labels: (string | null)[] | null,
): Batch {
  const B = starts.length;
  const inp = new Int32Array(B * seqLen);
  const tgt = new Int32Array(B * seqLen);
  const t = ds.tokens;
  starts.forEach((s, r) => {
    inp.set(t.subarray(s, s + seqLen), r * seqLen);
    tgt.set(t.subarray(s + 1, s + seqLen + 1), r * seqLen);
  });
  return {
    inputs: tensor(inp, { shape: [B, seqLen] }),
    targets: tensor(tgt, { shape: [B, seqLen] }),
    starts,
    labels,
  };
}

/**
 * An endless, seeded sequence of batches. `next()` gives the next batch; `state()` says where
 * the sequence stands and `setState(s)` returns to it, so a restored iterator yields exactly the
 * batches the saved one would have.
 */
export class Batches implements Iterable<Batch> {
  readonly dataset: TokenDataset;
  readonly mode: "random" | "packed";
  readonly batchSize: number;
  readonly seqLen: number;
  readonly seed: number;
  /** packed mode: the windows' stream starts and document indices. */
  private readonly windows: { starts: Int32Array; docs: Int32Array } | null = null;
  private order: Int32Array | null = null;
  private rng: Rng;
  private step = 0;
  private epoch = 0;
  private index = 0;

  constructor(dataset: TokenDataset, opts: BatchOptions) {
    if (opts === null || typeof opts !== "object")
      throw new TypeError("batches expects options { batchSize, seqLen }");
    this.dataset = dataset;
    this.batchSize = positiveInt("batchSize", opts.batchSize);
    this.seqLen = positiveInt("seqLen", opts.seqLen);
    this.seed = opts.seed ?? 0;
    this.mode = opts.mode ?? "random";
    this.rng = new Rng(this.seed);
    const need = this.seqLen + 1;
    const n = dataset.length;
    if (this.mode === "random") {
      if (n < need)
        throw new RangeError(
          `a batch of seqLen ${this.seqLen} needs at least ${need} tokens, the dataset has ${commas(n)}`,
        );
      if (this.batchSize * need > n)
        throw new RangeError(
          `a batch of ${this.batchSize} x ${need} tokens is larger than the dataset ` +
            `(${commas(n)} tokens): lower batchSize or seqLen`,
        );
    } else if (this.mode === "packed") {
      this.windows = packedStarts(dataset, this.seqLen);
      const w = this.windows.starts.length;
      if (w === 0)
        throw new RangeError(
          `packed batches of seqLen ${this.seqLen} need a document of at least ${need} tokens; ` +
            `the longest has ${commas(longestDocument(dataset))} (use mode "random" or a shorter seqLen)`,
        );
      if (this.batchSize > w)
        throw new RangeError(
          `a batch of ${this.batchSize} rows is larger than the data: the documents hold ` +
            `${commas(w)} packed windows of ${need} tokens`,
        );
    } else {
      throw new RangeError(`mode must be "random" or "packed", got ${JSON.stringify(opts.mode)}`);
    }
  }

  /** Packed windows per epoch (packed mode), or possible window starts (random mode). */
  get windowCount(): number {
    return this.windows ? this.windows.starts.length : this.dataset.length - this.seqLen;
  }

  /** The shuffled window order of an epoch: a function of (seed, epoch) only. */
  private epochOrder(epoch: number): Int32Array {
    const w = this.windows!.starts.length;
    const order = new Int32Array(w).map((_, i) => i);
    return Rng.fromState(seedState(this.seed, epoch + 1)).shuffle(order);
  }

  next(): Batch {
    const B = this.batchSize;
    const T = this.seqLen;
    const starts: number[] = [];
    let labels: (string | null)[] | null = null;
    if (this.mode === "random") {
      const range = this.dataset.length - T;
      for (let r = 0; r < B; r++) starts.push(this.rng.below(range));
    } else {
      const win = this.windows!;
      labels = [];
      for (let r = 0; r < B; r++) {
        if (this.index >= win.starts.length) {
          this.epoch++;
          this.index = 0;
          this.order = null;
        }
        this.order ??= this.epochOrder(this.epoch);
        const k = this.order[this.index++];
        starts.push(win.starts[k]);
        labels.push(this.dataset.documents[win.docs[k]].label);
      }
    }
    this.step++;
    return makeBatch(this.dataset, starts, T, labels);
  }

  /** The next `n` batches. */
  take(n: number): Batch[] {
    return Array.from({ length: n }, () => this.next());
  }

  *[Symbol.iterator](): Iterator<Batch> {
    for (;;) yield this.next();
  }

  state(): BatchState {
    const s: BatchState = {
      mode: this.mode,
      seed: this.seed,
      batchSize: this.batchSize,
      seqLen: this.seqLen,
      tokens: this.dataset.length,
      fingerprint: this.dataset.fingerprint(),
      step: this.step,
    };
    if (this.mode === "random") s.rng = this.rng.state;
    else {
      s.epoch = this.epoch;
      s.index = this.index;
    }
    return s;
  }

  /** Returns to a state() of an iterator with the same options over the same data. */
  setState(s: BatchState): void {
    if (s === null || typeof s !== "object")
      throw new TypeError("setState expects a batch state object");
    const mine = this.state();
    for (const k of ["mode", "seed", "batchSize", "seqLen"] as const)
      if (s[k] !== mine[k])
        throw new Error(
          `the batch state is for ${k} ${JSON.stringify(s[k])}, this iterator has ${JSON.stringify(mine[k])}`,
        );
    if (s.tokens !== mine.tokens || s.fingerprint !== mine.fingerprint)
      throw new Error(
        `the batch state is for another dataset (${commas(s.tokens)} tokens, fingerprint ` +
          `${s.fingerprint}); this one has ${commas(mine.tokens)} tokens, fingerprint ${mine.fingerprint}`,
      );
    const int = (k: keyof BatchState, v: unknown, max = Number.MAX_SAFE_INTEGER): number => {
      if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max)
        throw new RangeError(
          `batch state: ${k} must be an integer in [0, ${max}], got ${String(v)}`,
        );
      return v;
    };
    const step = int("step", s.step);
    if (this.mode === "random") {
      this.rng = Rng.fromState(int("rng", s.rng, 0xffffffff));
    } else {
      const epoch = int("epoch", s.epoch);
      const index = int("index", s.index, this.windows!.starts.length);
      this.epoch = epoch;
      this.index = index;
      this.order = null;
    }
    this.step = step;
  }

  toString(): string {
    const st =
      this.mode === "packed"
        ? `, epoch ${this.epoch}, window ${this.index}/${this.windowCount}`
        : "";
    return (
      `Batches (${this.mode}, seed ${this.seed}): ${this.batchSize} x ${this.seqLen} tokens ` +
      `from "${this.dataset.name}" (${commas(this.dataset.length)} tokens); step ${this.step}${st}`
    );
  }

  [DISPLAY](): Record<string, string> {
    return { "text/plain": this.toString() };
  }
}

export interface EvalOptions {
  /** Number of windows (default 64). */
  count?: number;
  /** Tokens per row (T); each window reads T + 1 tokens. */
  seqLen: number;
  /** Rows per batch (default: all windows in one batch). */
  batchSize?: number;
  /**
   * "stream" (default): windows spread evenly over the whole stream, first at 0, last ending at
   * the stream's end. "documents": evenly spaced among the packed windows (inside documents,
   * with their labels).
   */
  within?: "stream" | "documents";
}

/**
 * `count` fixed windows for evaluation, the same on every call: window i starts at
 * floor(i * (N - T - 1) / (count - 1)) in the stream of N tokens (or the packed window of that
 * rank, for `within: "documents"`), grouped into batches of `batchSize` rows (the last may be
 * smaller). Windows overlap when count * (T + 1) exceeds the data.
 */
export function evalWindows(dataset: TokenDataset, opts: EvalOptions): Batch[] {
  if (opts === null || typeof opts !== "object")
    throw new TypeError("evalWindows expects options { count, seqLen }");
  const count = positiveInt("count", opts.count ?? 64);
  const seqLen = positiveInt("seqLen", opts.seqLen);
  const batchSize = positiveInt("batchSize", opts.batchSize ?? count);
  const within = opts.within ?? "stream";
  const need = seqLen + 1;
  const spread = (i: number, span: number): number =>
    count === 1 ? 0 : Math.floor((i * span) / (count - 1));
  const starts: number[] = [];
  const labels: (string | null)[] = [];
  if (within === "stream") {
    const n = dataset.length;
    if (n < need)
      throw new RangeError(
        `an evaluation window of seqLen ${seqLen} needs at least ${need} tokens, the dataset has ${commas(n)}`,
      );
    for (let i = 0; i < count; i++) starts.push(spread(i, n - need));
  } else if (within === "documents") {
    const win = packedStarts(dataset, seqLen);
    const w = win.starts.length;
    if (w === 0)
      throw new RangeError(
        `evaluation windows of seqLen ${seqLen} inside documents need a document of at least ` +
          `${need} tokens; the longest has ${commas(longestDocument(dataset))}`,
      );
    for (let i = 0; i < count; i++) {
      const k = spread(i, w - 1);
      starts.push(win.starts[k]);
      labels.push(dataset.documents[win.docs[k]].label);
    }
  } else {
    throw new RangeError(`within must be "stream" or "documents", got ${JSON.stringify(within)}`);
  }
  const batches: Batch[] = [];
  for (let b = 0; b < count; b += batchSize)
    batches.push(
      makeBatch(
        dataset,
        starts.slice(b, b + batchSize),
        seqLen,
        within === "documents" ? labels.slice(b, b + batchSize) : null,
      ),
    );
  return batches;
}
