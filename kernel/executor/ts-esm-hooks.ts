/**
 * Module customization hooks (node:module register) that load local .ts, .mts and .tsx files as
 * ES modules, compiled on the fly, the way cells import everything else: `import` in them is
 * ESM (ESM-only packages, top-level await, import.meta work), and specifiers written for
 * TypeScript resolve as TypeScript resolves them: "./util" and "./util.js" find util.ts, a
 * folder finds its index.ts. .cts stays CommonJS (the require hook in resolve.ts).
 * Runs on Node's loader thread; TypeScript is loaded there on the first .ts file.
 */
import * as fs from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";

const TS_FILE = /\.(ts|mts|tsx)$/;
const TRY = [".ts", ".tsx", ".mts", ".js", ".mjs", ".cjs", ".json"];

interface ResolveContext {
  parentURL?: string;
  conditions: string[];
  importAttributes?: Record<string, string>;
}
type NextResolve = (specifier: string, context?: ResolveContext) => Promise<{ url: string }>;
interface LoadContext {
  format?: string | null;
  conditions: string[];
  importAttributes?: Record<string, string>;
}
type NextLoad = (
  url: string,
  context?: LoadContext,
) => Promise<{ format: string; source?: string | ArrayBuffer | Uint8Array }>;

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** The TypeScript-style candidates for a relative or absolute file specifier that Node missed. */
function tsCandidate(base: string): string | undefined {
  for (const ext of TRY) if (isFile(base + ext)) return base + ext;
  const js = /\.(m|c)?js$/.exec(base);
  if (js) {
    const stem = base.slice(0, -js[0].length);
    for (const ext of [".ts", ".tsx", ".mts", ".cts"]) if (isFile(stem + ext)) return stem + ext;
  }
  for (const ext of TRY) if (isFile(`${base}/index${ext}`)) return `${base}/index${ext}`;
  return undefined;
}

export async function resolve(
  specifier: string,
  context: ResolveContext,
  next: NextResolve,
): Promise<{ url: string; format?: string; shortCircuit?: boolean }> {
  try {
    return await next(specifier, context);
  } catch (e) {
    const parent = context.parentURL;
    const relative = specifier.startsWith("./") || specifier.startsWith("../");
    if (!parent || !parent.startsWith("file:") || !(relative || specifier.startsWith("/"))) throw e;
    const base = relative ? fileURLToPath(new URL(specifier, parent)) : specifier;
    const found = tsCandidate(base);
    if (!found) throw e;
    return { url: pathToFileURL(found).href, shortCircuit: true };
  }
}

let emitEsm: typeof import("./transpile.js").emitEsm | undefined;

export async function load(
  url: string,
  context: LoadContext,
  next: NextLoad,
): Promise<{ format: string; source?: string | ArrayBuffer | Uint8Array; shortCircuit?: boolean }> {
  if (!url.startsWith("file:") || !TS_FILE.test(new URL(url).pathname)) return next(url, context);
  const file = fileURLToPath(url);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  emitEsm ??= (require("./transpile.js") as typeof import("./transpile.js")).emitEsm;
  const out = emitEsm(fs.readFileSync(file, "utf8"), file);
  if (out.diagnostics.length) {
    const d = out.diagnostics[0];
    throw new SyntaxError(`${d.message} (${file}:${d.line}:${d.column})`);
  }
  return { format: "module", source: out.js, shortCircuit: true };
}
