/**
 * The tokenizer contract the model, the trainer and the figures rely on, and what its two kinds
 * (bytes.ts, bpe.ts) share: special tokens, printable token text, saving, the vocabulary check.
 */
import * as fs from "node:fs";

export interface EncodeOptions {
  /**
   * Encode special tokens written literally in the text ("<|endoftext|>") as their ids. Default
   * false: text is data, so a literal "<|endoftext|>" is ordinary bytes and a document cannot
   * fake a document boundary (datasets insert separators by id). Either way decode(encode(s))
   * gives s back, since a special id decodes to its literal string.
   */
  allowSpecials?: boolean;
}

export interface Tokenizer {
  /** "byte" or "bpe": the `kind` field of toJSON(), which tokenizerFromJSON dispatches on. */
  readonly kind: string;
  /** Ids are 0 .. vocabSize-1: the 256 byte values first, then the specials, then any merges. */
  readonly vocabSize: number;
  /** The special tokens' literal strings; specials[i] has id 256 + i. */
  readonly specials: readonly string[];
  /** Text to ids (UTF-8; lone surrogates become U+FFFD, as TextEncoder writes them). */
  encode(text: string, opts?: EncodeOptions): Int32Array;
  /** Ids to text; byte sequences that are not UTF-8 decode to U+FFFD. Throws on unknown ids. */
  decode(ids: ArrayLike<number>): string;
  /** One token as printable text for labels: control bytes escaped (\n, \x00), broken UTF-8 as <0xE2>. */
  tokenText(id: number): string;
  /** The id of a special token, by its literal string (throws when there is none). */
  specialId(token: string): number;
  /** A JSON object tokenizerFromJSON turns back into an equal tokenizer. */
  toJSON(): object;
  /** Writes toJSON() to a file (a checkpoint's tokenizer.json). */
  save(path: string): void;
}

/** What BPE training reports as it goes: merges learned, merges wanted, the last pair's count. */
export interface TrainProgress {
  merges: number;
  target: number;
  frequency: number;
}

/** Throws unless the specials are distinct non-empty strings. */
export function checkSpecials(specials: unknown): string[] {
  if (!Array.isArray(specials)) throw new TypeError("specials must be an array of strings");
  const seen = new Set<string>();
  for (const s of specials) {
    if (typeof s !== "string" || s === "")
      throw new TypeError(`specials must be non-empty strings, got ${JSON.stringify(s)}`);
    if (seen.has(s)) throw new Error(`the special token ${JSON.stringify(s)} is listed twice`);
    seen.add(s);
  }
  return [...specials];
}

/** A text's pieces: plain strings and special-token ids (ids from 256 + index). */
export function splitSpecials(text: string, specials: readonly string[]): (string | number)[] {
  if (specials.length === 0 || text === "") return [text];
  // Longest first, so "<|a|>x" wins over a special that is its prefix.
  const order = specials.map((s, i) => [s, i] as const).sort((a, b) => b[0].length - a[0].length);
  const re = new RegExp(
    order.map(([s]) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"),
    "g",
  );
  const index = new Map(order);
  const out: (string | number)[] = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index! > last) out.push(text.slice(last, m.index));
    out.push(256 + index.get(m[0])!);
    last = m.index! + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
/** Keeps a leading U+FEFF: the default decoder would drop it and break round trips. */
export const utf8Decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
export const utf8Encoder = new TextEncoder();

/** Bytes as label text: valid UTF-8 with control characters escaped, else <0xNN> for non-ASCII bytes. */
export function printableBytes(bytes: Uint8Array): string {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    let s = "";
    for (const b of bytes) s += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : hexByte(b);
    return s;
  }
  let s = "";
  for (const ch of text) {
    const c = ch.charCodeAt(0);
    if (c >= 0x20 && (c < 0x7f || c > 0x9f)) s += ch;
    else if (ch === "\n") s += "\\n";
    else if (ch === "\t") s += "\\t";
    else if (ch === "\r") s += "\\r";
    else s += "\\x" + c.toString(16).padStart(2, "0");
  }
  return s;
}

function hexByte(b: number): string {
  return "<0x" + b.toString(16).toUpperCase().padStart(2, "0") + ">";
}

/** Throws a RangeError naming the id unless it is an integer in [0, vocabSize). */
export function checkId(id: number, vocabSize: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= vocabSize)
    throw new RangeError(`token id ${id} is outside the vocabulary (0..${vocabSize - 1})`);
}

/** Writes a tokenizer's JSON to a file, naming the path on failure. */
export function writeTokenizer(path: string, json: object): void {
  try {
    fs.writeFileSync(path, JSON.stringify(json) + "\n");
  } catch (e) {
    throw new Error(`cannot write the tokenizer to ${path}: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

export interface CheckVocabOptions {
  /** Accept a model vocabulary larger than the tokenizer's (rows no id reaches, as padded vocabularies have). */
  allowUnused?: boolean;
}

/**
 * Throws unless a model's vocab_size fits the tokenizer: equal by default ("tokenizer has 2048
 * ids but the model's vocab_size is 256"); with allowUnused, at least the tokenizer's size.
 */
export function checkVocab(
  tokenizer: Tokenizer,
  vocabSize: number,
  opts: CheckVocabOptions = {},
): void {
  const n = tokenizer.vocabSize;
  if (n === vocabSize || (opts.allowUnused && vocabSize > n)) return;
  throw new Error(
    `tokenizer has ${n} ids but the model's vocab_size is ${vocabSize}` +
      (vocabSize < n
        ? ": token ids past the embedding would be out of range"
        : ": pass { allowUnused: true } to accept embedding rows no token uses"),
  );
}

/** The id of special token `token` among `specials` (ids 256, 257, ... follow the bytes). */
export function specialIdOf(specials: readonly string[], token: string): number {
  const i = specials.indexOf(token);
  if (i < 0)
    throw new Error(
      `the tokenizer has no special token ${JSON.stringify(token)}` +
        (specials.length
          ? ` (it has ${specials.map((s) => JSON.stringify(s)).join(", ")})`
          : " (it has none)"),
    );
  return 256 + i;
}
