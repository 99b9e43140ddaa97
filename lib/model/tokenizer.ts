/**
 * The tokenizer a model carries: what the model needs of one (lib/data builds them), saved beside
 * the weights as tokenizer.json so generation returns text and figures label tokens as text.
 */

/** A tokenizer as the model sees it (lib/data's ByteTokenizer and BPETokenizer are ones). */
export interface TextTokenizer {
  readonly kind: string;
  /** Number of ids it produces: 0..vocabSize-1. */
  readonly vocabSize: number;
  encode(text: string): ArrayLike<number>;
  decode(ids: ArrayLike<number>): string;
  /** A printable label of one id (figures' axes). */
  tokenText(id: number): string;
  /** A JSON-serialisable form that the registered loader turns back into the tokenizer. */
  toJSON(): object;
}

/** tokenizer.json in a checkpoint directory. */
export const TOKENIZER_FILE = "tokenizer.json";

let loader: ((json: unknown) => TextTokenizer) | null = null;

/** Registers how tokenizer.json is read back (lib/index.ts registers lib/data's). */
export function setTokenizerLoader(fn: (json: unknown) => TextTokenizer): void {
  loader = fn;
}

/** The tokenizer of a tokenizer.json object, through the registered loader. */
export function tokenizerFromJSON(json: unknown, where: string): TextTokenizer {
  if (!loader)
    throw new Error(
      `${where}: no tokenizer loader is registered (import moelab's index, which registers lib/data's)`,
    );
  return loader(json);
}

/** Throws unless `t` is a tokenizer whose ids all fit a vocabulary of `vocabSize`. */
export function checkTokenizer(t: unknown, vocabSize: number): TextTokenizer {
  const tk = t as TextTokenizer;
  if (
    tk === null ||
    typeof tk !== "object" ||
    typeof tk.encode !== "function" ||
    typeof tk.decode !== "function" ||
    typeof tk.toJSON !== "function" ||
    typeof tk.tokenText !== "function" ||
    !Number.isInteger(tk.vocabSize)
  )
    throw new TypeError(
      "tokenizer must have vocabSize, encode, decode, tokenText and toJSON (e.g. a ByteTokenizer or a BPETokenizer)",
    );
  if (tk.vocabSize > vocabSize)
    throw new RangeError(
      `the tokenizer has ${tk.vocabSize} ids but the model's vocab_size is ${vocabSize}: build the model with vocab_size ${tk.vocabSize} (or more)`,
    );
  return tk;
}
