/**
 * (prompt, completion) pairs as training rows: prompt ⊕ completion ⊕ stop token, shifted by one,
 * right-padded, with the targets of prompt and padding positions ignored, so a loss over the rows
 * counts completion tokens only.
 */
import type { Transformer } from "../model/index.js";

/** A prompt and the completion the model should learn to write after it. */
export interface Pair {
  prompt: string;
  completion: string;
}

/** A pair as token ids (the completion's stop token included when it has one). */
export interface TokenPair {
  prompt: number[];
  completion: number[];
}

/** Rows of a batch: inputs and targets [B, L] (ignored targets -100) and each row's counts. */
export interface PairBatch {
  inputs: number[][];
  targets: number[][];
  /** Completion tokens scored in each row. */
  lengths: number[];
}

export const IGNORE = -100;

/** The model's tokenizer, or an error naming what needs it. */
export function tokenizerOf(
  model: Transformer,
  where: string,
): NonNullable<Transformer["tokenizer"]> {
  const tok = model.tokenizer;
  if (!tok)
    throw new TypeError(
      `${where}: the model has no tokenizer to encode text with (model.tokenizer = new ByteTokenizer())`,
    );
  return tok;
}

/** The single token id of the stop string (default "\n"): a completion ends with it. */
export function stopId(model: Transformer, stop: string, where: string): number {
  const tok = tokenizerOf(model, where) as NonNullable<Transformer["tokenizer"]> & {
    specialId?: (t: string) => number;
    specials?: readonly string[];
  };
  // A special token (e.g. "<|endoftext|>") is its own id; text is encoded.
  const ids =
    tok.specials?.includes(stop) && tok.specialId
      ? [tok.specialId(stop)]
      : Array.from(tok.encode(stop));
  if (ids.length !== 1)
    throw new RangeError(
      `${where}: option stop ${JSON.stringify(stop)} must encode to one token, got ${ids.length}`,
    );
  return ids[0];
}

/** A short form of a prompt for error messages. */
export function quote(prompt: string): string {
  return JSON.stringify(prompt.length > 60 ? prompt.slice(0, 60) + "…" : prompt);
}

/**
 * Encodes pairs with the model's tokenizer, appending the stop token to each completion. A pair
 * longer than max_seq_len (as one sequence) is an error naming its prompt.
 */
export function encodePairs(
  model: Transformer,
  pairs: readonly Pair[],
  opts: { stop: string; where: string },
): TokenPair[] {
  const { where } = opts;
  if (!Array.isArray(pairs) || pairs.length === 0)
    throw new TypeError(`${where}: give a non-empty array of { prompt, completion } pairs`);
  const tok = tokenizerOf(model, where);
  const stop = stopId(model, opts.stop, where);
  const max = model.args.max_seq_len;
  return pairs.map((p, i) => {
    if (!p || typeof p.prompt !== "string" || typeof p.completion !== "string")
      throw new TypeError(`${where}: pair ${i} must be { prompt: string, completion: string }`);
    const prompt = Array.from(tok.encode(p.prompt));
    const completion = [...Array.from(tok.encode(p.completion)), stop];
    if (prompt.length === 0)
      throw new RangeError(`${where}: pair ${i} has an empty prompt (a row needs a first token)`);
    if (prompt.length + completion.length - 1 > max)
      throw new RangeError(
        `${where}: pair ${i} (prompt ${quote(p.prompt)}) is ${prompt.length} + ${completion.length} tokens, longer than the model's max_seq_len ${max}`,
      );
    return { prompt, completion };
  });
}

/** Rows for a loss over completion tokens only (see the file comment). */
export function packPairs(rows: readonly TokenPair[], padId = 0): PairBatch {
  const L = Math.max(...rows.map((r) => r.prompt.length + r.completion.length - 1));
  const inputs: number[][] = [];
  const targets: number[][] = [];
  const lengths: number[] = [];
  for (const r of rows) {
    const seq = [...r.prompt, ...r.completion];
    const P = r.prompt.length;
    const inp = new Array<number>(L).fill(padId);
    const tgt = new Array<number>(L).fill(IGNORE);
    for (let t = 0; t < seq.length - 1; t++) {
      inp[t] = seq[t];
      if (t + 1 >= P) tgt[t] = seq[t + 1];
    }
    inputs.push(inp);
    targets.push(tgt);
    lengths.push(r.completion.length);
  }
  return { inputs, targets, lengths };
}
