/** Loading user files as documents: a .txt file, a folder of .txt files, or JSON Lines. */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Document } from "./corpus.js";

export interface PathOptions {
  /** The corpus name (default: the path). */
  name?: string;
  /** JSONL: the field holding each document's text (default "text"). */
  textField?: string;
  /** JSONL: the field holding each document's label (default "label"; absent or null: no label). */
  labelField?: string;
  /** JSONL: the field holding each document's id (default "id"; absent: "file:line"). */
  idField?: string;
  /**
   * Folders: each file's label from its path relative to the folder ("news/a.txt"). Default:
   * the first subfolder ("news"), or null for files directly in the folder. null: no labels.
   */
  label?: ((relativePath: string) => string | null) | null;
  /** Folders: the file extensions read (default [".txt"]); searched recursively. */
  extensions?: string[];
}

const TEXT_EXTENSIONS = [".txt", ".text", ".md"];
const JSONL_EXTENSIONS = [".jsonl", ".ndjson"];

/** The documents at `p` (see Corpus.fromPath); every failure names the path, and the line. */
export function loadPath(p: string, opts: PathOptions = {}): Document[] {
  if (typeof p !== "string" || p === "") throw new TypeError("Corpus.fromPath expects a path");
  let stat: fs.Stats;
  try {
    stat = fs.statSync(p);
  } catch (e) {
    throw new Error(`cannot read corpus path ${p}: ${reason(e)}`, { cause: e });
  }
  let docs: Document[];
  const ext = path.extname(p).toLowerCase();
  if (stat.isDirectory()) docs = loadFolder(p, opts);
  else if (JSONL_EXTENSIONS.includes(ext)) docs = loadJsonl(p, opts);
  else if (TEXT_EXTENSIONS.includes(ext))
    docs = [{ id: path.basename(p), text: read(p), label: null }];
  else
    throw new Error(
      `cannot load ${p}: expected a folder, a text file (${TEXT_EXTENSIONS.join(", ")}) ` +
        `or JSON Lines (${JSONL_EXTENSIONS.join(", ")})`,
    );
  if (docs.length === 0 || docs.every((d) => d.text.length === 0))
    throw new Error(`the corpus at ${p} is empty (${docs.length} documents, no text)`);
  return docs;
}

function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err.code === "ENOENT") return "no such file or folder";
  if (err.code === "EACCES") return "permission denied";
  return err.message ?? String(e);
}

/** A file's text, without a leading byte-order mark (editors on Windows write one). */
function read(file: string): string {
  try {
    const text = fs.readFileSync(file, "utf8");
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  } catch (e) {
    throw new Error(`cannot read ${file}: ${reason(e)}`, { cause: e });
  }
}

function loadFolder(dir: string, opts: PathOptions): Document[] {
  const exts = (opts.extensions ?? [".txt"]).map((e) => e.toLowerCase());
  const files: string[] = [];
  const walk = (rel: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(path.join(dir, rel), { withFileTypes: true });
    } catch (e) {
      throw new Error(`cannot read folder ${path.join(dir, rel)}: ${reason(e)}`, {
        cause: e,
      });
    }
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else if (exts.includes(path.extname(e.name).toLowerCase())) files.push(r);
    }
  };
  walk("");
  if (files.length === 0)
    throw new Error(`the folder ${dir} holds no ${exts.join(" or ")} files (the corpus is empty)`);
  files.sort();
  const labelOf =
    opts.label === null
      ? () => null
      : (opts.label ??
        ((rel: string) => {
          const slash = rel.indexOf("/");
          return slash < 0 ? null : rel.slice(0, slash);
        }));
  return files.map((rel) => {
    const label = labelOf(rel);
    if (label !== null && typeof label !== "string")
      throw new TypeError(`the label function returned a ${typeof label} for ${rel}`);
    return { id: rel, text: read(path.join(dir, rel)), label };
  });
}

function loadJsonl(file: string, opts: PathOptions): Document[] {
  const textField = opts.textField ?? "text";
  const labelField = opts.labelField ?? "label";
  const idField = opts.idField ?? "id";
  const lines = read(file).split("\n");
  const docs: Document[] = [];
  const base = path.basename(file);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === "") return;
    const where = `${file}:${i + 1}`;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      throw new Error(`${where}: malformed JSON (${(e as Error).message})`, { cause: e });
    }
    if (obj === null || typeof obj !== "object" || Array.isArray(obj))
      throw new Error(
        `${where}: expected a JSON object, got ${Array.isArray(obj) ? "an array" : JSON.stringify(obj)}`,
      );
    const o = obj as Record<string, unknown>;
    const text = o[textField];
    if (typeof text !== "string")
      throw new Error(
        `${where}: no string field "${textField}"` +
          (text === undefined
            ? ` (fields: ${Object.keys(o).join(", ") || "none"})`
            : ` (it is ${typeof text})`),
      );
    const lv = o[labelField];
    let label: string | null = null;
    if (typeof lv === "string") label = lv;
    else if (typeof lv === "number" || typeof lv === "boolean") label = String(lv);
    else if (lv !== undefined && lv !== null)
      throw new Error(`${where}: the label field "${labelField}" is not a string`);
    const idv = o[idField];
    const id =
      typeof idv === "string" || typeof idv === "number" ? String(idv) : `${base}:${i + 1}`;
    docs.push({ id, text, label });
  });
  return docs;
}
