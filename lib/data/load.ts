/** Rebuilding a saved tokenizer of either kind (a checkpoint's tokenizer.json). */
import * as fs from "node:fs";
import { BPETokenizer } from "./bpe.js";
import { ByteTokenizer } from "./bytes.js";
import type { Tokenizer } from "./tokenizer.js";

/** The tokenizer toJSON() described, of the kind its `kind` field names ("byte" or "bpe"). */
export function tokenizerFromJSON(json: unknown): Tokenizer {
  if (json === null || typeof json !== "object" || Array.isArray(json))
    throw new Error(
      `tokenizer JSON must be an object, got ${json === null ? "null" : typeof json}`,
    );
  const kind = (json as { kind?: unknown }).kind;
  if (kind === "byte") return ByteTokenizer.fromJSON(json);
  if (kind === "bpe") return BPETokenizer.fromJSON(json);
  throw new Error(`unknown tokenizer kind ${JSON.stringify(kind)} (expected "byte" or "bpe")`);
}

/** Reads a tokenizer saved by `tokenizer.save(path)`; errors name the file. */
export function loadTokenizer(path: string): Tokenizer {
  let text: string;
  try {
    text = fs.readFileSync(path, "utf8");
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(
      `cannot read tokenizer ${path}: ${err.code === "ENOENT" ? "no such file" : err.message}`,
      { cause: e },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`tokenizer ${path} is not valid JSON (${(e as Error).message})`, { cause: e });
  }
  try {
    return tokenizerFromJSON(json);
  } catch (e) {
    throw new Error(`tokenizer ${path}: ${(e as Error).message}`, { cause: e });
  }
}
