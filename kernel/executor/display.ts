/**
 * Values -> MIME bundles, and the display helpers cells get (`display`, `html`, `md`, `svg`).
 * An object with `[Symbol.for("Jupyter.display")]()` (Deno's convention) displays through it;
 * other values get a readable text/plain, plus application/json for plain JSON data.
 */
import { inspect } from "node:util";
import type { MimeBundle } from "../contracts.js";

export const JUPYTER_DISPLAY = Symbol.for("Jupyter.display");

export interface Displayable {
  [JUPYTER_DISPLAY](): MimeBundle | Promise<MimeBundle>;
}

export interface DisplayOptions {
  /** The value is already a MIME bundle. */
  raw?: boolean;
  /** Names this output so a later `display(v, { displayId, update: true })` replaces it. */
  displayId?: string;
  /** Replace the output named by displayId instead of adding one. */
  update?: boolean;
  metadata?: Record<string, unknown>;
}

export interface Bundle {
  data: MimeBundle;
  metadata: Record<string, unknown>;
}

const INSPECT = {
  depth: 4,
  colors: false,
  maxArrayLength: 100,
  maxStringLength: 100_000,
  breakLength: 100,
} as const;

/** Readable text for any value (what execute_result shows without a richer form). */
export function plainText(value: unknown): string {
  return inspect(value, INSPECT);
}

function isJsonType(mime: string): boolean {
  return mime === "application/json" || mime.endsWith("+json");
}

/** Checks and copies a bundle so it survives postMessage and is valid for Jupyter. */
export function checkBundle(bundle: unknown, origin: string): MimeBundle {
  if (typeof bundle !== "object" || bundle === null || Array.isArray(bundle))
    throw new TypeError(
      `${origin} must return a MIME bundle (an object like { "text/html": "<b>hi</b>" }), got ${plainText(bundle)}`,
    );
  const out: MimeBundle = {};
  for (const [mime, data] of Object.entries(bundle)) {
    if (data === undefined) continue;
    if (!/^[\w.+-]+\/[\w.+-]+$/.test(mime))
      throw new TypeError(
        `${origin} returned the key ${JSON.stringify(mime)}: MIME bundle keys are MIME types like "text/html"`,
      );
    if (isJsonType(mime)) {
      // Serialised here, in the cell, so a value JSON cannot carry (a BigInt, a cycle) is the
      // cell's own error instead of a message the kernel cannot send.
      let json: string | undefined;
      try {
        json = JSON.stringify(data);
      } catch (e) {
        throw new TypeError(
          `${origin} returned ${JSON.stringify(mime)} data that JSON cannot represent: ${(e as Error).message}`,
          { cause: e },
        );
      }
      if (json === undefined)
        throw new TypeError(`${origin} returned ${JSON.stringify(mime)} data with no JSON form`);
      out[mime] = JSON.parse(json) as unknown;
    } else if (typeof data === "string") {
      out[mime] = data;
    } else {
      throw new TypeError(
        `${origin} returned ${typeof data} data for ${JSON.stringify(mime)}: MIME data must be a string (or JSON for JSON types)`,
      );
    }
  }
  return out;
}

/** True for data that JSON represents exactly: plain objects, arrays, strings, finite numbers. */
function isJsonData(v: unknown, budget: { nodes: number }, seen: Set<unknown>): boolean {
  if (--budget.nodes < 0) return false;
  if (v === null || typeof v === "string" || typeof v === "boolean") return true;
  if (typeof v === "number") return Number.isFinite(v);
  if (typeof v !== "object") return false;
  if (seen.has(v)) return false;
  seen.add(v);
  let ok = true;
  if (Array.isArray(v)) {
    for (let i = 0; ok && i < v.length; i++) ok = i in v && isJsonData(v[i], budget, seen);
  } else {
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) ok = false;
    else
      for (const k of Object.keys(v))
        if (!(ok = isJsonData((v as Record<string, unknown>)[k], budget, seen))) break;
    if (ok && Object.getOwnPropertySymbols(v).length) ok = false;
  }
  seen.delete(v);
  return ok;
}

function hasDisplayMethod(v: unknown): v is Displayable {
  return (
    (typeof v === "object" || typeof v === "function") &&
    v !== null &&
    typeof (v as Record<symbol, unknown>)[JUPYTER_DISPLAY] === "function"
  );
}

/** The bundle for a value; a promise only when its display method is asynchronous. */
export function bundleOf(value: unknown, opts: DisplayOptions = {}): Bundle | Promise<Bundle> {
  const metadata = opts.metadata ?? {};
  if (opts.raw)
    return { data: checkBundle(value, "display(value, { raw: true }): value"), metadata };
  if (hasDisplayMethod(value)) {
    const origin = '[Symbol.for("Jupyter.display")]()';
    const b = value[JUPYTER_DISPLAY]();
    if (b && typeof (b as Promise<MimeBundle>).then === "function")
      return (b as Promise<MimeBundle>).then((r) => ({ data: checkBundle(r, origin), metadata }));
    return { data: checkBundle(b, origin), metadata };
  }
  const data: MimeBundle = { "text/plain": plainText(value) };
  if (
    typeof value === "object" &&
    value !== null &&
    isJsonData(value, { nodes: 100_000 }, new Set())
  ) {
    data["application/json"] = value;
  }
  return { data, metadata };
}

/** A displayable object holding one MIME type (what html``, md`` and svg`` return). */
class Rich implements Displayable {
  constructor(
    readonly mime: string,
    readonly text: string,
  ) {}
  [JUPYTER_DISPLAY](): MimeBundle {
    return { [this.mime]: this.text, "text/plain": this.text };
  }
  toString(): string {
    return this.text;
  }
}

function joinTemplate(strings: TemplateStringsArray | string, values: unknown[]): string {
  if (typeof strings === "string") return strings;
  let s = strings[0];
  for (let i = 0; i < values.length; i++) s += String(values[i]) + strings[i + 1];
  return s;
}

/** html`<b>${x}</b>`: interpolated as text (callers escape untrusted values). Also html(string). */
export function html(strings: TemplateStringsArray | string, ...values: unknown[]): Displayable {
  return new Rich("text/html", joinTemplate(strings, values));
}

export function md(strings: TemplateStringsArray | string, ...values: unknown[]): Displayable {
  return new Rich("text/markdown", joinTemplate(strings, values));
}

export function svg(strings: TemplateStringsArray | string, ...values: unknown[]): Displayable {
  return new Rich("image/svg+xml", joinTemplate(strings, values));
}
