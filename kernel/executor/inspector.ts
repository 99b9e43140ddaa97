/**
 * Stops JavaScript running in a worker from the main thread: one process-wide inspector session
 * attached to workers (NodeWorker domain) sends them `Runtime.terminateExecution`. V8 cancels the
 * termination once the running call has unwound, so the worker and its globals live on.
 */
import * as inspector from "node:inspector";

interface Pending {
  resolve(): void;
  reject(e: Error): void;
}

class WorkerInspector {
  private session: inspector.Session | null = null;
  private enabled: Promise<void> | null = null;
  /** The worker's threadId (as a string) -> inspector sessionId. */
  private sessions = new Map<string, string>();
  private waiters = new Map<string, (() => void)[]>();
  private pending = new Map<number, Pending>();
  private nextId = 1;

  private enable(): Promise<void> {
    if (this.enabled) return this.enabled;
    const session = new inspector.Session();
    session.connect();
    this.session = session;
    session.on("NodeWorker.attachedToWorker", (m) => {
      const p = m.params as { sessionId: string; workerInfo: { title: string } };
      // The inspector's workerId is its own counter, not the threadId; the title carries that:
      // "[worker <threadId>]". Terminating the wrong worker (e.g. the language service's) would
      // corrupt its async stack and abort the process.
      const thread = /^\[worker (\d+)\]/.exec(p.workerInfo.title)?.[1];
      if (thread === undefined) return;
      this.sessions.set(thread, p.sessionId);
      for (const w of this.waiters.get(thread) ?? []) w();
      this.waiters.delete(thread);
    });
    session.on("NodeWorker.detachedFromWorker", (m) => {
      const sid = (m.params as { sessionId: string }).sessionId;
      for (const [wid, s] of this.sessions) if (s === sid) this.sessions.delete(wid);
    });
    session.on("NodeWorker.receivedMessageFromWorker", (m) => {
      let msg: { id?: number; error?: { message?: string } };
      try {
        msg = JSON.parse((m.params as { message: string }).message);
      } catch {
        return;
      }
      if (msg.id === undefined) return;
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error) p.reject(new Error(msg.error.message ?? "inspector error"));
      else p.resolve();
    });
    this.enabled = new Promise<void>((resolve, reject) => {
      session.post("NodeWorker.enable", { waitForDebuggerOnStart: false }, (err) =>
        err ? reject(err) : resolve(),
      );
    });
    return this.enabled;
  }

  /** Resolves once the worker with this threadId is attached (false after timeoutMs). */
  async attach(threadId: number, timeoutMs = 5000): Promise<boolean> {
    await this.enable();
    const id = String(threadId);
    if (this.sessions.has(id)) return true;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      timer.unref();
      const list = this.waiters.get(id) ?? [];
      list.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
      this.waiters.set(id, list);
    });
  }

  /** Terminates the JavaScript now running in the worker; resolves when it has unwound. */
  terminate(threadId: number): Promise<void> {
    const sessionId = this.sessions.get(String(threadId));
    if (!sessionId || !this.session)
      return Promise.reject(new Error("the worker is not attached to the inspector"));
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.session!.post(
        "NodeWorker.sendMessageToWorker",
        { sessionId, message: JSON.stringify({ id, method: "Runtime.terminateExecution" }) },
        (err) => {
          if (!err) return;
          this.pending.delete(id);
          reject(err);
        },
      );
    });
  }

  forget(threadId: number): void {
    this.sessions.delete(String(threadId));
  }
}

export const workerInspector = new WorkerInspector();
