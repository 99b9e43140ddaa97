/**
 * `moelab run`: executes a notebook's code cells in order through a kernel over its sockets
 * (no Python), then writes the executed notebook and an HTML copy. The input is never modified.
 */
import { existsSync, readFileSync, realpathSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { withTimeout } from "./client.js";
import { RunningKernel } from "./kernel-process.js";
import {
  DisplayRegistry,
  NotebookError,
  OutputCollector,
  parseNotebook,
  text,
  type Notebook,
} from "./notebook.js";

export { NotebookError };
import { renderNotebookHtml } from "./html.js";

export interface RunOptions {
  notebook: string;
  /** Executed notebook path; default: NOTEBOOK with ".ipynb" replaced by ".out.ipynb". */
  out?: string;
  /** HTML path; default: the --out path with ".html" instead of ".ipynb"; null: none. */
  html?: string | null;
  allowErrors?: boolean;
  /** Seconds per cell; 0 or absent: no limit. */
  timeout?: number;
  /** Kernel argv with "{connection_file}"; defaults to moelab's (or MOELAB_RUN_KERNEL_CMD). */
  kernelCommand?: string[];
  /** Kill the kernel on SIGINT/SIGTERM, then exit (the CLI sets this). */
  handleSignals?: boolean;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export interface RunResult {
  notebook: Notebook;
  outPath: string;
  htmlPath: string | null;
  /** Code cells executed (including the failing one). */
  executed: number;
  /** The first error, when a cell failed (with --allow-errors the run continued past it). */
  firstError: { cell: number; ename: string; evalue: string } | null;
}

/**
 * A run that could not finish (a cell past --timeout, a kernel that died): the notebook and HTML
 * were still written, with the outputs of every cell that finished and the failing cell marked.
 */
export class RunFailedError extends Error {
  constructor(
    message: string,
    readonly result: RunResult,
  ) {
    super(message);
    this.name = "RunFailedError";
  }
}

/** Default output names: a.ipynb -> a.out.ipynb, and its HTML a.html. */
export function defaultPaths(notebook: string): { out: string; html: string } {
  const base = notebook.replace(/\.ipynb$/i, "");
  return { out: `${base}.out.ipynb`, html: `${base}.html` };
}

function samePath(a: string, b: string): boolean {
  const real = (p: string) => (existsSync(p) ? realpathSync(p) : path.resolve(p));
  return real(a) === real(b);
}

/** Runs the notebook; throws Error with a clear message on bad input or a dead kernel. */
export async function runNotebook(options: RunOptions): Promise<RunResult> {
  const input = path.resolve(options.notebook);
  const log = options.log ?? (() => undefined);
  if (!existsSync(input)) throw new NotebookError(`notebook not found: ${options.notebook}`);
  if (statSync(input).isDirectory())
    throw new NotebookError(`${options.notebook} is a directory, not a notebook`);
  const raw = readFileSync(input, "utf8");
  rejectOldFormat(raw, options.notebook);
  const nb = parseNotebook(raw, options.notebook);
  const defaults = defaultPaths(input);
  const outPath = path.resolve(options.out ?? defaults.out);
  const htmlPath =
    options.html === null
      ? null
      : path.resolve(
          options.html ??
            (options.out ? outPath.replace(/(\.out)?\.ipynb$/i, "") + ".html" : defaults.html),
        );
  for (const [what, p] of [
    ["--out", outPath],
    ["--html", htmlPath],
  ] as const) {
    if (p && samePath(p, input))
      throw new NotebookError(
        `${what} ${p} is the input notebook; moelab run never overwrites its input`,
      );
  }

  const kernel = await RunningKernel.start({
    command: options.kernelCommand,
    cwd: path.dirname(input),
  });
  // Ctrl-C on `moelab run` must not leave the kernel process behind.
  const onSignal = (sig: NodeJS.Signals) => {
    void kernel.kill().finally(() => process.exit(sig === "SIGINT" ? 130 : 143));
  };
  if (options.handleSignals) {
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  }
  const displays = new DisplayRegistry();
  // Outputs go to the cell whose request is their parent, also when they arrive after that cell
  // finished (type-check warnings, timers), as JupyterLab routes them.
  const collectors = new Map<string, OutputCollector>();
  const stopRouting = kernel.client.onIopub((m) =>
    collectors.get(m.parent_header.msg_id ?? "")?.handle(m),
  );
  let executed = 0;
  let firstError: RunResult["firstError"] = null;
  // Why the run stopped early (timeout, dead kernel); the outputs so far are still written.
  let stopped: Error | null = null;
  const info = kernel.kernelInfo;
  try {
    const codeCells = nb.cells.filter((c) => c.cell_type === "code").length;
    for (let i = 0; i < nb.cells.length; i++) {
      const cell = nb.cells[i];
      if (cell.cell_type !== "code") continue;
      const code = text(cell.source);
      cell.outputs = [];
      cell.execution_count = null;
      if (code.trim() === "") continue;
      executed++;
      log(`cell ${i + 1} (${executed}/${codeCells} code)`);
      const collector = new OutputCollector(displays);
      const timeoutMs = (options.timeout ?? 0) * 1000;
      const run = kernel.client.execute(code, { stopOnError: !options.allowErrors });
      collectors.set(run.msgId, collector);
      cell.outputs = collector.outputs;
      const gone = kernel.waitExit().then(() => {
        throw new Error(`cell ${i + 1}: ${kernel.describeExit()}`);
      });
      let reply;
      try {
        reply = await withTimeout(
          Promise.race([run.done, gone]),
          timeoutMs,
          `cell ${i + 1} timed out`,
        );
      } catch (e) {
        const timedOut = !kernel.hasExited;
        if (timedOut) {
          // A stuck cell: interrupt it so shutdown can proceed.
          await kernel.client
            .request("control", "interrupt_request", {}, 2000)
            .reply.catch(() => undefined);
        }
        stopped = e as Error;
        // Mark the failing cell in the notebook and the HTML, as a cell error would be.
        const ename = timedOut ? "CellTimeout" : "DeadKernel";
        collector.outputs.push({
          output_type: "error",
          ename,
          evalue: stopped.message,
          traceback: [`${ename}: ${stopped.message}`],
        });
        cell.metadata = {
          ...cell.metadata,
          moelab: { failed: timedOut ? "timeout" : "kernel died" },
        };
        firstError ??= { cell: i + 1, ename, evalue: stopped.message };
        break;
      } finally {
        gone.catch(() => undefined);
      }
      const count = reply.content.execution_count;
      cell.execution_count = typeof count === "number" ? count : collector.executionCount;
      if (reply.content.status !== "ok") {
        const ename = String(reply.content.ename ?? reply.content.status);
        const evalue = String(reply.content.evalue ?? "");
        if (!collector.outputs.some((o) => o.output_type === "error")) {
          // Some kernels put the error in the reply only; keep it visible in the notebook.
          collector.outputs.push({
            output_type: "error",
            ename,
            evalue,
            traceback: Array.isArray(reply.content.traceback)
              ? reply.content.traceback.map(String)
              : [],
          });
        }
        firstError ??= { cell: i + 1, ename, evalue };
        if (!options.allowErrors) break;
      }
    }
  } finally {
    stopRouting();
    await kernel.shutdown();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }

  if (info.language_info) nb.metadata.language_info = info.language_info;
  if (!options.kernelCommand && !process.env.MOELAB_RUN_KERNEL_CMD) {
    // So JupyterLab opens the executed notebook with the kernel that produced it.
    nb.metadata.kernelspec ??= {
      name: "moelab",
      display_name: "TypeScript (moelab)",
      language: "typescript",
    };
  }
  writeFileSync(outPath, JSON.stringify(nb, null, 1) + "\n");
  if (htmlPath)
    writeFileSync(htmlPath, renderNotebookHtml(nb, { title: path.basename(input, ".ipynb") }));
  const result = { notebook: nb, outPath, htmlPath, executed, firstError };
  if (stopped) {
    const wrote = `${outPath}${htmlPath ? ` and ${htmlPath}` : ""}`;
    throw new RunFailedError(
      `${stopped.message}\n(wrote ${wrote}: the outputs of the cells that finished, the failing cell marked)`,
      result,
    );
  }
  return result;
}

/**
 * nbformat 3 (IPython 2, "worksheets" instead of "cells") would otherwise read as "not a
 * notebook": name the version instead.
 */
function rejectOldFormat(raw: string, name: string): void {
  let o: unknown;
  try {
    o = JSON.parse(raw);
  } catch {
    return; // parseNotebook names the JSON error
  }
  const v = (o as { nbformat?: unknown } | null)?.nbformat;
  if (typeof v === "number" && v < 4)
    throw new NotebookError(
      `${name} is nbformat ${v}: nbformat ${v} is not supported (moelab run reads nbformat 4; ` +
        `convert it with \`jupyter nbconvert --to notebook --nbformat 4 ${name}\`)`,
    );
}

export const RUN_USAGE = `usage: moelab run NOTEBOOK [--out FILE] [--html FILE | --no-html] [--allow-errors] [--timeout S]

Executes NOTEBOOK's code cells in order with the moelab kernel (over its zeromq sockets; no
Python needed), with the notebook's folder as the working directory. NOTEBOOK itself is never
modified.

  --out FILE       executed notebook (default: NOTEBOOK with .ipynb -> .out.ipynb)
  --html FILE      HTML copy, self-contained (default: the --out path with .out.ipynb -> .html,
                   e.g. a.ipynb -> a.html)
  --no-html        write no HTML
  --allow-errors   keep going after a cell error (exit code 0); errors stay in the outputs
  --timeout S      seconds allowed per cell (default: no limit); a cell past it is interrupted
                   and the run fails

Exit code: 0 when every cell ran, 1 when a cell failed, timed out or the kernel died (the notebook
and HTML are still written, with the outputs of every finished cell and the failing cell marked),
2 on bad arguments or an unreadable notebook.
For tests only: MOELAB_RUN_KERNEL_CMD='["cmd", ..., "{connection_file}"]' runs another kernel.`;

/** Parses `moelab run` arguments; throws Error on bad usage. */
export function parseRunArgs(argv: string[]): RunOptions | "help" {
  const o: Partial<RunOptions> = {};
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith("--")) throw new Error(`${flag} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-h" || a === "--help") return "help";
    else if (a === "--out" || a === "-o") o.out = value(i++, a);
    else if (a === "--html") o.html = value(i++, a);
    else if (a === "--no-html") o.html = null;
    else if (a === "--allow-errors") o.allowErrors = true;
    else if (a === "--timeout") {
      const t = Number(value(i++, a));
      if (!Number.isFinite(t) || t < 0)
        throw new Error(`--timeout needs a number of seconds, got ${argv[i]}`);
      o.timeout = t;
    } else if (a.startsWith("-")) throw new Error(`unknown option ${a}`);
    else if (o.notebook === undefined) o.notebook = a;
    else throw new Error(`unexpected argument ${a} (one notebook at a time)`);
  }
  if (!o.notebook) throw new Error("which notebook? give its path");
  return o as RunOptions;
}
