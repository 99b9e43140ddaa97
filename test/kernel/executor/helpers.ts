/** Drives an Executor directly (no sockets) and builds notebook folders with modules to import. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type {
  ExecuteOptions,
  ExecuteOutcome,
  Executor,
  ExecutorEvent,
} from "../../../kernel/contracts.js";

export interface RunResult {
  outcome: ExecuteOutcome;
  events: ExecutorEvent[];
  /** Concatenated stream text per stream name. */
  stdout: string;
  stderr: string;
  /** text/plain of the result, when there is one. */
  text?: string;
}

let count = 0;

export async function run(
  ex: Executor,
  code: string,
  extra: Partial<ExecuteOptions> = {},
): Promise<RunResult> {
  const events: ExecutorEvent[] = [];
  const outcome = await ex.execute(code, {
    executionCount: ++count,
    silent: false,
    allowStdin: true,
    onEvent: (e) => events.push(e),
    requestInput: async () => "",
    ...extra,
  });
  const streams = (name: string) =>
    events
      .filter((e) => e.type === "stream" && e.name === name)
      .map((e) => (e as { text: string }).text)
      .join("");
  const text =
    outcome.status === "ok" && outcome.result
      ? (outcome.result.data["text/plain"] as string)
      : undefined;
  return { outcome, events, stdout: streams("stdout"), stderr: streams("stderr"), text };
}

/** Runs a cell that must succeed and returns its result text. */
export async function value(ex: Executor, code: string): Promise<string | undefined> {
  const r = await run(ex, code);
  if (r.outcome.status !== "ok")
    throw new Error(`cell failed: ${JSON.stringify(code)} -> ${JSON.stringify(r.outcome)}`);
  return r.text;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Waits until cond() holds (polling), failing after timeoutMs. */
export async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not reached in time");
    await sleep(5);
  }
}

function write(file: string, text: string) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}

/** A notebook folder with npm packages (CommonJS, ESM-only) and local .ts/.js/.mjs modules. */
export function makeNotebookDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "moelab-exec-"));
  const nm = path.join(dir, "node_modules");
  write(
    path.join(nm, "cjs-pkg", "package.json"),
    JSON.stringify({ name: "cjs-pkg", main: "lib/main.js" }),
  );
  write(
    path.join(nm, "cjs-pkg", "lib", "main.js"),
    "exports.add = (a, b) => a + b;\nexports.kind = 'cjs';\n",
  );
  write(path.join(nm, "cjs-fn", "package.json"), JSON.stringify({ name: "cjs-fn" }));
  write(
    path.join(nm, "cjs-fn", "index.js"),
    "module.exports = function hello(n) { return 'hello ' + n; };\n",
  );
  write(
    path.join(nm, "esm-only", "package.json"),
    JSON.stringify({
      name: "esm-only",
      type: "module",
      exports: { ".": { import: "./index.js" }, "./extra": { import: "./extra.js" } },
    }),
  );
  write(
    path.join(nm, "esm-only", "index.js"),
    "export const twice = (x) => 2 * x;\nexport default 'esm default';\n",
  );
  write(path.join(nm, "esm-only", "extra.js"), "export const extra = 'extra';\n");
  write(path.join(nm, "side-effect", "package.json"), JSON.stringify({ name: "side-effect" }));
  write(
    path.join(nm, "side-effect", "index.js"),
    "globalThis.sideEffectRan = (globalThis.sideEffectRan || 0) + 1;\n",
  );
  write(
    path.join(dir, "util.ts"),
    [
      "export function triple(x: number): number {",
      "  return 3 * x;",
      "}",
      "export function fail(message: string): never {",
      "  const prefix: string = 'util: ';",
      "  throw new Error(prefix + message);",
      "}",
      "export default class Point { constructor(public x: number, public y: number) {} }",
      "",
    ].join("\n"),
  );
  write(
    path.join(dir, "sub", "more.ts"),
    "import { triple } from '../util';\nexport const nine = triple(3);\n",
  );
  write(path.join(dir, "helper.js"), "exports.five = 5;\n");
  write(path.join(dir, "esm.mjs"), "export const six = 6;\n");
  write(path.join(dir, "broken.ts"), "export const oops = (;\n");
  return dir;
}
