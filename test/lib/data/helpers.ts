/** Seeded random strings for tokenizer round trips. */
import { Rng } from "../../../lib/data/index.js";

/** Code point pools: ASCII, controls, Latin-1, combining marks, CJK, emoji, planes' edges. */
const POOLS: (() => string)[] = [
  () => "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"()-",
  () => "\u0000\u0001\u0007\b\t\n\u000b\f\r\u001b\u007f",
  () => "\u00a0\u00e9\u00df\u00f1\u00fc\u00c5\u00ff\u00bf\u00ab\u00bb",
  () => "\u0301\u0308\u0327\u0332\u20dd\u0653",
  () => "日本語中文字漢字한국어ひらがなカタカナ",
  () => "😀👍🏽👨‍👩‍👧🇫🇷❤️\u200d🔥🧪",
  () => "\ufeff\ufffd\u2028\u2029\u200b\u{10ffff}\u{1d11e}\ue000",
  () => "Ωπ∑∫√≈∞€£¥₿ßẞ",
];
const CHARS = POOLS.map((p) => Array.from(p()));

/** A well-formed string of up to `maxLen` code points drawn from the pools. */
export function randomText(rng: Rng, maxLen: number): string {
  const n = rng.below(maxLen + 1);
  let s = "";
  for (let i = 0; i < n; i++) {
    const pool = CHARS[rng.below(CHARS.length)];
    s += pool[rng.below(pool.length)];
  }
  return s;
}
