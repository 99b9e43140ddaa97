/**
 * Errors from cells as Jupyter reports them: ename, evalue and a traceback whose frames name
 * line:column in the cell's TypeScript (or the local .ts file), without the executor's frames.
 */
import * as path from "node:path";
import { inspect } from "node:util";
import { SourceMaps } from "./sourcemap.js";

export interface ErrorReport {
  ename: string;
  evalue: string;
  traceback: string[];
}

/** Thrown into cells (and by library loops that poll the interrupt flag) on interrupt. */
export class Interrupted extends Error {
  constructor(message = "the cell was interrupted") {
    super(message);
    this.name = "Interrupted";
  }
}

export function isInterrupted(e: unknown): boolean {
  return e instanceof Interrupted || (e instanceof Error && e.name === "Interrupted");
}

const FRAME = /^(\s*at (?:.*? \()?)(.*?):(\d+):(\d+)(\)?)$/;

/** Frames of this executor and of Node's internals say nothing about the user's code. */
// This folder, compiled (dist/kernel/executor) and, through source maps, as source.
const OWN_SOURCE_DIR = path.resolve(__dirname, "../../../kernel/executor") + path.sep;

function isInternal(file: string, executorDir: string): boolean {
  return (
    file.startsWith("node:") ||
    file.startsWith("internal/") ||
    file.startsWith(executorDir) ||
    file.startsWith(OWN_SOURCE_DIR) ||
    file === "evalmachine.<anonymous>"
  );
}

/** Maps one stack: returns the frames (already indented) and the first user source position. */
export function mapStack(
  stack: string,
  maps: SourceMaps,
  executorDir: string,
): { frames: string[]; first?: { file: string; line: number; column: number } } {
  const frames: string[] = [];
  let first: { file: string; line: number; column: number } | undefined;
  for (const raw of stack.split("\n")) {
    if (!/^\s*at /.test(raw)) continue;
    const m = FRAME.exec(raw);
    if (!m) {
      frames.push("    " + raw.trim());
      continue;
    }
    const [, head, file, line, col, close] = m;
    if (isInternal(file, executorDir)) continue;
    const mapped = maps.map(file, Number(line), Number(col));
    if (mapped) {
      first ??= { file, ...mapped };
      frames.push(
        `    ${head.trimStart()}${maps.displayName(file)}:${mapped.line}:${mapped.column}${close}`,
      );
    } else frames.push(`    ${head.trimStart()}${file}:${line}:${col}${close}`);
  }
  return { frames, first };
}

/** The offending source line with a caret under the column. */
function excerpt(maps: SourceMaps, file: string, line: number, column: number): string[] {
  const text = maps.sourceLine(file, line);
  if (text === undefined) return [];
  const gutter = `${line} | `;
  return [
    `${maps.displayName(file)}, line ${line}:`,
    `  ${gutter}${text}`,
    `  ${" ".repeat(gutter.length + Math.max(0, column - 1))}^`,
  ];
}

export function reportError(
  e: unknown,
  maps: SourceMaps,
  executorDir: string,
  seen: Set<unknown> = new Set(),
): ErrorReport {
  seen.add(e);
  if (!(e instanceof Error) && !(typeof e === "object" && e !== null && "stack" in e)) {
    const evalue = inspect(e, { depth: 2, colors: false });
    return { ename: "Uncaught", evalue, traceback: [`Uncaught ${evalue}`] };
  }
  const err = e as Error;
  const ename = typeof err.name === "string" && err.name ? err.name : "Error";
  const evalue = typeof err.message === "string" ? err.message : String(err.message);
  const { frames, first } = mapStack(
    typeof err.stack === "string" ? err.stack : "",
    maps,
    executorDir,
  );
  const traceback = [`${ename}: ${evalue}`];
  if (first) traceback.push(...excerpt(maps, first.file, first.line, first.column));
  traceback.push(...frames);
  const cause = (err as { cause?: unknown }).cause;
  if (cause !== undefined) {
    if (seen.has(cause))
      traceback.push("Caused by: (an error already shown above: the chain loops)");
    else {
      const c = reportError(cause, maps, executorDir, seen);
      traceback.push(`Caused by: ${c.traceback[0]}`, ...c.traceback.slice(1));
    }
  }
  return { ename, evalue, traceback };
}

/** A syntax error found while transforming a cell, in the cell's own coordinates. */
export function reportSyntaxError(
  diagnostics: { line: number; column: number; message: string }[],
  source: string,
  displayName: string,
): ErrorReport {
  const d = diagnostics[0];
  const evalue = `${d.message} (${displayName}, line ${d.line}, column ${d.column})`;
  const text = source.split("\n")[d.line - 1] ?? "";
  const gutter = `${d.line} | `;
  const traceback = [
    `SyntaxError: ${evalue}`,
    `  ${gutter}${text}`,
    `  ${" ".repeat(gutter.length + d.column - 1)}^`,
  ];
  for (const more of diagnostics.slice(1, 5))
    traceback.push(`  also: ${more.message} (line ${more.line}, column ${more.column})`);
  return { ename: "SyntaxError", evalue, traceback };
}
