/**
 * Byte-level BPE (as GPT-2's, with moelab's own pre-split rule in pretokenize.ts): ids 0..255
 * are bytes, then the special tokens, then one id per merge in the order training learned them.
 * Training counts the corpus's chunks once, then merges the most frequent adjacent pair again
 * and again, updating pair counts only in the chunks that hold the merged pair.
 */
import type { Corpus } from "./corpus.js";
import { commas, DISPLAY, escapeHtml } from "./display.js";
import { applyMerges, learnMerges, PAIR } from "./merges.js";
import { forEachChunk, PRETOKENIZER } from "./pretokenize.js";
import {
  checkId,
  checkSpecials,
  printableBytes,
  specialIdOf,
  splitSpecials,
  utf8Decoder,
  utf8Encoder,
  writeTokenizer,
  type EncodeOptions,
  type Tokenizer,
  type TrainProgress,
} from "./tokenizer.js";

/** The file format: merges as id pairs, the vocabulary as GPT-2's byte-to-unicode strings. */
export interface BPETokenizerJSON {
  kind: "bpe";
  /** The pre-split rule ("moelab-1"). */
  pretokenizer: string;
  vocabSize: number;
  specials: string[];
  /** merges[r] = [left, right]: the pair merge r joins into id 256 + specials.length + r. */
  merges: [number, number][];
  /**
   * Every id's bytes, written as GPT-2 writes them (printable bytes as themselves, others
   * shifted past U+0100, so a leading space reads "Ġ"); specials as their literal strings.
   * Redundant with merges: it is checked on load and makes the file readable.
   */
  vocab: string[];
}

export interface TrainOptions {
  /** The vocabulary size to reach: 256 bytes + specials + merges. */
  vocabSize: number;
  /** Special tokens (ids 256, 257, ...). */
  specials?: string[];
  /** Pairs seen fewer times than this are never merged (default 2); training may stop early. */
  minFrequency?: number;
  /** Called every 100 merges and at the end. */
  onProgress?: (p: TrainProgress) => void;
}

const MAX_VOCAB = PAIR;
/** Encoded chunks kept per tokenizer; the cache is dropped when it grows past this. */
const CACHE_LIMIT = 1 << 18;

export class BPETokenizer implements Tokenizer {
  readonly kind = "bpe";
  readonly vocabSize: number;
  readonly specials: readonly string[];
  /** merges[r] = [left, right] of the r-th merge (id 256 + specials.length + r). */
  readonly merges: readonly (readonly [number, number])[];
  private readonly firstMerge: number;
  private readonly rank = new Map<number, number>();
  private readonly bytesOf: Uint8Array[];
  private cache = new Map<string, Int32Array>();

  private constructor(specials: readonly string[], merges: readonly (readonly [number, number])[]) {
    this.specials = Object.freeze([...specials]);
    this.firstMerge = 256 + specials.length;
    this.vocabSize = this.firstMerge + merges.length;
    if (this.vocabSize > MAX_VOCAB)
      throw new RangeError(
        `a BPE vocabulary holds at most ${MAX_VOCAB} ids, got ${this.vocabSize}`,
      );
    this.bytesOf = [];
    for (let b = 0; b < 256; b++) this.bytesOf.push(Uint8Array.of(b));
    for (const s of specials) this.bytesOf.push(utf8Encoder.encode(s));
    merges.forEach(([a, b], r) => {
      const id = this.firstMerge + r;
      for (const x of [a, b])
        if (!Number.isInteger(x) || x < 0 || x >= id || (x >= 256 && x < this.firstMerge))
          throw new Error(
            `BPE merge ${r} refers to id ${x}, but a merge may only join bytes (0..255) and ` +
              `earlier merges (${this.firstMerge}..${id - 1})`,
          );
      const key = a * PAIR + b;
      if (this.rank.has(key))
        throw new Error(`BPE merge ${r} repeats merge ${this.rank.get(key)} (${a}, ${b})`);
      this.rank.set(key, r);
      const ab = new Uint8Array(this.bytesOf[a].length + this.bytesOf[b].length);
      ab.set(this.bytesOf[a]);
      ab.set(this.bytesOf[b], this.bytesOf[a].length);
      this.bytesOf.push(ab);
    });
    this.merges = Object.freeze(merges.map(([a, b]) => Object.freeze([a, b] as const)));
  }

  /**
   * Learns merges from a corpus (or texts) until the vocabulary reaches `vocabSize`, or no pair
   * occurs `minFrequency` times. Deterministic: the most frequent pair wins, ties going to the
   * smallest (left id, right id). Literal special strings in the texts count as ordinary text.
   */
  static train(source: Corpus | readonly string[], opts: TrainOptions): BPETokenizer {
    const specials = checkSpecials(opts.specials ?? []);
    const first = 256 + specials.length;
    const vocabSize = opts.vocabSize;
    if (!Number.isInteger(vocabSize) || vocabSize < first || vocabSize > MAX_VOCAB)
      throw new RangeError(
        `vocabSize must be an integer in [${first}, ${MAX_VOCAB}] (256 bytes + ` +
          `${specials.length} specials + merges), got ${vocabSize}`,
      );
    const minFrequency = opts.minFrequency ?? 2;
    if (!(minFrequency >= 1))
      throw new RangeError(`minFrequency must be >= 1, got ${minFrequency}`);
    const texts = textsOf(source);
    const merges = learnMerges(texts, first, vocabSize - first, minFrequency, opts.onProgress);
    return new BPETokenizer(specials, merges);
  }

  /** Rebuilds a tokenizer from toJSON()'s object, checking every field. */
  static fromJSON(json: unknown): BPETokenizer {
    const j = json as Partial<BPETokenizerJSON> | null;
    if (j === null || typeof j !== "object" || j.kind !== "bpe")
      throw new Error(
        `not a BPE tokenizer: kind is ${JSON.stringify((j as { kind?: unknown } | null)?.kind)}`,
      );
    if (j.pretokenizer !== PRETOKENIZER)
      throw new Error(
        `BPE tokenizer JSON: pretokenizer ${JSON.stringify(j.pretokenizer)} is not ${JSON.stringify(PRETOKENIZER)}, the only rule this version knows`,
      );
    const specials = checkSpecials(j.specials ?? []);
    if (!Array.isArray(j.merges) || !j.merges.every((m) => Array.isArray(m) && m.length === 2))
      throw new Error("BPE tokenizer JSON: merges must be an array of [left, right] id pairs");
    const t = new BPETokenizer(specials, j.merges as [number, number][]);
    if (j.vocabSize !== t.vocabSize)
      throw new Error(
        `BPE tokenizer JSON: vocabSize is ${j.vocabSize} but 256 bytes + ${specials.length} ` +
          `specials + ${t.merges.length} merges make ${t.vocabSize}`,
      );
    if (j.vocab !== undefined) {
      if (!Array.isArray(j.vocab) || j.vocab.length !== t.vocabSize)
        throw new Error(
          `BPE tokenizer JSON: vocab has ${Array.isArray(j.vocab) ? j.vocab.length : "no"} entries, expected ${t.vocabSize}`,
        );
      const vocab = t.vocab();
      const bad = vocab.findIndex((v, i) => v !== j.vocab![i]);
      if (bad >= 0)
        throw new Error(
          `BPE tokenizer JSON: vocab[${bad}] is ${JSON.stringify(j.vocab[bad])} but the merges make ${JSON.stringify(vocab[bad])}`,
        );
    }
    return t;
  }

  encode(text: string, opts: EncodeOptions = {}): Int32Array {
    if (typeof text !== "string") throw new TypeError("encode expects a string");
    let out = new Int32Array(Math.max(16, text.length + (text.length >> 2)));
    let n = 0;
    const push = (ids: Int32Array): void => {
      if (n + ids.length > out.length) {
        const bigger = new Int32Array(Math.max(out.length * 2, n + ids.length));
        bigger.set(out.subarray(0, n));
        out = bigger;
      }
      if (ids.length === 1) out[n++] = ids[0];
      else {
        out.set(ids, n);
        n += ids.length;
      }
    };
    const pieces = opts.allowSpecials ? splitSpecials(text, this.specials) : [text];
    for (const piece of pieces) {
      if (typeof piece === "number") push(Int32Array.of(piece));
      else forEachChunk(piece, (chunk) => push(this.encodeChunk(chunk)));
    }
    return out.slice(0, n);
  }

  decode(ids: ArrayLike<number>): string {
    const n = ids.length;
    let len = 0;
    for (let i = 0; i < n; i++) {
      checkId(ids[i], this.vocabSize);
      len += this.bytesOf[ids[i]].length;
    }
    const bytes = new Uint8Array(len);
    let o = 0;
    for (let i = 0; i < n; i++) {
      const b = this.bytesOf[ids[i]];
      if (b.length === 1) bytes[o++] = b[0];
      else {
        bytes.set(b, o);
        o += b.length;
      }
    }
    return utf8Decoder.decode(bytes);
  }

  tokenText(id: number): string {
    checkId(id, this.vocabSize);
    if (id >= 256 && id < this.firstMerge) return this.specials[id - 256];
    return printableBytes(this.bytesOf[id]);
  }

  /** The UTF-8 bytes of one id (a special's literal string for specials). */
  tokenBytes(id: number): Uint8Array {
    checkId(id, this.vocabSize);
    return this.bytesOf[id].slice();
  }

  specialId(token: string): number {
    return specialIdOf(this.specials, token);
  }

  /** Every id's text as the JSON file writes it (GPT-2's byte-to-unicode form). */
  vocab(): string[] {
    return this.bytesOf.map((b, id) =>
      id >= 256 && id < this.firstMerge
        ? this.specials[id - 256]
        : Array.from(b, (x) => BYTE_CHARS[x]).join(""),
    );
  }

  toJSON(): BPETokenizerJSON {
    return {
      kind: "bpe",
      pretokenizer: PRETOKENIZER,
      vocabSize: this.vocabSize,
      specials: [...this.specials],
      merges: this.merges.map(([a, b]) => [a, b]),
      vocab: this.vocab(),
    };
  }

  save(path: string): void {
    writeTokenizer(path, this.toJSON());
  }

  /** One chunk's ids, merges applied by rank (cached). */
  private encodeChunk(chunk: string): Int32Array {
    const hit = this.cache.get(chunk);
    if (hit) return hit;
    const ids = applyMerges(utf8Encoder.encode(chunk), this.rank, this.firstMerge);
    if (this.cache.size >= CACHE_LIMIT) this.cache = new Map();
    this.cache.set(chunk, ids);
    return ids;
  }

  toString(): string {
    const longest = this.merges.length
      ? this.tokenText(
          this.bytesOf.reduce(
            (best, b, id) =>
              id >= this.firstMerge && b.length > this.bytesOf[best].length ? id : best,
            this.firstMerge,
          ),
        )
      : "";
    const sp = this.specials.length
      ? `, specials ${this.specials.map((s) => JSON.stringify(s)).join(" ")}`
      : "";
    return (
      `BPETokenizer: ${commas(this.vocabSize)} ids (256 bytes + ${this.specials.length} specials + ` +
      `${commas(this.merges.length)} merges${sp})` +
      (longest ? `; longest token ${JSON.stringify(longest)}` : "")
    );
  }

  [DISPLAY](): Record<string, string> {
    const first = this.merges
      .slice(0, 24)
      .map(
        (_, r) => `<code>${escapeHtml(JSON.stringify(this.tokenText(this.firstMerge + r)))}</code>`,
      )
      .join(" ");
    return {
      "text/plain": this.toString(),
      "text/html":
        `<div>${escapeHtml(this.toString())}</div>` +
        (first ? `<div>first merges: ${first}${this.merges.length > 24 ? " ..." : ""}</div>` : ""),
    };
  }
}

function textsOf(source: Corpus | readonly string[]): string[] {
  if (Array.isArray(source)) {
    source.forEach((t, i) => {
      if (typeof t !== "string")
        throw new TypeError(`BPETokenizer.train: text ${i} is not a string`);
    });
    return source as string[];
  }
  const docs = (source as Corpus)?.documents;
  if (!Array.isArray(docs))
    throw new TypeError("BPETokenizer.train expects a Corpus or an array of strings");
  return docs.map((d) => d.text);
}

/** GPT-2's printable stand-in for each byte (bytes_to_unicode). */
const BYTE_CHARS: string[] = (() => {
  const chars: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable =
      (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    chars[b] = String.fromCharCode(printable ? b : 256 + extra++);
  }
  return chars;
})();
