/**
 * The pre-split rule byte-level BPE trains and encodes with: merges never cross a chunk
 * boundary. A chunk is, in order of preference:
 *   - an English contraction suffix after a word: 's 't 're 've 'm 'll 'd (also with ’);
 *   - a run of letters and combining marks, with the single space before it;
 *   - one to three digits, with the space before them;
 *   - a run of other non-space characters (punctuation, symbols, emoji), with the space before;
 *   - a run of whitespace, leaving its last space to the word that follows it ("\n\n The" is
 *     "\n\n", " The"; "\n\nThe" is "\n\n", "The").
 * Every character falls in one of these, so the chunks concatenate back to the text.
 */
export const PRETOKENIZER = "moelab-1";

const CHUNK =
  /['’](?:[sStTmMdD]|[rR][eE]|[vV][eE]|[lL][lL])(?![\p{L}\p{M}])| ?[\p{L}\p{M}]+| ?\p{N}{1,3}| ?[^\s\p{L}\p{M}\p{N}]+|\s+(?= \S)|\s+/gu;

/** The chunks of `text`, in order (their concatenation is `text`). */
export function pretokenize(text: string): string[] {
  return text.match(CHUNK) ?? [];
}

/** Calls `fn` for each chunk without building the array. */
export function forEachChunk(text: string, fn: (chunk: string) => void): void {
  const re = new RegExp(CHUNK.source, CHUNK.flags);
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) fn(m[0]);
}
