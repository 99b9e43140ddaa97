/**
 * A tokenized corpus: one token stream, where each document starts and ends in it, and each
 * document's label. Batches and evaluation windows are cut from it (batches.ts).
 */
import {
  Batches,
  evalWindows,
  type Batch,
  type BatchOptions,
  type EvalOptions,
} from "./batches.js";
import type { Corpus } from "./corpus.js";
import { commas, DISPLAY, htmlTable, textTable } from "./display.js";
import type { Tokenizer } from "./tokenizer.js";

export interface DatasetOptions {
  /**
   * A token appended after every document (an id, or a special token's string such as
   * "<|endoftext|>"): the model sees where documents end. Default: none, documents abut.
   */
  separator?: number | string;
  /** The dataset's name (default: the corpus's). */
  name?: string;
}

/** One document's place in the stream: tokens [start, end), separator excluded. */
export interface DocumentSpan {
  id: string;
  label: string | null;
  start: number;
  end: number;
}

export class TokenDataset {
  readonly name: string;
  /** The stream, every document's tokens (and separators) in corpus order. */
  readonly tokens: Int32Array;
  /** Ids are below this: the tokenizer's vocabulary size. */
  readonly vocabSize: number;
  readonly tokenizer: Tokenizer | null;
  readonly documents: readonly DocumentSpan[];
  private readonly startsArr: Int32Array;
  private hash: number | null = null;

  constructor(
    name: string,
    tokens: Int32Array,
    documents: readonly DocumentSpan[],
    vocabSize: number,
    tokenizer: Tokenizer | null = null,
  ) {
    if (!(tokens instanceof Int32Array))
      throw new TypeError("TokenDataset: tokens must be an Int32Array");
    if (!Number.isInteger(vocabSize) || vocabSize < 1)
      throw new RangeError(`TokenDataset: vocabSize must be a positive integer, got ${vocabSize}`);
    for (let i = 0; i < tokens.length; i++)
      if (tokens[i] < 0 || tokens[i] >= vocabSize)
        throw new RangeError(
          `TokenDataset: token ${i} is ${tokens[i]}, outside the vocabulary (0..${vocabSize - 1})`,
        );
    let prev = 0;
    for (const d of documents) {
      if (!(
        Number.isInteger(d.start) &&
        d.start >= prev &&
        d.end >= d.start &&
        d.end <= tokens.length
      ))
        throw new RangeError(
          `TokenDataset: document ${JSON.stringify(d.id)} spans [${d.start}, ${d.end}), ` +
            `not inside [${prev}, ${tokens.length}] in order`,
        );
      prev = d.end;
    }
    this.name = name;
    this.tokens = tokens;
    this.vocabSize = vocabSize;
    this.tokenizer = tokenizer;
    this.documents = Object.freeze(documents.map((d) => Object.freeze({ ...d })));
    this.startsArr = Int32Array.from(documents, (d) => d.start);
  }

  /** Encodes every document of `corpus` (text is data: literal specials stay plain text). */
  static fromCorpus(corpus: Corpus, tokenizer: Tokenizer, opts: DatasetOptions = {}): TokenDataset {
    const docs = corpus?.documents;
    if (!Array.isArray(docs)) throw new TypeError("TokenDataset.fromCorpus expects a Corpus");
    if (docs.length === 0) throw new Error(`the corpus "${corpus.name}" is empty: no documents`);
    let sep: number | null = null;
    if (opts.separator !== undefined) {
      sep =
        typeof opts.separator === "string" ? tokenizer.specialId(opts.separator) : opts.separator;
      if (!Number.isInteger(sep) || sep < 0 || sep >= tokenizer.vocabSize)
        throw new RangeError(
          `separator ${opts.separator} is not a token id of the tokenizer (0..${tokenizer.vocabSize - 1})`,
        );
    }
    const parts = docs.map((d) => tokenizer.encode(d.text));
    const total = parts.reduce((n, p) => n + p.length + (sep === null ? 0 : 1), 0);
    if (parts.every((p) => p.length === 0))
      throw new Error(`the corpus "${corpus.name}" is empty: its documents hold no text`);
    const tokens = new Int32Array(total);
    const spans: DocumentSpan[] = [];
    let o = 0;
    docs.forEach((d, i) => {
      tokens.set(parts[i], o);
      spans.push({ id: d.id, label: d.label, start: o, end: o + parts[i].length });
      o += parts[i].length;
      if (sep !== null) tokens[o++] = sep;
    });
    return new TokenDataset(
      opts.name ?? corpus.name,
      tokens,
      spans,
      tokenizer.vocabSize,
      tokenizer,
    );
  }

  /** Number of tokens in the stream. */
  get length(): number {
    return this.tokens.length;
  }

  /** The distinct non-null labels, in order of first appearance. */
  labels(): string[] {
    return [...new Set(this.documents.map((d) => d.label).filter((l): l is string => l !== null))];
  }

  /** The index of the document holding stream position `pos` (a separator belongs to the one before). */
  documentAt(pos: number): number {
    if (!Number.isInteger(pos) || pos < 0 || pos >= this.tokens.length)
      throw new RangeError(`position ${pos} is outside the stream (0..${this.tokens.length - 1})`);
    const s = this.startsArr;
    if (s.length === 0) throw new RangeError(`the dataset "${this.name}" lists no documents`);
    let lo = 0;
    let hi = s.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (s[mid] <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** The label of the document holding stream position `pos`. */
  labelAt(pos: number): string | null {
    return this.documents.length ? this.documents[this.documentAt(pos)].label : null;
  }

  /** A 32-bit FNV-1a hash of the stream: batch states carry it to catch resuming on other data. */
  fingerprint(): number {
    if (this.hash === null) {
      let h = 0x811c9dc5;
      const t = this.tokens;
      for (let i = 0; i < t.length; i++) h = Math.imul(h ^ t[i], 0x01000193);
      this.hash = h >>> 0;
    }
    return this.hash;
  }

  /** Seeded batches (random windows, or packed within documents); see Batches. */
  batches(opts: BatchOptions): Batches {
    return new Batches(this, opts);
  }

  /** Evenly spaced evaluation windows; see evalWindows. */
  evalWindows(opts: EvalOptions): Batch[] {
    return evalWindows(this, opts);
  }

  private rows(): string[][] {
    const m = new Map<string | null, { docs: number; tokens: number }>();
    for (const d of this.documents) {
      const r = m.get(d.label) ?? { docs: 0, tokens: 0 };
      r.docs++;
      r.tokens += d.end - d.start;
      m.set(d.label, r);
    }
    return [...m].map(([l, r]) => [l ?? "(none)", commas(r.docs), commas(r.tokens)]);
  }

  private headline(): string {
    const t = this.tokenizer;
    const nl = this.labels().length;
    return (
      `TokenDataset "${this.name}": ${commas(this.length)} tokens, ` +
      `${commas(this.documents.length)} documents, ${nl} label${nl === 1 ? "" : "s"}` +
      (t
        ? `; tokenizer ${t.kind} (${commas(t.vocabSize)} ids)`
        : `; vocabulary ${commas(this.vocabSize)}`)
    );
  }

  toString(): string {
    const rows = this.rows();
    if (rows.length <= 1 && (rows[0]?.[0] ?? "(none)") === "(none)") return this.headline();
    return [
      this.headline(),
      ...textTable(["label", "documents", "tokens"], rows).map((l) => "  " + l),
    ].join("\n");
  }

  [DISPLAY](): Record<string, string> {
    return {
      "text/plain": this.toString(),
      "text/html": htmlTable(this.headline(), ["label", "documents", "tokens"], this.rows()),
    };
  }
}
