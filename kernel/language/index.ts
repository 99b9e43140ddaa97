/**
 * Completion, inspection, is_complete and type checking for TypeScript cells (the kernel's
 * `Language`), answered by TypeScript's language service in a worker thread of its own.
 * createLanguage returns at once; the worker starts and warms up in the background.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Worker } from "node:worker_threads";
import type {
  CompleteResult,
  Diagnostic,
  InspectResult,
  IsCompleteResult,
  Language,
} from "../contracts.js";
import type { FromWorker, Request, Results, ToWorker, WorkerOptions } from "./messages.js";
import type { PreludeState } from "./prelude.js";
import type { CheckSettings, ServiceStats } from "./service.js";
import { codePointLength } from "./positions.js";

export type { CheckSettings, ServiceStats } from "./service.js";

export interface LanguageOptions {
  /** The notebook's folder: relative imports and node_modules resolve from here. */
  cwd: string;
  /**
   * Start-up quiet time: the worker builds its first program unasked after this delay, and
   * check() waits for it to pass (default 500 ms), so cold start does not share the CPU with it.
   */
  warmupDelayMs?: number;
  /** A request not answered within this time gets an empty result (default 30 s). */
  timeoutMs?: number;
  /** Full strict checking from the start (default: loose; MOELAB_STRICT=1 sets it too). */
  strict?: boolean;
  /**
   * The worker is replaced by a fresh one, carrying the recorded declarations over, after this
   * many programs (checks, completions, inspections, recorded cells; default 100). Every
   * program TypeScript builds has a new type checker whose functions V8 optimises again, and
   * the memory that costs is only returned when the thread ends.
   */
  rotateAfter?: number;
}

/** The kernel's Language, plus numbers for tests and diagnostics. */
export interface LanguageServer extends Language {
  /** The service's numbers, how many workers this client started and how many it replaced. */
  stats(): Promise<(ServiceStats & { workers: number; replaced: number }) | undefined>;
  configure(settings: { strict: boolean }): Promise<CheckSettings>;
}

/** Requests that make TypeScript build a program (and a type checker). */
const PROGRAM_OPS = new Set<Request["op"]>(["complete", "inspect", "check"]);

/** Recorded cells replayed into a restarted worker on top of the last snapshot (the newest). */
const REPLAY_LIMIT = 500;

const ROTATE_AFTER = 100;

/** Whether an environment's MOELAB_STRICT asks for strict checking ("1", "true", "yes", "on"). */
export function strictFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return /^(1|true|yes|on)$/i.test((env.MOELAB_STRICT ?? "").trim());
}

export function createLanguage(opts: LanguageOptions): LanguageServer {
  if (!opts || typeof opts.cwd !== "string" || opts.cwd === "") {
    throw new TypeError("createLanguage: opts.cwd must be a non-empty folder path");
  }
  return new LanguageClient(opts);
}

interface Pending {
  op: Request["op"];
  worker: Worker | undefined;
  resolve(result: Results[keyof Results] | undefined): void;
  timer: NodeJS.Timeout;
}

class LanguageClient implements LanguageServer {
  private worker: Worker | undefined;
  private starting: NodeJS.Immediate | undefined;
  private disposed = false;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Recorded cells since `snapshot` (the prelude a new worker starts from). */
  private replay: string[] = [];
  private snapshot: PreludeState | undefined;
  private readonly workerOptions: WorkerOptions;
  private readonly rotateAfter: number;
  /** Programs the current worker has built (see rotateAfter). */
  private programs = 0;
  private rotating = false;
  /** A replaced worker, ended once its last answer is in. */
  private retiring: Worker | undefined;
  /**
   * The replacement being warmed (rotate): it gets every recorded cell, and takes over only once
   * it has built its first program, so no request waits for a cold TypeScript.
   */
  private warming: Worker | undefined;
  private workersStarted = 0;
  private replaced = 0;
  private readonly timeoutMs: number;
  /** Until then, only interactive requests (complete, inspect, is_complete) load TypeScript. */
  private readonly quietUntil: number;

  constructor(opts: LanguageOptions) {
    const moelabTypes = path.resolve(__dirname, "..", "..", "lib", "index.d.ts");
    this.workerOptions = {
      cwd: path.resolve(opts.cwd),
      moelabTypes: fs.existsSync(moelabTypes) ? moelabTypes : undefined,
      warmupDelayMs: opts.warmupDelayMs ?? 500,
      strict: opts.strict ?? strictFromEnv(),
    };
    if (
      opts.rotateAfter !== undefined &&
      !(Number.isInteger(opts.rotateAfter) && opts.rotateAfter > 0)
    )
      throw new TypeError(
        `createLanguage: opts.rotateAfter must be a positive integer, got ${String(opts.rotateAfter)}`,
      );
    this.rotateAfter = opts.rotateAfter ?? ROTATE_AFTER;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.quietUntil = Date.now() + this.workerOptions.warmupDelayMs;
    // Off the caller's stack: the kernel's start-up goes on while the worker boots.
    this.starting = setImmediate(() => {
      this.starting = undefined;
      this.ensureWorker();
    });
    this.starting.unref();
  }

  async complete(code: string, cursorPos: number): Promise<CompleteResult> {
    const pos = clampCursor("complete", code, cursorPos);
    const fallback: CompleteResult = {
      matches: [],
      cursor_start: pos,
      cursor_end: pos,
      metadata: {},
    };
    if (typeof code !== "string") return fallback;
    return (await this.request({ op: "complete", code, cursorPos: pos })) ?? fallback;
  }

  async inspect(code: string, cursorPos: number, detailLevel: 0 | 1): Promise<InspectResult> {
    const fallback: InspectResult = { found: false, data: {}, metadata: {} };
    if (typeof code !== "string") return badInput("inspect", "code must be a string", fallback);
    const pos = clampCursor("inspect", code, cursorPos);
    const level = detailLevel === 1 ? 1 : 0;
    return (
      (await this.request({ op: "inspect", code, cursorPos: pos, detailLevel: level })) ?? fallback
    );
  }

  async isComplete(code: string): Promise<IsCompleteResult> {
    const fallback: IsCompleteResult = { status: "unknown" };
    if (typeof code !== "string") return badInput("isComplete", "code must be a string", fallback);
    return (await this.request({ op: "isComplete", code })) ?? fallback;
  }

  async check(code: string): Promise<Diagnostic[]> {
    if (typeof code !== "string") return badInput("check", "code must be a string", []);
    // The first cell's check would build a program while the kernel is still starting: wait.
    const wait = this.quietUntil - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    return (await this.request({ op: "check", code })) ?? [];
  }

  record(code: string): void {
    if (this.disposed) return;
    if (typeof code !== "string") {
      badInput("record", "code must be a string", undefined);
      return;
    }
    this.replay.push(code);
    if (this.replay.length > REPLAY_LIMIT) this.replay.shift();
    this.programs++;
    this.post({ record: code });
    this.warming?.postMessage({ record: code } satisfies ToWorker);
  }

  async configure(settings: { strict: boolean }): Promise<CheckSettings> {
    if (!settings || typeof settings.strict !== "boolean")
      throw new TypeError(
        `configure: settings.strict must be true or false, got ${JSON.stringify(settings?.strict)}`,
      );
    // Kept for every worker started later (restarts, rotation).
    this.workerOptions.strict = settings.strict;
    return (
      (await this.request({ op: "configure", strict: settings.strict })) ?? {
        strict: settings.strict,
      }
    );
  }

  async stats(): Promise<(ServiceStats & { workers: number; replaced: number }) | undefined> {
    const s = await this.request({ op: "stats" });
    return s ? { ...s, workers: this.workersStarted, replaced: this.replaced } : undefined;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    if (this.starting) clearImmediate(this.starting);
    this.failAll();
    const w = this.worker;
    this.worker = undefined;
    const old = this.retiring;
    this.retiring = undefined;
    const next = this.warming;
    this.warming = undefined;
    if (old) await old.terminate();
    if (next) await next.terminate();
    if (w) await w.terminate();
  }

  private request<K extends Request["op"]>(
    request: Extract<Request, { op: K }>,
  ): Promise<Results[K] | undefined> {
    if (this.disposed) return Promise.resolve(undefined);
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        log(
          `${request.op} got no answer within ${this.timeoutMs} ms; restarting the language worker`,
        );
        this.pending.delete(id);
        resolve(undefined);
        this.restart();
      }, this.timeoutMs);
      if (PROGRAM_OPS.has(request.op)) this.programs++;
      this.pending.set(id, {
        op: request.op,
        resolve: resolve as Pending["resolve"],
        timer,
        worker: this.ensureWorker(),
      });
      this.post({ id, request });
    });
  }

  private post(msg: ToWorker): void {
    const w = this.ensureWorker();
    if (!w) return;
    w.ref();
    try {
      w.postMessage(msg);
    } catch (err) {
      log(`could not reach the language worker: ${String(err)}`);
    }
    this.refIfBusy();
  }

  private ensureWorker(): Worker | undefined {
    if (this.disposed) return undefined;
    if (this.worker) return this.worker;
    const w = this.spawnWorker();
    if (!w) return undefined;
    this.programs = 0;
    this.worker = w;
    return w;
  }

  /** A new worker from the current prelude, given the cells recorded since (not yet in use). */
  private spawnWorker(): Worker | undefined {
    try {
      const workerData: WorkerOptions = { ...this.workerOptions, prelude: this.snapshot };
      const w = new Worker(path.join(__dirname, "worker.js"), { workerData });
      this.workersStarted++;
      w.on("message", (msg: FromWorker) => this.onReply(msg));
      w.on("error", (err) => {
        log(
          `the language worker failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
        );
      });
      w.on("exit", (code) => {
        if (this.warming === w) {
          this.warming = undefined;
          if (!this.disposed) log(`the replacement language worker exited (code ${code})`);
          return;
        }
        if (this.worker !== w) return;
        this.worker = undefined;
        if (!this.disposed)
          log(`the language worker exited (code ${code}); it restarts on the next request`);
        this.failAll();
      });
      for (const code of this.replay) w.postMessage({ record: code } satisfies ToWorker);
      w.unref();
      return w;
    } catch (err) {
      log(`could not start the language worker: ${String(err)}`);
      return undefined;
    }
  }

  private onReply(msg: FromWorker): void {
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    clearTimeout(p.timer);
    p.resolve(msg.result);
    this.refIfBusy();
    this.endRetiredIfDone();
    if (!this.rotating && this.programs >= this.rotateAfter && this.pending.size === 0)
      void this.rotate();
  }

  /**
   * Replaces the worker by a fresh one that starts from the old one's prelude (every name the
   * recorded cells declared), without the memory the old one's programs left behind. The old
   * worker keeps answering while the new one builds its first program (seconds on a busy
   * machine); the new one takes over when that is done.
   */
  private async rotate(): Promise<void> {
    this.rotating = true;
    try {
      const mark = this.replay.length;
      const state = await this.request({ op: "snapshot" });
      if (!state || this.disposed || !this.worker) return;
      this.snapshot = state;
      this.replay = this.replay.slice(mark);
      const next = this.spawnWorker();
      if (!next) return;
      this.warming = next;
      // Its first program, built off the request path: a check of an empty cell.
      const id = this.nextId++;
      const warmed = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          this.pending.delete(id);
          resolve(false);
        }, this.timeoutMs);
        this.pending.set(id, {
          op: "check",
          resolve: (r) => resolve(r !== undefined),
          timer,
          worker: next,
        });
        next.postMessage({ id, request: { op: "check", code: "" } } satisfies ToWorker);
      });
      if (this.warming !== next || this.disposed) return;
      this.warming = undefined;
      if (!warmed || !this.worker) {
        log("the replacement language worker did not warm up in time; keeping the current one");
        void next.terminate();
        return;
      }
      this.retiring = this.worker;
      this.worker = next;
      this.programs = 0;
      this.replaced++;
      this.endRetiredIfDone();
    } finally {
      this.rotating = false;
    }
  }

  private endRetiredIfDone(): void {
    const old = this.retiring;
    if (!old) return;
    for (const p of this.pending.values()) if (p.worker === old) return;
    this.retiring = undefined;
    void old.terminate();
  }

  /** Keeps the process alive only while an answer is awaited. */
  private refIfBusy(): void {
    if (!this.worker) return;
    if (this.pending.size > 0) this.worker.ref();
    else this.worker.unref();
  }

  private restart(): void {
    const old = this.retiring;
    this.retiring = undefined;
    if (old) void old.terminate();
    const next = this.warming;
    this.warming = undefined;
    if (next) void next.terminate();
    const w = this.worker;
    this.worker = undefined;
    this.failAll();
    if (w) void w.terminate();
  }

  private failAll(): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.resolve(undefined);
    }
  }
}

function log(message: string): void {
  process.stderr.write(`[moelab] language: ${message}\n`);
}

function badInput<T>(op: string, what: string, fallback: T): T {
  log(`${op}: ${what}`);
  return fallback;
}

/** A cursor outside the code (or not an integer) is clamped, and logged. */
function clampCursor(op: string, code: unknown, cursorPos: number): number {
  const length = typeof code === "string" ? codePointLength(code) : 0;
  if (typeof code !== "string") log(`${op}: code must be a string`);
  if (!Number.isInteger(cursorPos) || cursorPos < 0 || cursorPos > length) {
    if (typeof code === "string")
      log(`${op}: cursor_pos ${String(cursorPos)} is outside the code (0..${length})`);
    return Number.isFinite(cursorPos)
      ? Math.max(0, Math.min(length, Math.floor(cursorPos)))
      : length;
  }
  return cursorPos;
}
