/**
 * The worker thread in which cells run. It owns the user's globals, captures console and
 * process.stdout/stderr, displays values, runs comms and input(), and answers interrupts.
 * Nothing here may end the thread except "dispose": user errors are reported, never fatal.
 */
// First: loads "typescript" through V8's code cache before ./transform requires it.
import { saveTypeScriptCache } from "./ts-cache.js";
import { parentPort, workerData } from "node:worker_threads";
import * as vm from "node:vm";
import { Console } from "node:console";
import { StringDecoder } from "node:string_decoder";
import { randomUUID } from "node:crypto";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import type { ExecuteOutcome, ExecutorEvent, MimeBundle } from "../contracts.js";
import type { FromWorker, ToWorker, WorkerData } from "./messages.js";
import { transformCell, HELPER, CellOutput } from "./transform.js";
import { SourceMaps } from "./sourcemap.js";
import { Interrupted, isInterrupted, reportError, reportSyntaxError } from "./errors.js";
import { bundleOf, html, md, svg, DisplayOptions, Bundle } from "./display.js";
import { CommManager } from "./comms.js";
import { createImporter } from "./resolve.js";
import { KERNEL_SYMBOL, INTERRUPT_SYMBOL, KernelApi } from "./api.js";

const port = parentPort!;
const data = workerData as WorkerData;
// Captured now: cells may assign globals of the same names (`const process = ...`).
const proc = process;
const perf = performance;
const now = () => perf.now();
const NodeBuffer = Buffer;
const microtask = queueMicrotask;
const executorDir = __dirname;

const flag = new Int32Array(data.interruptBuffer);
// Library frames (dist/lib/*.js with .js.map files) then name their TypeScript lines.
proc.setSourceMapsEnabled(true);
const maps = new SourceMaps();
const importer = createImporter(data.cwd, maps);

function post(m: FromWorker): void {
  port.postMessage(m);
}

// ---- streams: each write is posted at once, unless a burst (more than BURST writes within 2 ms)
// is under way: the rest of the burst is joined and posted at the end of the tick.
const BURST = 16;
let pendingName: "stdout" | "stderr" = "stdout";
let pendingText = "";
let windowStart = 0;
let windowPosts = 0;
let flushQueued = false;

function flushStreams(): void {
  if (!pendingText) return;
  const text = pendingText;
  pendingText = "";
  post({ t: "ev", ev: { type: "stream", name: pendingName, text } });
}

function write(name: "stdout" | "stderr", text: string): void {
  if (!text) return;
  if (pendingText && pendingName !== name) flushStreams();
  pendingName = name;
  pendingText += text;
  const t = now();
  if (t - windowStart >= 2) {
    windowStart = t;
    windowPosts = 0;
  }
  if (windowPosts < BURST || pendingText.length > 65536) {
    windowPosts++;
    flushStreams();
  } else if (!flushQueued) {
    flushQueued = true;
    microtask(() => {
      flushQueued = false;
      flushStreams();
    });
  }
}

function patchStream(stream: NodeJS.WriteStream, name: "stdout" | "stderr"): void {
  const decoder = new StringDecoder("utf8");
  (stream as { write: unknown }).write = (
    chunk: unknown,
    encoding?: unknown,
    cb?: (err?: Error | null) => void,
  ): boolean => {
    if (typeof encoding === "function") cb = encoding as typeof cb;
    let text: string;
    if (typeof chunk === "string") text = chunk;
    else if (ArrayBuffer.isView(chunk))
      text = decoder.write(NodeBuffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    else text = String(chunk);
    write(name, text);
    if (cb) microtask(() => cb!(null));
    return true;
  };
}
patchStream(proc.stdout, "stdout");
patchStream(proc.stderr, "stderr");
const userConsole = new Console({ stdout: proc.stdout, stderr: proc.stderr, colorMode: false });
Object.defineProperty(globalThis, "console", {
  value: userConsole,
  writable: true,
  configurable: true,
  enumerable: false,
});

function emitEvent(ev: ExecutorEvent): void {
  flushStreams();
  post({ t: "ev", ev });
}

/** Errors outside a cell's own flow (callbacks, comm handlers) become stderr text. */
function reportBackground(what: string, e: unknown): void {
  if (isInterrupted(e)) return;
  const r = reportError(e, maps, executorDir);
  write("stderr", `${what}:\n${r.traceback.join("\n")}\n`);
}

// ---- cells
interface Cell {
  id: number;
  allowStdin: boolean;
  settled: boolean;
  /** page() calls: execute_reply payloads (source "page"). */
  payload: Record<string, unknown>[];
}
let current: Cell | null = null;
let executionCount = 0;
/** Cells stopped by an interrupt: their leftover awaits throw instead of running on. */
const interruptedCells = new Set<number>();
const usedNames = new Set<string>();

function scriptName(count: number): string {
  let name = `In[${count}]`;
  for (let i = 2; usedNames.has(name); i++) name = `In[${count}]~${i}`;
  usedNames.add(name);
  return name;
}

function interruptedOutcome(e?: unknown): ExecuteOutcome {
  const r =
    e !== undefined
      ? reportError(e, maps, executorDir)
      : {
          evalue: "the cell was interrupted",
          traceback: ["Interrupted: the cell was interrupted"],
        };
  return { status: "interrupted", ename: "Interrupted", evalue: r.evalue, traceback: r.traceback };
}

function settle(cell: Cell, outcome: ExecuteOutcome): void {
  if (cell.settled) return;
  cell.settled = true;
  if (current === cell) current = null;
  for (const [req, p] of pendingInputs) {
    if (p.cell !== cell) continue;
    pendingInputs.delete(req);
    p.reject(new Interrupted("input() was cancelled: its cell ended"));
  }
  try {
    flushStreams();
  } catch {
    // Whatever the cell broke, its outcome must still be sent.
  }
  try {
    post({ t: "done", id: cell.id, outcome });
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    post({
      t: "done",
      id: cell.id,
      outcome: {
        status: "error",
        ename: "DataCloneError",
        evalue: `the cell's result could not be sent to the frontend: ${why}`,
        traceback: [`DataCloneError: the cell's result could not be sent to the frontend: ${why}`],
      },
    });
  }
}

function errorOutcome(e: unknown): ExecuteOutcome {
  if (isInterrupted(e)) return interruptedOutcome(e);
  return { status: "error", ...reportError(e, maps, executorDir) };
}

/** V8's own syntax errors (TypeScript accepted the text) carry "In[3]:7" as their first line. */
function compileErrorOutcome(e: unknown, name: string, code: string): ExecuteOutcome {
  const stack = e instanceof Error && typeof e.stack === "string" ? e.stack : "";
  const at = /^(.*?):(\d+)\n/.exec(stack);
  if (e instanceof SyntaxError && at && at[1] === name) {
    const pos = maps.map(name, Number(at[2]), 1);
    if (pos) {
      const r = reportSyntaxError(
        [{ line: pos.line, column: pos.column, message: e.message }],
        code,
        name,
      );
      return { status: "error", ...r };
    }
  }
  return errorOutcome(e);
}

function isBox(v: unknown): v is [unknown] {
  return Array.isArray(v) && v.length === 1;
}

/** Globals a cell declares must take assignment (Node's `crypto` is a getter without setter). */
function makeAssignable(names: string[]): void {
  for (const name of names) {
    const d = Object.getOwnPropertyDescriptor(globalThis, name);
    if (!d || !d.configurable) continue;
    if ((d.get && !d.set) || d.writable === false)
      Object.defineProperty(globalThis, name, {
        value: undefined,
        writable: true,
        configurable: true,
        enumerable: true,
      });
  }
}

/** Transform outputs by cell text: notebooks re-run the same cells, and the output depends only on the text. */
const transformCache = new Map<string, CellOutput>();
function transform(code: string, name: string): CellOutput {
  const hit = transformCache.get(code);
  if (hit) {
    transformCache.delete(code);
    transformCache.set(code, hit);
    return hit;
  }
  const out = transformCell(code, { fileName: name });
  if (code.length < 100_000) {
    transformCache.set(code, out);
    if (transformCache.size > 256)
      transformCache.delete(transformCache.keys().next().value as string);
  }
  return out;
}

async function exec(m: Extract<ToWorker, { t: "exec" }>): Promise<void> {
  const cell: Cell = { id: m.id, allowStdin: m.allowStdin, settled: false, payload: [] };
  current = cell;
  executionCount = m.count;
  Atomics.store(flag, 0, 0);
  Atomics.store(flag, 1, 0);
  const name = scriptName(m.count);
  let fn: () => Promise<unknown>;
  try {
    const out = transform(m.code, name);
    if (out.diagnostics.length)
      return settle(cell, { status: "error", ...reportSyntaxError(out.diagnostics, m.code, name) });
    maps.register(name, out.map, m.code);
    makeAssignable(out.names);
    try {
      const compiled = vm.runInThisContext(out.js, { filename: name }) as (
        id: number,
      ) => Promise<unknown>;
      fn = () => compiled(m.id);
    } catch (e) {
      return settle(cell, compileErrorOutcome(e, name, m.code));
    }
  } catch (e) {
    return settle(cell, errorOutcome(e));
  }
  let box: unknown;
  try {
    box = await fn();
  } catch (e) {
    return settle(cell, errorOutcome(e));
  }
  if (cell.settled) return;
  // Node reports a rejection nobody handled once this tick's microtasks are done: one macrotask
  // lets it surface while this cell is still current, as part of its own output.
  await new Promise<void>((r) => setImmediate(r));
  if (cell.settled) return;
  // execute_reply payloads ride on the outcome (an addition to the contracts' ok outcome).
  const ok = (): ExecuteOutcome =>
    (cell.payload.length
      ? { status: "ok", payload: cell.payload }
      : { status: "ok" }) as ExecuteOutcome;
  if (m.silent || !isBox(box) || box[0] === undefined) return settle(cell, ok());
  try {
    const b = await bundleOf(box[0]);
    settle(cell, { ...ok(), result: { data: b.data, metadata: b.metadata } } as ExecuteOutcome);
  } catch (e) {
    settle(cell, errorOutcome(e));
  }
}

function chk<T>(value: T, cellId?: number): T {
  if (Atomics.load(flag, 0) === 1 || (cellId !== undefined && interruptedCells.has(cellId)))
    throw new Interrupted();
  return value;
}

// ---- display, input
function display(value: unknown, options?: DisplayOptions): void {
  if (options !== undefined && (typeof options !== "object" || options === null))
    throw new TypeError(
      'display(value, options): options must be an object like { displayId: "x" }',
    );
  // Deno's spelling (display_id) is accepted too.
  const given = (options ?? {}) as DisplayOptions & { display_id?: string };
  const opts: DisplayOptions = { ...given, displayId: given.displayId ?? given.display_id };
  if (opts.displayId !== undefined && typeof opts.displayId !== "string")
    throw new TypeError("display: displayId must be a string");
  if (opts.update && !opts.displayId)
    throw new TypeError(
      "display(value, { update: true }) needs the displayId of the output to update",
    );
  const send = (b: Bundle) => {
    try {
      emitEvent({
        type: opts.update ? "update_display_data" : "display_data",
        data: b.data,
        metadata: b.metadata,
        transient: opts.displayId ? { display_id: opts.displayId } : {},
      });
    } catch (e) {
      throw new TypeError(
        `display: the MIME bundle cannot be sent (${e instanceof Error ? e.message : e}); MIME data must be strings or JSON`,
        { cause: e },
      );
    }
  };
  const b = bundleOf(value, opts);
  if (b instanceof Promise) b.then(send, (e) => reportBackground("display failed", e));
  else send(b);
}

/** Shows a value in the frontend's pager (a "page" payload of the execute reply). */
function page(value: unknown): void {
  const cell = current;
  const send = (data: MimeBundle) => {
    // After its cell has ended, a page can only be an ordinary output.
    if (!cell || cell.settled)
      emitEvent({ type: "display_data", data, metadata: {}, transient: {} });
    else cell.payload.push({ source: "page", data, start: 0 });
  };
  if (typeof value === "string") return send({ "text/plain": value });
  const b = bundleOf(value);
  if (b instanceof Promise)
    b.then(
      (r) => send(r.data),
      (e) => reportBackground("page failed", e),
    );
  else send(b.data);
}

/** Strict type checking of the cells after this one: MOELAB_STRICT=1, or typecheck() in a cell. */
let strictChecking = /^(1|true|yes|on)$/i.test((proc.env.MOELAB_STRICT ?? "").trim());

function typecheck(options?: { strict?: boolean }): { strict: boolean } {
  if (options !== undefined) {
    const strict = (options as { strict?: unknown } | null)?.strict;
    if (typeof options !== "object" || options === null || typeof strict !== "boolean")
      throw new TypeError(
        `typecheck(options): options.strict must be true or false, e.g. typecheck({ strict: true }); got ${JSON.stringify(options) ?? String(options)}`,
      );
    strictChecking = strict;
    emitEvent({ type: "typecheck", strict });
  }
  return { strict: strictChecking };
}

function clearOutput(wait?: boolean): void {
  emitEvent({ type: "clear_output", wait: !!wait });
}

let reqSeq = 0;
const pendingInputs = new Map<
  number,
  { resolve(v: string): void; reject(e: Error): void; cell: Cell }
>();

function input(prompt?: string, options?: { password?: boolean }): Promise<string> {
  const cell = current;
  if (!cell)
    return Promise.reject(
      new Error("input() can only ask while a cell runs (this cell has already finished)"),
    );
  if (!cell.allowStdin)
    return Promise.reject(
      new Error(
        "input() is not available: this cell was executed with allow_stdin=false, so the frontend cannot answer input requests",
      ),
    );
  const req = ++reqSeq;
  return new Promise<string>((resolve, reject) => {
    pendingInputs.set(req, { resolve, reject, cell });
    flushStreams();
    post({
      t: "input",
      req,
      prompt: prompt === undefined ? "" : String(prompt),
      password: !!options?.password,
    });
  });
}

const comms = new CommManager(emitEvent, (what, e) => reportBackground(`Error in ${what}`, e));
const shutdownHooks: (() => void | Promise<void>)[] = [];

const api: KernelApi = {
  version: 1,
  display,
  newDisplayId: () => randomUUID(),
  bundle: async (value: unknown): Promise<MimeBundle> => (await bundleOf(value)).data,
  html,
  md,
  svg,
  clearOutput,
  page,
  input,
  comms,
  interruptFlag: flag,
  checkInterrupt() {
    if (Atomics.load(flag, 0) === 1) throw new Interrupted();
  },
  holdInterrupt(ms: number) {
    if (!(Number.isFinite(ms) && ms >= 0))
      throw new RangeError(`holdInterrupt: ms must be >= 0, got ${ms}`);
    const before = Atomics.load(flag, 1);
    Atomics.store(flag, 1, Math.min(Math.max(before, Math.ceil(ms)), 2 ** 31 - 1));
    let held = true;
    return () => {
      if (held) Atomics.store(flag, 1, before);
      held = false;
    };
  },
  get executionCount() {
    return executionCount;
  },
  onShutdown(fn) {
    if (typeof fn !== "function") throw new TypeError("onShutdown needs a function");
    shutdownHooks.push(fn);
  },
};

const g = globalThis as unknown as Record<string | symbol, unknown>;
const requireFromCwd = Object.assign((spec: string) => importer.require(spec), {
  resolve: (spec: string) => importer.resolve(spec),
});
Object.assign(g, {
  page,
  display,
  html,
  md,
  svg,
  clear_output: clearOutput,
  typecheck,
  input,
  comms,
  require: requireFromCwd,
});
const notebookFile = path.join(data.cwd, "[notebook]");
const meta = Object.freeze({
  url: pathToFileURL(notebookFile).href,
  filename: notebookFile,
  dirname: data.cwd,
  resolve: (spec: string) => {
    const file = importer.resolve(spec);
    return file.startsWith("node:") ? file : pathToFileURL(file).href;
  },
});
Object.defineProperty(g, HELPER, {
  value: Object.freeze({ import: importer.import, require: importer.require, chk, meta }),
  enumerable: false,
});
// Node snippets find files next to the notebook through __dirname.
g.__dirname = data.cwd;
Object.defineProperty(g, KERNEL_SYMBOL, { value: api, enumerable: false, configurable: true });
Object.defineProperty(g, INTERRUPT_SYMBOL, { value: flag, enumerable: false, configurable: true });

proc.on("uncaughtException", (e) => reportBackground("Uncaught exception in a callback", e));
proc.on("unhandledRejection", (e) => reportBackground("Unhandled promise rejection", e));

async function shutdown(): Promise<void> {
  for (const fn of shutdownHooks) {
    try {
      await Promise.race([fn(), new Promise((r) => setTimeout(r, 1000).unref())]);
    } catch (e) {
      reportBackground("Error in an onShutdown hook", e);
    }
  }
  try {
    comms.closeAll();
  } catch (e) {
    reportBackground("Error while closing comms", e);
  }
  flushStreams();
  saveTypeScriptCache();
  post({ t: "disposed" });
  proc.exit(0);
}

function reply(req: number, value: unknown): void {
  post({ t: "reply", req, value });
}

port.on("message", (m: ToWorker) => {
  try {
    handle(m);
  } catch (e) {
    // A request must always be answered, or the main thread would wait on it forever.
    reportBackground("Internal executor error", e);
    if ("req" in m && m.t !== "input_reply") reply(m.req, false);
  }
});

function handle(m: ToWorker): void {
  switch (m.t) {
    case "exec":
      exec(m).catch((e) => {
        // An executor bug must still end the cell, or the kernel would wait forever.
        if (current && current.id === m.id) settle(current, errorOutcome(e));
        else reportBackground("Internal executor error", e);
      });
      break;
    case "interrupt":
      interruptedCells.add(m.id);
      if (current && current.id === m.id) settle(current, interruptedOutcome());
      break;
    case "input_reply": {
      const p = pendingInputs.get(m.req);
      if (!p) break;
      pendingInputs.delete(m.req);
      if (m.error !== undefined) p.reject(new Error(m.error));
      else p.resolve(m.value ?? "");
      break;
    }
    case "comm_open":
      reply(
        m.req,
        comms.handleOpen(m.commId, m.target, {
          data: m.data,
          metadata: m.metadata,
          buffers: m.buffers,
        }),
      );
      break;
    case "comm_msg":
      reply(
        m.req,
        comms.handleMsg(m.commId, { data: m.data, metadata: m.metadata, buffers: m.buffers }),
      );
      break;
    case "comm_close":
      reply(m.req, comms.handleClose(m.commId, { data: m.data, metadata: {}, buffers: [] }));
      break;
    case "ping":
      // Answered at once unless JavaScript (a comm handler, a timer callback) holds the thread.
      reply(m.req, true);
      break;
    case "dispose":
      void shutdown();
      break;
  }
}

// Warm-up: the first cell should not pay for compiling the transformer and printer paths.
{
  const warm = transformCell("const __w: number = 1;\n`${__w}`;", {
    fileName: "warm-up",
    cellId: 0,
  });
  vm.runInThisContext(transformCell("1 + 1", { fileName: "warm-up" }).js);
  void bundleOf({ a: [1, 2] });
  void warm;
}
post({ t: "ready" });
setTimeout(saveTypeScriptCache, 200).unref();
