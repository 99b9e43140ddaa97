/**
 * The protocol side of the kernel: answers every request of messaging protocol 5.3+, keeps
 * busy/idle, execution counts and history, routes outputs, comms and stdin. It never runs user
 * code: cells go to an Executor (a worker) and language questions to a Language service, so the
 * control channel and the heartbeat stay responsive while a cell runs.
 */
import { randomUUID } from "node:crypto";
import type {
  Diagnostic,
  ExecuteOutcome,
  Executor,
  ExecutorEvent,
  Language,
} from "../contracts.js";
import { OutgoingMessage, WireError, makeHeader } from "../wire/framing.js";
import {
  Channel,
  CommInfoRequest,
  CompleteRequest,
  ErrorReply,
  ExecuteReply,
  ExecuteRequest,
  Header,
  HistoryRequest,
  InspectRequest,
  IopubContent,
  IopubType,
  IsCompleteReply,
  IsCompleteRequest,
  KernelInfoReply,
  Message,
  ParentHeader,
  ReplyContent,
  ReplyType,
  ShutdownRequest,
  Stream,
} from "../wire/messages.js";
import { HistoryStore } from "./history.js";
import { kernelInfoReply } from "./kernel-info.js";
import { Stdin } from "./stdin.js";
import { StreamBatcher } from "./stream.js";
import type { ConnectionInfo, RequestChannel } from "./transport.js";
import { BadRequest, dict, int, str } from "./validate.js";

/** Where the kernel's messages go (the Transport, or a fake in tests). */
export interface Outbox {
  send(channel: Channel, msg: OutgoingMessage, onError?: (e: Error) => void): void;
  drain(): Promise<void>;
}

export interface KernelParts {
  outbox: Outbox;
  history: HistoryStore;
  /** Creates the executor (again on restart). */
  createExecutor(): Promise<Executor>;
  /** Creates the language service (again on restart); may throw. */
  createLanguage(): Language;
  /** Bound on one complete/inspect/is_complete answer; default 20 s. */
  languageTimeoutMs?: number;
  /** Called after shutdown_reply was sent. */
  onShutdown(restart: boolean): void;
  /** The bound connection, for connect_reply. */
  connection(): ConnectionInfo;
  implementationVersion: string;
  typescriptVersion: string;
  log(line: string): void;
}

const NO_PARENT: Record<string, never> = {};
/** Longest an interrupt_reply waits for Executor.interrupt() (the executor promises under 1 s). */
const INTERRUPT_REPLY_WAIT_MS = 2000;
/** Default bound on complete/inspect/is_complete (the first TypeScript program takes ~1 s). */
const LANGUAGE_TIMEOUT_MS = 20000;

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * A cell's type-check diagnostics as the text of a stderr stream. They are warnings: the cell ran
 * regardless (what stops a cell, a syntax error, comes back as the cell's own error).
 */
export function formatDiagnostics(diagnostics: Diagnostic[]): string {
  return diagnostics
    .map((d) => `warning TS${d.code} (line ${d.line}, column ${d.column}): ${d.message}\n`)
    .join("");
}

/** Longest a finished cell's reply waits for its type check (the check normally takes < 1 s). */
const CHECK_WAIT_MS = 10_000;

export class Kernel {
  /** The kernel's own session id: in every header it sends; new on every restart. */
  session = randomUUID();
  /** Counts executions that store history; In[n]. */
  executionCount = 0;
  private readonly kernelId = randomUUID();
  private executor: Promise<Executor | null>;
  /** The executor once started (null: failed), undefined while starting: spares the hot path an await. */
  private executorNow: Executor | null | undefined = undefined;
  /** Why the executor failed to start, for error replies. */
  private executorError = "";
  /** Resolves with an outcome when the current executor is disposed (a cell must not hang). */
  private executorGone!: Promise<ExecuteOutcome>;
  private markExecutorGone!: (reason: string) => void;
  private language: Language | null = null;
  private shellQueue: { channel: RequestChannel; msg: Message }[] = [];
  private shellRunning = false;
  private controlQueue: Message[] = [];
  private controlRunning = false;
  /** Outputs with no running cell go to the newest non-silent execute (minrk's rule). */
  private lastExecuteParent: ParentHeader = NO_PARENT;
  /** While a comm message is handled, its outputs belong to it. */
  private commParent: Header | null = null;
  /** input_request / input_reply for the running cell. */
  private readonly stdin = new Stdin({
    send: (msg, onError) => this.parts.outbox.send("stdin", msg, onError),
    session: () => this.session,
    log: (line) => this.parts.log(line),
  });
  /** Stream text joined before it goes out on iopub; anything else published flushes it first. */
  private readonly streams = new StreamBatcher((content, parent) =>
    this.sendIopub("stream", content, parent),
  );
  private shuttingDown = false;
  private readonly kernelInfo: KernelInfoReply;
  private readonly languageTimeoutMs: number;

  constructor(private readonly parts: KernelParts) {
    this.executor = this.startExecutor();
    this.language = this.startLanguage();
    this.languageTimeoutMs = parts.languageTimeoutMs ?? LANGUAGE_TIMEOUT_MS;
    this.kernelInfo = kernelInfoReply(parts.implementationVersion, parts.typescriptVersion);
  }

  private startExecutor(): Promise<Executor | null> {
    this.executorGone = new Promise((resolve) => {
      this.markExecutorGone = (reason) =>
        resolve({ status: "error", ename: "KernelRestarted", evalue: reason, traceback: [] });
    });
    let created: Promise<Executor>;
    try {
      created = this.parts.createExecutor();
    } catch (e) {
      created = Promise.reject(e);
    }
    return created.then(
      (ex) => {
        ex.onBackgroundEvent((ev) => this.publishEvent(ev, this.backgroundParent()));
        this.executorNow = ex;
        return ex;
      },
      (e: unknown) => {
        this.parts.log(
          `the executor failed to start: ${e instanceof Error ? (e.stack ?? e.message) : e}`,
        );
        this.executorError = errorText(e);
        this.executorNow = null;
        return null;
      },
    );
  }

  private startLanguage(): Language | null {
    try {
      return this.parts.createLanguage();
    } catch (e) {
      this.parts.log(`the language service failed to start: ${errorText(e)}`);
      return null;
    }
  }

  /** Publishes `starting` (once per start). */
  announce(): void {
    this.publish("status", { execution_state: "starting" }, NO_PARENT);
  }

  // ---- entry points from the transport ----

  /** A verified message arrived on shell, control or stdin. */
  receive(channel: RequestChannel, msg: Message): void {
    if (channel === "stdin") return this.stdin.receive(msg);
    if (channel === "control") {
      this.controlQueue.push(msg);
      if (!this.controlRunning) void this.runControl();
      return;
    }
    this.shellQueue.push({ channel, msg });
    if (!this.shellRunning) void this.runShell();
  }

  /** A signed message whose content could not be decoded: answer requests with an error. */
  receiveBad(channel: RequestChannel, error: WireError): void {
    const header = error.header;
    if (!header || channel === "stdin") return;
    const req = { identities: error.identities, header } as Message;
    this.publishStatus("busy", header);
    if (header.msg_type.endsWith("_request")) {
      this.replyError(channel, req, "MalformedMessage", error.message);
    }
    this.publishStatus("idle", header);
  }

  /** A peer subscribed to iopub: greet it (protocol 5.5 iopub_welcome). */
  welcome(topic: string): void {
    this.publish("iopub_welcome", { subscription: topic }, NO_PARENT);
  }

  /** SIGINT: interrupt the running cell, as interrupt_request does. */
  interruptFromSignal(): void {
    void this.interrupt().catch((e) => this.parts.log(`interrupt failed: ${errorText(e)}`));
  }

  // ---- queues: shell is served one request at a time, control separately ----

  private async runShell(): Promise<void> {
    this.shellRunning = true;
    try {
      while (this.shellQueue.length > 0) {
        const { channel, msg } = this.shellQueue.shift() as {
          channel: RequestChannel;
          msg: Message;
        };
        await this.serve(channel, msg);
      }
    } finally {
      this.shellRunning = false;
    }
  }

  private async runControl(): Promise<void> {
    this.controlRunning = true;
    try {
      while (this.controlQueue.length > 0)
        await this.serve("control", this.controlQueue.shift() as Message);
    } finally {
      this.controlRunning = false;
    }
  }

  /**
   * busy, the handler, idle; a handler failure becomes an error reply, never a crash, and
   * nothing a message holds (a header that cannot be echoed back, say) stops its channel.
   */
  private async serve(channel: RequestChannel, msg: Message): Promise<void> {
    const type = msg.header.msg_type;
    const guard = (what: string, f: () => void): void => {
      try {
        f();
      } catch (e) {
        this.parts.log(`${type}: could not send ${what}: ${errorText(e)}`);
      }
    };
    guard("busy", () => this.publishStatus("busy", msg.header));
    try {
      await this.dispatch(channel, msg);
    } catch (e) {
      const isRequest = type.endsWith("_request");
      if (!(e instanceof BadRequest)) {
        this.parts.log(`${type} failed: ${e instanceof Error ? (e.stack ?? e.message) : e}`);
      } else if (!isRequest) this.parts.log(`dropped ${errorText(e)}`);
      if (isRequest)
        guard("its error reply", () =>
          this.replyError(
            channel,
            msg,
            e instanceof BadRequest ? "BadRequest" : "KernelError",
            errorText(e),
          ),
        );
    }
    guard("idle", () => this.publishStatus("idle", msg.header));
  }

  private async dispatch(channel: RequestChannel, msg: Message): Promise<void> {
    const type = msg.header.msg_type;
    const c = msg.content;
    if (channel === "control") {
      switch (type) {
        case "kernel_info_request":
          return this.reply(channel, msg, "kernel_info_reply", this.kernelInfo);
        case "interrupt_request": {
          // The reply waits for the cell to stop, but never so long that control looks dead.
          let timer: NodeJS.Timeout | undefined;
          const late = new Promise<boolean>(
            (r) => (timer = setTimeout(() => r(true), INTERRUPT_REPLY_WAIT_MS)),
          );
          const slow = await Promise.race([this.interrupt().then(() => false), late]);
          clearTimeout(timer);
          if (slow)
            this.parts.log(
              `the executor had not stopped the cell ${INTERRUPT_REPLY_WAIT_MS} ms after the interrupt`,
            );
          return this.reply(channel, msg, "interrupt_reply", { status: "ok" });
        }
        case "shutdown_request":
          return this.shutdown(channel, msg);
        case "execute_request":
          // Cells run on shell, in order; control must stay free to interrupt them.
          throw new BadRequest("execute_request belongs on the shell channel");
        default:
          // Control serves every other shell request too (as the spec says, and ipykernel does).
          break;
      }
    }
    switch (type) {
      case "execute_request":
        return this.execute(msg);
      case "kernel_info_request":
        return this.reply(channel, msg, "kernel_info_reply", this.kernelInfo);
      case "inspect_request": {
        const r = c as unknown as InspectRequest;
        const code = str(c, "code", type);
        const pos = int(c, "cursor_pos", type);
        const res = await this.ask("inspect", (l) =>
          l.inspect(code, pos, r.detail_level === 1 ? 1 : 0),
        );
        return this.reply(channel, msg, "inspect_reply", {
          status: "ok",
          found: res.found,
          data: res.data,
          metadata: res.metadata,
        });
      }
      case "complete_request": {
        const r = c as unknown as CompleteRequest;
        const code = str(c, "code", type);
        const pos =
          r.cursor_pos === undefined || r.cursor_pos === null
            ? [...code].length
            : int(c, "cursor_pos", type);
        const res = await this.ask("complete", (l) => l.complete(code, pos));
        return this.reply(channel, msg, "complete_reply", {
          status: "ok",
          matches: res.matches,
          cursor_start: res.cursor_start,
          cursor_end: res.cursor_end,
          metadata: res.metadata,
        });
      }
      case "is_complete_request": {
        const code = str(c as unknown as IsCompleteRequest & Record<string, unknown>, "code", type);
        const res = await this.ask("is_complete", (l) => l.isComplete(code));
        const content: IsCompleteReply =
          res.status === "incomplete"
            ? { status: res.status, indent: res.indent ?? "" }
            : { status: res.status };
        return this.reply(channel, msg, "is_complete_reply", content);
      }
      case "history_request": {
        let history;
        try {
          history = this.parts.history.query(c as HistoryRequest);
        } catch (e) {
          throw new BadRequest(errorText(e));
        }
        return this.reply(channel, msg, "history_reply", { status: "ok", history });
      }
      case "comm_info_request": {
        const target = (c as CommInfoRequest).target_name;
        const ex = await this.needExecutor();
        const comms = await ex.commInfo(
          typeof target === "string" && target !== "" ? target : undefined,
        );
        return this.reply(channel, msg, "comm_info_reply", { status: "ok", comms });
      }
      case "comm_open":
      case "comm_msg":
      case "comm_close":
        return this.comm(msg);
      case "connect_request": {
        const k = this.parts.connection();
        return this.reply(channel, msg, "connect_reply", {
          status: "ok",
          shell_port: k.shell_port,
          iopub_port: k.iopub_port,
          stdin_port: k.stdin_port,
          hb_port: k.hb_port,
          control_port: k.control_port,
        });
      }
      case "shutdown_request":
        // Deprecated on shell since 5.4, still honoured.
        return this.shutdown(channel, msg);
      default:
        return this.unknown(channel, msg);
    }
  }

  private unknown(channel: RequestChannel, msg: Message): void {
    const type = msg.header.msg_type;
    if (type.endsWith("_request")) {
      this.parts.log(`unknown request ${type} on ${channel}: answered with an error`);
      this.replyError(
        channel,
        msg,
        "UnknownMessageType",
        `moelab does not handle ${type} on the ${channel} channel`,
      );
    } else {
      this.parts.log(`dropped unknown message type ${JSON.stringify(type)} on ${channel}`);
    }
  }

  /** A language-service question, bounded in time so a stuck service cannot stall the shell queue. */
  private async ask<T>(what: string, fn: (l: Language) => Promise<T>): Promise<T> {
    if (!this.language) {
      throw new Error("the language service is not available (see the kernel log)");
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `the language service did not answer ${what} within ${this.languageTimeoutMs} ms`,
            ),
          ),
        this.languageTimeoutMs,
      );
    });
    try {
      return await Promise.race([fn(this.language), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async needExecutor(): Promise<Executor> {
    const ex = await this.executor;
    if (!ex) throw new Error(`the executor is not available: ${this.executorError}`);
    return ex;
  }

  // ---- execute ----

  private async execute(msg: Message): Promise<void> {
    const c = msg.content as ExecuteRequest & Record<string, unknown>;
    const code = str(c, "code", "execute_request");
    const silent = c.silent === true;
    const storeHistory = silent ? false : c.store_history !== false;
    const stopOnError = c.stop_on_error !== false;
    const allowStdin = c.allow_stdin !== false;
    const parent = msg.header;
    const lang = this.language;
    if (storeHistory) this.executionCount++;
    const count = this.executionCount;
    if (!silent) {
      this.publish("execute_input", { code, execution_count: count }, parent);
      this.lastExecuteParent = parent;
    }

    // Type checking runs beside the cell and never delays its start: the cell is dispatched
    // first. Its warnings are published before the reply and idle, so that every front end (and
    // nbclient, moelab run) keeps them with the cell.
    let checking: Promise<Diagnostic[] | null> | null = null;
    const startCheck = (): void => {
      if (checking || silent || !lang || code.trim() === "") return;
      checking = lang.check(code).then(
        (d) => d,
        (e: unknown) => {
          this.parts.log(`type check failed: ${errorText(e)}`);
          return null;
        },
      );
    };

    let ex = this.executorNow;
    if (ex === undefined) {
      // The executor is still starting (first cell, or after a restart): check meanwhile.
      startCheck();
      ex = await this.executor;
    }
    const running: Promise<ExecuteOutcome> = ex
      ? ex.execute(code, {
          executionCount: count,
          silent,
          allowStdin,
          onEvent: (ev) => this.publishEvent(ev, parent),
          requestInput: (prompt, password) => this.stdin.request(msg, prompt, password, allowStdin),
        })
      : Promise.resolve({
          status: "error",
          ename: "KernelError",
          evalue: `the executor is not available: ${this.executorError}`,
          traceback: [],
        });
    startCheck();
    const outcome = await Promise.race([running, this.executorGone]);
    this.stdin.cancel("the cell ended");
    if (checking) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<null>((resolve) => {
        timer = setTimeout(() => {
          this.parts.log(`the type check of cell ${count} took over ${CHECK_WAIT_MS} ms: skipped`);
          resolve(null);
        }, CHECK_WAIT_MS);
      });
      let diagnostics = await Promise.race([checking as Promise<Diagnostic[] | null>, late]);
      clearTimeout(timer);
      // A syntax error stopped the cell and is its error already: its TS1xxx twins are not repeated.
      if (diagnostics && outcome.status === "error" && outcome.ename === "SyntaxError")
        diagnostics = diagnostics.filter((d) => d.code >= 2000);
      if (diagnostics && diagnostics.length > 0)
        this.publishStream({ name: "stderr", text: formatDiagnostics(diagnostics) }, parent);
    }

    let output: string | null = null;
    if (outcome.status === "ok") {
      if (outcome.result && !silent) {
        const plain = outcome.result.data["text/plain"];
        if (typeof plain === "string") output = plain;
        this.publish(
          "execute_result",
          {
            execution_count: count,
            data: outcome.result.data,
            metadata: outcome.result.metadata,
            transient: {},
          },
          parent,
        );
      }
    } else {
      const { ename, evalue, traceback } = outcome;
      this.publish("error", { ename, evalue, traceback }, parent);
    }
    if (storeHistory) this.parts.history.add(count, code, output);
    if (
      lang &&
      lang === this.language &&
      !(outcome.status === "error" && outcome.ename === "SyntaxError")
    ) {
      try {
        lang.record(code);
      } catch (e) {
        this.parts.log(`language.record failed: ${errorText(e)}`);
      }
    }

    if (outcome.status === "ok") {
      const userExpressions = await this.userExpressions(ex ?? null, c, count);
      this.reply("shell", msg, "execute_reply", {
        status: "ok",
        execution_count: count,
        payload: outcome.payload ?? [],
        user_expressions: userExpressions,
      });
    } else {
      const { ename, evalue, traceback } = outcome;
      this.reply("shell", msg, "execute_reply", {
        status: "error",
        execution_count: count,
        ename,
        evalue,
        traceback,
      });
      // A silent execute (a frontend's own probe) never aborts the user's queued cells.
      if (stopOnError && !silent) this.abortQueuedExecutes();
    }
  }

  /**
   * user_expressions, as the messaging spec asks: each one evaluated after the cell ran (in its
   * namespace, without outputs or history), giving its MIME bundle or its error.
   */
  private async userExpressions(
    ex: Executor | null,
    c: Record<string, unknown>,
    count: number,
  ): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const [name, expr] of Object.entries(dict(c, "user_expressions"))) {
      if (typeof expr !== "string") {
        out[name] = {
          status: "error",
          ename: "TypeError",
          evalue: `user_expressions["${name}"] must be a string of code, got ${typeof expr}`,
          traceback: [],
        };
        continue;
      }
      if (!ex) {
        out[name] = {
          status: "error",
          ename: "KernelError",
          evalue: `the executor is not available: ${this.executorError}`,
          traceback: [],
        };
        continue;
      }
      // Parenthesised: `{ a: 1 }` is an object, not a block; a statement is a syntax error.
      let r: ExecuteOutcome;
      try {
        r = await ex.execute(`(${expr}\n)`, {
          executionCount: count,
          silent: false,
          allowStdin: false,
          onEvent: () => {},
          requestInput: () => Promise.reject(new Error("user_expressions cannot ask for input")),
        });
      } catch (e) {
        r = { status: "error", ename: "KernelError", evalue: errorText(e), traceback: [] };
      }
      out[name] =
        r.status === "ok"
          ? {
              status: "ok",
              data: r.result?.data ?? { "text/plain": "undefined" },
              metadata: r.result?.metadata ?? {},
            }
          : { status: "error", ename: r.ename, evalue: r.evalue, traceback: r.traceback };
    }
    return out;
  }

  /** stop_on_error: every execute already queued is answered as aborted, not run. */
  private abortQueuedExecutes(): void {
    const keep: typeof this.shellQueue = [];
    const aborted: Message[] = [];
    for (const item of this.shellQueue) {
      if (item.msg.header.msg_type === "execute_request") aborted.push(item.msg);
      else keep.push(item);
    }
    this.shellQueue = keep;
    for (const msg of aborted) {
      this.publishStatus("busy", msg.header);
      // Spec 5.1+: an aborted request gets an error reply ("aborted" status is deprecated).
      this.reply("shell", msg, "execute_reply", {
        status: "error",
        execution_count: this.executionCount,
        ename: "ExecutionAborted",
        evalue: "not run: an earlier cell failed (stop_on_error)",
        traceback: [],
      });
      this.publishStatus("idle", msg.header);
    }
  }

  private publishEvent(ev: ExecutorEvent, parent: ParentHeader): void {
    switch (ev.type) {
      case "stream":
        return this.publishStream({ name: ev.name, text: ev.text }, parent);
      case "display_data":
      case "update_display_data":
        return this.publish(
          ev.type,
          { data: ev.data, metadata: ev.metadata, transient: ev.transient ?? {} },
          parent,
        );
      case "clear_output":
        return this.publish("clear_output", { wait: ev.wait }, parent);
      case "typecheck": {
        const lang = this.language;
        if (!lang?.configure) {
          this.parts.log("typecheck(): the language service cannot change its settings");
          return;
        }
        lang.configure({ strict: ev.strict }).catch((e: unknown) => {
          this.parts.log(`typecheck(): ${errorText(e)}`);
        });
        return;
      }
      case "comm_open": {
        const content = { comm_id: ev.comm_id, data: ev.data, target_name: ev.target_name ?? "" };
        return this.publish("comm_open", content, parent, ev.metadata, ev.buffers);
      }
      case "comm_msg":
      case "comm_close":
        return this.publish(
          ev.type,
          { comm_id: ev.comm_id, data: ev.data },
          parent,
          ev.metadata,
          ev.buffers,
        );
      default:
        this.parts.log(
          `ignored an unknown executor event ${JSON.stringify((ev as { type: unknown }).type)}`,
        );
    }
  }

  private backgroundParent(): ParentHeader {
    return this.commParent ?? this.lastExecuteParent;
  }

  // ---- comms ----

  private async comm(msg: Message): Promise<void> {
    const type = msg.header.msg_type;
    const c = msg.content;
    const commId = str(c, "comm_id", type);
    const ex = await this.needExecutor();
    this.commParent = msg.header;
    try {
      if (type === "comm_open") {
        const target = str(c, "target_name", type);
        const ok = await ex.commOpen(commId, target, dict(c, "data"), msg.metadata, msg.buffers);
        if (!ok) {
          this.parts.log(
            `comm_open for unknown target ${JSON.stringify(target)}: closing comm ${commId}`,
          );
          this.publish("comm_close", { comm_id: commId, data: {} }, msg.header);
        }
      } else if (type === "comm_msg") {
        await ex.commMsg(commId, dict(c, "data"), msg.metadata, msg.buffers);
      } else {
        await ex.commClose(commId, dict(c, "data"));
      }
    } finally {
      this.commParent = null;
    }
  }

  // ---- interrupt, shutdown, restart ----

  private async interrupt(): Promise<void> {
    this.stdin.cancel("interrupted");
    const ex = await this.executor;
    if (ex) await ex.interrupt();
  }

  private async shutdown(channel: RequestChannel, msg: Message): Promise<void> {
    const restart = (msg.content as ShutdownRequest).restart === true;
    this.reply(channel, msg, "shutdown_reply", { status: "ok", restart });
    if (this.shuttingDown) return;
    if (!restart) this.shuttingDown = true;
    // After idle is queued: the reply and idle leave before the kernel goes.
    setImmediate(() => this.parts.onShutdown(restart));
  }

  /** Restarts in place: new session, counter from 1, fresh executor and language service. */
  async restart(): Promise<void> {
    const old = this.executor;
    const oldLanguage = this.language;
    this.markExecutorGone("the kernel restarted while the cell was running");
    this.executorNow = undefined;
    this.stdin.cancel("the kernel restarted");
    this.session = randomUUID();
    this.executionCount = 0;
    this.lastExecuteParent = NO_PARENT;
    this.parts.history.newSession();
    this.executor = old.then(async (ex) => {
      if (ex) await this.disposeQuietly("executor", () => ex.dispose());
      return this.startExecutor();
    });
    if (oldLanguage) await this.disposeQuietly("language service", () => oldLanguage.dispose());
    this.language = this.startLanguage();
    await this.executor;
    this.announce();
  }

  /** Ends the executor and language service (the transport is closed by the owner). */
  async dispose(): Promise<void> {
    this.shuttingDown = true;
    this.markExecutorGone("the kernel shut down while the cell was running");
    this.stdin.cancel("the kernel shut down");
    const ex = await this.executor;
    await Promise.all([
      ex ? this.disposeQuietly("executor", () => ex.dispose()) : undefined,
      this.language
        ? this.disposeQuietly("language service", () => (this.language as Language).dispose())
        : undefined,
      this.parts.history.flush(),
    ]);
  }

  private async disposeQuietly(what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      this.parts.log(`disposing the ${what} failed: ${errorText(e)}`);
    }
  }

  // ---- sending ----

  private reply<T extends ReplyType>(
    channel: RequestChannel,
    req: Message,
    type: T,
    content: ReplyContent<T>,
  ): void {
    this.sendReply(channel, req, type, content);
  }

  /** The error reply to any request, known or not: its type is the request's, with _reply. */
  private replyError(channel: RequestChannel, req: Message, ename: string, evalue: string): void {
    const type = req.header.msg_type.replace(/_request$/, "_reply");
    const error: ErrorReply = { status: "error", ename, evalue, traceback: [] };
    // execute_reply carries execution_count even on error.
    const content: ErrorReply | ExecuteReply =
      type === "execute_reply" ? { ...error, execution_count: this.executionCount } : error;
    this.sendReply(channel, req, type, content);
  }

  private sendReply(
    channel: RequestChannel,
    req: Message,
    type: string,
    content: ReplyContent<ReplyType> | ErrorReply,
  ): void {
    this.parts.outbox.send(channel, {
      identities: req.identities,
      header: makeHeader(type, this.session),
      parent_header: req.header,
      metadata: {},
      content,
    });
  }

  private publishStatus(state: "busy" | "idle", parent: Header): void {
    this.publish("status", { execution_state: state }, parent);
  }

  private publishStream(content: Stream, parent: ParentHeader): void {
    this.streams.write(content, parent);
  }

  /** Publishes on iopub after any pending stream text, so the order of outputs is kept. */
  private publish<T extends Exclude<IopubType, "stream">>(
    type: T,
    content: IopubContent<T>,
    parent: ParentHeader,
    metadata: Record<string, unknown> = {},
    buffers?: Uint8Array[],
  ): void {
    this.streams.flush();
    this.sendIopub(type, content, parent, metadata, buffers);
  }

  private sendIopub<T extends IopubType>(
    type: T,
    content: IopubContent<T>,
    parent: ParentHeader,
    metadata: Record<string, unknown> = {},
    buffers?: Uint8Array[],
  ): void {
    this.parts.outbox.send("iopub", {
      identities: [Buffer.from(`kernel.${this.kernelId}.${type}`)],
      header: makeHeader(type, this.session),
      parent_header: parent,
      metadata,
      content,
      buffers,
    });
  }
}
