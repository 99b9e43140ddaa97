/**
 * Jupyter counts cursor positions in Unicode code points (protocol 5.2+), JavaScript strings
 * index UTF-16 code units; these convert between the two for a given text.
 */

function isHigh(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

function isLow(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

/** UTF-16 offset of the code point offset `cp` (clamped to the text). */
export function codePointToUtf16(text: string, cp: number): number {
  let i = 0;
  for (let n = 0; n < cp && i < text.length; n++) {
    i += isHigh(text.charCodeAt(i)) && i + 1 < text.length && isLow(text.charCodeAt(i + 1)) ? 2 : 1;
  }
  return i;
}

/** Code point offset of the UTF-16 offset `offset` (clamped; a split pair counts once). */
export function utf16ToCodePoint(text: string, offset: number): number {
  const end = Math.max(0, Math.min(offset, text.length));
  let n = 0;
  for (let i = 0; i < end; n++) {
    i += isHigh(text.charCodeAt(i)) && i + 1 < end && isLow(text.charCodeAt(i + 1)) ? 2 : 1;
  }
  return n;
}

/** Number of code points in the text. */
export function codePointLength(text: string): number {
  return utf16ToCodePoint(text, text.length);
}
