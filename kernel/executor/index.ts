/**
 * The executor: runs cells in a worker thread so the protocol loop on the main thread stays
 * responsive, and implements the contracts' `Executor` on top of the worker's messages.
 */
import * as os from "node:os";
import * as path from "node:path";
import { Worker } from "node:worker_threads";
import type { ExecuteOptions, ExecuteOutcome, Executor, ExecutorEvent } from "../contracts.js";
import type { FromWorker, ToWorker, WorkerData } from "./messages.js";
import { workerInspector } from "./inspector.js";

export type { KernelApi } from "./api.js";
export { KERNEL_SYMBOL, INTERRUPT_SYMBOL } from "./api.js";

export interface ExecutorOptions {
  /** The notebook's folder: imports of local files and packages resolve from here. */
  cwd: string;
  /** How long an interrupt waits for the cell to stop by itself before terminating its JS. */
  interruptGraceMs?: number;
}

/** How long an idle worker gets to answer a ping before an interrupt terminates its JavaScript. */
const IDLE_PING_MS = 300;
/** Time a cell gets to notice the interrupt flag (or its pending await) before termination. */
const DEFAULT_GRACE_MS = 200;

interface Running {
  id: number;
  options: ExecuteOptions;
  resolve(outcome: ExecuteOutcome): void;
  done: Promise<ExecuteOutcome>;
}

class WorkerExecutor implements Executor {
  private worker!: Worker;
  private ready!: Promise<void>;
  private flag: Int32Array;
  private current: Running | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private interrupting: Promise<void> | null = null;
  private background: ((ev: ExecutorEvent) => void)[] = [];
  private replies = new Map<number, (value: unknown) => void>();
  private reqSeq = 0;
  private cellSeq = 0;
  /** Open comms (mirror of the worker's registry, so commInfo answers while a cell runs). */
  private comms = new Map<string, string>();
  /** Comms a target closed inside its own open handler (reported before the open returned). */
  private readonly closedWhileOpening = new Set<string>();
  private disposed = false;
  private exited: Promise<void> = Promise.resolve();

  constructor(private opts: ExecutorOptions) {
    // [0]: an interrupt is requested; [1]: the grace (ms) the running cell asked for (holdInterrupt).
    this.flag = new Int32Array(new SharedArrayBuffer(8));
    this.spawn();
  }

  private spawn(): void {
    const workerData: WorkerData = {
      cwd: this.opts.cwd,
      interruptBuffer: this.flag.buffer as SharedArrayBuffer,
    };
    const heapMb = Math.max(4096, Math.floor((os.totalmem() / 1048576) * 0.75));
    const worker = new Worker(path.join(__dirname, "worker.js"), {
      workerData,
      resourceLimits: { maxOldGenerationSizeMb: heapMb },
      // Terminating JavaScript inside a timer or immediate callback (an interrupt) leaves Node's
      // async-hooks stack unbalanced; with the checks on, Node then aborts the whole process.
      execArgv: [...process.execArgv, "--no-force-async-hooks-checks"],
    });
    this.worker = worker;
    let readyResolve!: () => void;
    let readyReject!: (e: Error) => void;
    this.ready = new Promise<void>((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    let exitResolve!: () => void;
    this.exited = new Promise<void>((r) => (exitResolve = r));
    let lastError: Error | undefined;
    worker.on("message", (m: FromWorker) => {
      if (m.t === "ready") {
        // Interrupts need the inspector attached; startup does not wait long for it.
        workerInspector.attach(worker.threadId).then(
          () => readyResolve(),
          () => readyResolve(),
        );
      } else this.onMessage(m);
    });
    worker.on("error", (e) => {
      lastError = e;
      readyReject(e);
    });
    worker.on("exit", (code) => {
      workerInspector.forget(worker.threadId);
      exitResolve();
      readyReject(
        lastError ?? new Error(`the executor's worker exited during start-up (code ${code})`),
      );
      if (this.worker !== worker) return;
      this.comms.clear();
      for (const r of this.replies.values()) r(undefined);
      this.replies.clear();
      const cell = this.current;
      this.current = null;
      if (this.disposed) {
        cell?.resolve(gone("the executor was shut down while the cell ran"));
        return;
      }
      const why = lastError ? `${lastError.name}: ${lastError.message}` : `exit code ${code}`;
      const text = `The worker that runs cells ended (${why}); a fresh one was started and earlier variables are lost.`;
      if (cell) {
        cell.resolve({
          status: "error",
          ename: "WorkerExited",
          evalue: text,
          traceback: [`WorkerExited: ${text}`],
        });
      } else this.emitBackground({ type: "stream", name: "stderr", text: text + "\n" });
      this.spawn();
      this.ready.catch(() => undefined);
    });
  }

  private emitBackground(ev: ExecutorEvent): void {
    for (const l of this.background) {
      try {
        l(ev);
      } catch {
        // A failing listener must not stop the others.
      }
    }
  }

  private onMessage(m: FromWorker): void {
    switch (m.t) {
      case "ev": {
        const ev = m.ev;
        if (ev.type === "comm_open") this.comms.set(ev.comm_id, ev.target_name ?? "");
        else if (ev.type === "comm_close" && !this.comms.delete(ev.comm_id))
          this.closedWhileOpening.add(ev.comm_id); // a target that closes the comm it is opening
        const cell = this.current;
        if (cell) {
          try {
            cell.options.onEvent(ev);
          } catch {
            // The protocol side's listener failing must not lose the cell's outcome.
          }
        } else this.emitBackground(ev);
        break;
      }
      case "done": {
        // Cleared now, so output that follows the outcome is background output.
        const cell = this.current;
        if (cell && cell.id === m.id) {
          this.current = null;
          cell.resolve(m.outcome);
        }
        break;
      }
      case "input":
        this.onInput(m.req, m.prompt, m.password);
        break;
      case "reply": {
        const r = this.replies.get(m.req);
        this.replies.delete(m.req);
        r?.(m.value);
        break;
      }
      default:
        break;
    }
  }

  private onInput(req: number, prompt: string, password: boolean): void {
    const cell = this.current;
    const answer = (msg: ToWorker) => this.post(msg);
    if (!cell) {
      answer({ t: "input_reply", req, error: "input() was called after its cell finished" });
      return;
    }
    let p: Promise<string>;
    try {
      p = Promise.resolve(cell.options.requestInput(prompt, password));
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      (value) => answer({ t: "input_reply", req, value: String(value) }),
      (e) => answer({ t: "input_reply", req, error: e instanceof Error ? e.message : String(e) }),
    );
  }

  private post(m: ToWorker): void {
    try {
      this.worker.postMessage(m);
    } catch {
      // The worker is gone; its exit handler settles what waited on it.
    }
  }

  private request(m: ToWorker & { req: number }): Promise<unknown> {
    return new Promise((resolve) => {
      this.replies.set(m.req, resolve);
      this.post(m);
    });
  }

  execute(code: string, options: ExecuteOptions): Promise<ExecuteOutcome> {
    const run = async (): Promise<ExecuteOutcome> => {
      if (this.disposed) return gone("the executor has been shut down");
      try {
        await this.ready;
      } catch (e) {
        return gone(`the executor's worker failed to start: ${e instanceof Error ? e.message : e}`);
      }
      // A termination still in flight must not hit this cell.
      while (this.interrupting) await this.interrupting;
      let resolve!: (o: ExecuteOutcome) => void;
      const done = new Promise<ExecuteOutcome>((r) => (resolve = r));
      const cell: Running = { id: ++this.cellSeq, options, resolve, done };
      this.current = cell;
      this.post({
        t: "exec",
        id: cell.id,
        code: typeof code === "string" ? code : String(code),
        count: options.executionCount,
        silent: !!options.silent,
        allowStdin: !!options.allowStdin,
      });
      const outcome = await done;
      if (this.current === cell) this.current = null;
      return outcome;
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  interrupt(): Promise<void> {
    const cell = this.current;
    if (this.disposed) return Promise.resolve();
    if (this.interrupting) return this.interrupting;
    if (!cell) {
      const p = this.interruptIdle().finally(() => {
        if (this.interrupting === p) this.interrupting = null;
      });
      this.interrupting = p;
      return p;
    }
    const worker = this.worker;
    // A cell that stops at safe points (a training step) may ask for longer than the default.
    const grace = Math.max(
      this.opts.interruptGraceMs ?? DEFAULT_GRACE_MS,
      Atomics.load(this.flag, 1),
    );
    const settledWithin = (ms: number) =>
      new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), ms);
        cell.done.then(() => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    const run = async () => {
      Atomics.store(this.flag, 0, 1);
      // Settles a cell waiting on an await; a cell busy in JavaScript cannot read it yet.
      this.post({ t: "interrupt", id: cell.id });
      if (await settledWithin(grace)) return;
      try {
        await Promise.race([
          workerInspector.terminate(worker.threadId),
          new Promise((r) => setTimeout(r, 5000).unref()),
        ]);
      } catch {
        // Not attached: the flag and the message are all we have.
      }
      // The JavaScript stack is gone; this message now settles the cell as interrupted.
      this.post({ t: "interrupt", id: cell.id });
      await settledWithin(2000);
    };
    const p = run().finally(() => {
      if (this.interrupting === p) this.interrupting = null;
    });
    this.interrupting = p;
    return p;
  }

  /**
   * No cell runs, but JavaScript may still hold the worker: a comm handler or a timer callback
   * that loops. When the worker does not answer a ping at once, its JavaScript is terminated
   * and the requests waiting on it (comm messages) are settled, so the shell queue moves on.
   */
  private async interruptIdle(): Promise<void> {
    await this.ready.catch(() => undefined);
    const answered = await Promise.race([
      this.request({ t: "ping", req: ++this.reqSeq }).then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), IDLE_PING_MS).unref()),
    ]);
    if (answered || this.disposed) return;
    try {
      await Promise.race([
        workerInspector.terminate(this.worker.threadId),
        new Promise((r) => setTimeout(r, 5000).unref()),
      ]);
    } catch {
      // Not attached: nothing more can be done from here.
    }
    // Whatever was waiting on the terminated JavaScript gets no answer from it.
    const waiting = [...this.replies.values()];
    this.replies.clear();
    for (const r of waiting) r(false);
    this.emitBackground({
      type: "stream",
      name: "stderr",
      text: "Interrupted JavaScript that held the kernel outside a cell (a comm handler or a timer callback).\n",
    });
  }

  onBackgroundEvent(listener: (event: ExecutorEvent) => void): void {
    this.background.push(listener);
  }

  async commOpen(
    commId: string,
    targetName: string,
    data: Record<string, unknown>,
    metadata: Record<string, unknown>,
    buffers: Uint8Array[],
  ): Promise<boolean> {
    if (this.disposed) return false;
    await this.ready.catch(() => undefined);
    const ok = await this.request({
      t: "comm_open",
      req: ++this.reqSeq,
      commId,
      target: targetName,
      data: data ?? {},
      metadata: metadata ?? {},
      buffers: buffers ?? [],
    });
    if (ok === true && !this.closedWhileOpening.delete(commId)) this.comms.set(commId, targetName);
    return ok === true;
  }

  async commMsg(
    commId: string,
    data: Record<string, unknown>,
    metadata: Record<string, unknown>,
    buffers: Uint8Array[],
  ): Promise<void> {
    if (this.disposed || !this.comms.has(commId)) return;
    await this.request({
      t: "comm_msg",
      req: ++this.reqSeq,
      commId,
      data: data ?? {},
      metadata: metadata ?? {},
      buffers: buffers ?? [],
    });
  }

  async commClose(commId: string, data: Record<string, unknown>): Promise<void> {
    if (this.disposed || !this.comms.has(commId)) return;
    this.comms.delete(commId);
    await this.request({ t: "comm_close", req: ++this.reqSeq, commId, data: data ?? {} });
  }

  async commInfo(targetName?: string): Promise<Record<string, { target_name: string }>> {
    const out: Record<string, { target_name: string }> = {};
    for (const [id, target] of this.comms)
      if (targetName === undefined || targetName === target) out[id] = { target_name: target };
    return out;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return this.exited;
    this.disposed = true;
    const worker = this.worker;
    const exited = this.exited;
    this.post({ t: "dispose" });
    const timer = setTimeout(() => void worker.terminate(), this.current ? 200 : 2000);
    await exited;
    clearTimeout(timer);
    this.current?.resolve(gone("the executor was shut down while the cell ran"));
  }
}

function gone(text: string): ExecuteOutcome {
  return {
    status: "error",
    ename: "ExecutorGone",
    evalue: text,
    traceback: [`ExecutorGone: ${text}`],
  };
}

/** Starts the worker and resolves once it has warmed up (transpiler compiled, inspector attached). */
export async function createExecutor(opts: ExecutorOptions): Promise<Executor> {
  if (!opts || typeof opts.cwd !== "string" || !opts.cwd)
    throw new TypeError("createExecutor needs { cwd: string } (the notebook's folder)");
  const ex = new WorkerExecutor({ ...opts, cwd: path.resolve(opts.cwd) });
  await (ex as unknown as { ready: Promise<void> }).ready;
  return ex;
}
