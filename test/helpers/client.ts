/**
 * A small Jupyter client over zeromq for tests: connects to a kernel's five sockets, sends signed
 * requests, collects replies and iopub messages, answers input requests, checks the heartbeat.
 * It can also launch a kernel process, or start one in this process with fake parts.
 */
import { ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as zmq from "zeromq";
import { RunningKernel, StartKernelOptions, startKernel } from "../../kernel/main.js";
import type { ConnectionInfo } from "../../kernel/protocol/transport.js";
import { makeHeader, parseMessage, serializeMessage } from "../../kernel/wire/framing.js";
import { Header, Message } from "../../kernel/wire/messages.js";
import { Signer } from "../../kernel/wire/signing.js";

export type { ConnectionInfo } from "../../kernel/protocol/transport.js";
export type { Message } from "../../kernel/wire/messages.js";

export type ClientChannel = "shell" | "control" | "stdin";

export interface SendOptions {
  metadata?: Record<string, unknown>;
  buffers?: Buffer[];
  /** Override header fields (e.g. session). */
  header?: Partial<Header>;
}

export interface ExecuteOptions {
  silent?: boolean;
  store_history?: boolean;
  allow_stdin?: boolean;
  stop_on_error?: boolean;
  user_expressions?: Record<string, string>;
  timeoutMs?: number;
}

export interface RequestResult {
  reply: Message;
  /** iopub messages whose parent is the request, from busy to idle inclusive. */
  iopub: Message[];
}

/** Outputs of an execute, by kind. */
export function outputsOf(iopub: Message[], type: string): Message[] {
  return iopub.filter((m) => m.header.msg_type === type);
}

/** Concatenated text of one stream in the iopub messages. */
export function streamText(iopub: Message[], name: "stdout" | "stderr"): string {
  return iopub
    .filter((m) => m.header.msg_type === "stream" && m.content.name === name)
    .map((m) => m.content.text as string)
    .join("");
}

const DEFAULT_TIMEOUT = 10000;

export class KernelClient {
  readonly session = randomUUID();
  readonly signer: Signer;
  readonly shell: zmq.Dealer;
  readonly control: zmq.Dealer;
  readonly stdin: zmq.Dealer;
  readonly iopub = new zmq.Subscriber();
  readonly hb = new zmq.Request({ receiveTimeout: 2000, sendTimeout: 2000 });
  /** Every iopub message received, in order. */
  readonly iopubLog: Message[] = [];
  /** Every reply on shell/control, in order. */
  readonly replies: Message[] = [];
  /** Every input_request received on stdin. */
  readonly inputRequests: Message[] = [];
  /** Answers input_request: return the value to send, or undefined to stay silent. */
  onInput: ((req: Message) => string | undefined) | null = null;
  private waiters: (() => boolean)[] = [];
  private closed = false;
  private hbBusy = Promise.resolve();

  private constructor(readonly connection: ConnectionInfo) {
    this.signer = new Signer(connection.key, connection.signature_scheme);
    const id = Buffer.from(this.session);
    // Shell and stdin share an identity, so the kernel routes input_request to this stdin socket.
    this.shell = new zmq.Dealer({ routingId: id.toString(), linger: 0 });
    this.stdin = new zmq.Dealer({ routingId: id.toString(), linger: 0 });
    this.control = new zmq.Dealer({ linger: 0 });
    this.iopub.linger = 0;
    this.hb.linger = 0;
  }

  /** Connects to a kernel; with waitReady (default) also waits until iopub delivers. */
  static async connect(
    connection: ConnectionInfo,
    opts: { waitReady?: boolean; timeoutMs?: number } = {},
  ): Promise<KernelClient> {
    const c = new KernelClient(connection);
    const addr = (port: number): string =>
      connection.transport === "ipc"
        ? `ipc://${connection.ip}-${port}`
        : `tcp://${connection.ip}:${port}`;
    c.shell.connect(addr(connection.shell_port));
    c.control.connect(addr(connection.control_port));
    c.stdin.connect(addr(connection.stdin_port));
    c.iopub.connect(addr(connection.iopub_port));
    c.iopub.subscribe();
    c.hb.connect(addr(connection.hb_port));
    void c.loop(c.shell, "shell");
    void c.loop(c.control, "control");
    void c.loop(c.stdin, "stdin");
    void c.loop(c.iopub, "iopub");
    if (opts.waitReady !== false) await c.waitForReady(opts.timeoutMs ?? 20000);
    return c;
  }

  private async loop(socket: zmq.Dealer | zmq.Subscriber, channel: string): Promise<void> {
    while (!this.closed) {
      let frames: Buffer[];
      try {
        frames = await socket.receive();
      } catch {
        if (this.closed) return;
        continue;
      }
      let msg: Message;
      try {
        msg = parseMessage(frames, this.signer);
      } catch (e) {
        process.stderr.write(`[test client] bad message on ${channel}: ${(e as Error).message}\n`);
        continue;
      }
      if (channel === "iopub") this.iopubLog.push(msg);
      else if (channel === "stdin") {
        this.inputRequests.push(msg);
        const value = this.onInput?.(msg);
        if (value !== undefined)
          this.send("stdin", "input_reply", { value }, { parent: msg.header });
      } else this.replies.push(msg);
      this.wake();
    }
  }

  private wake(): void {
    this.waiters = this.waiters.filter((w) => !w());
  }

  /** Resolves when `check` returns a value other than undefined, rechecked on every message. */
  waitFor<T>(check: () => T | undefined, what: string, timeoutMs = DEFAULT_TIMEOUT): Promise<T> {
    return new Promise((resolve, reject) => {
      const first = check();
      if (first !== undefined) return resolve(first);
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const waiter = (): boolean => {
        const v = check();
        if (v === undefined) return false;
        clearTimeout(timer);
        resolve(v);
        return true;
      };
      this.waiters.push(waiter);
    });
  }

  /** Builds, signs and sends a message; returns its header. */
  send(
    channel: ClientChannel,
    msgType: string,
    content: Record<string, unknown>,
    opts: SendOptions & { parent?: Header } = {},
  ): Header {
    const header = { ...makeHeader(msgType, this.session, "test"), ...opts.header };
    const frames = serializeMessage(
      {
        identities: [],
        header,
        parent_header: opts.parent ?? {},
        metadata: opts.metadata ?? {},
        content,
        buffers: opts.buffers,
      },
      this.signer,
    );
    this.sendFrames(channel, frames);
    return header;
  }

  /** Sends raw frames (for malformed-input tests). */
  sendFrames(channel: ClientChannel, frames: Buffer[]): void {
    void this[channel].send(frames).catch((e: Error) => {
      if (!this.closed) process.stderr.write(`[test client] send failed: ${e.message}\n`);
    });
  }

  /** The reply (shell or control) to a request. */
  reply(msgId: string, timeoutMs = DEFAULT_TIMEOUT): Promise<Message> {
    return this.waitFor(
      () => this.replies.find((m) => (m.parent_header as Header).msg_id === msgId),
      `the reply to ${msgId}`,
      timeoutMs,
    );
  }

  /** iopub messages with this parent, up to its idle status. */
  iopubUntilIdle(msgId: string, timeoutMs = DEFAULT_TIMEOUT): Promise<Message[]> {
    return this.waitFor(
      () => {
        const mine = this.iopubFor(msgId);
        const idle = mine.findIndex(
          (m) => m.header.msg_type === "status" && m.content.execution_state === "idle",
        );
        return idle >= 0 ? mine.slice(0, idle + 1) : undefined;
      },
      `idle after ${msgId}`,
      timeoutMs,
    );
  }

  /** Every iopub message received so far whose parent is msgId. */
  iopubFor(msgId: string): Message[] {
    return this.iopubLog.filter((m) => (m.parent_header as Header).msg_id === msgId);
  }

  /** Sends a request and waits for its reply and its idle. */
  async request(
    channel: ClientChannel,
    msgType: string,
    content: Record<string, unknown>,
    opts: SendOptions & { timeoutMs?: number } = {},
  ): Promise<RequestResult> {
    const h = this.send(channel, msgType, content, opts);
    const [reply, iopub] = await Promise.all([
      this.reply(h.msg_id, opts.timeoutMs),
      this.iopubUntilIdle(h.msg_id, opts.timeoutMs),
    ]);
    return { reply, iopub };
  }

  /** Sends execute_request without waiting; returns its header. */
  sendExecute(code: string, opts: ExecuteOptions = {}): Header {
    return this.send("shell", "execute_request", {
      code,
      silent: opts.silent ?? false,
      store_history: opts.store_history ?? !(opts.silent ?? false),
      user_expressions: opts.user_expressions ?? {},
      allow_stdin: opts.allow_stdin ?? true,
      stop_on_error: opts.stop_on_error ?? true,
    });
  }

  /** Executes code and waits for the reply and idle. */
  async execute(code: string, opts: ExecuteOptions = {}): Promise<RequestResult> {
    const h = this.sendExecute(code, opts);
    const [reply, iopub] = await Promise.all([
      this.reply(h.msg_id, opts.timeoutMs),
      this.iopubUntilIdle(h.msg_id, opts.timeoutMs),
    ]);
    return { reply, iopub };
  }

  /** Sends a heartbeat ping; true when the same bytes come back in time. */
  heartbeat(timeoutMs = 2000): Promise<boolean> {
    const run = async (): Promise<boolean> => {
      const ping = Buffer.from(randomUUID());
      this.hb.receiveTimeout = timeoutMs;
      try {
        await this.hb.send(ping);
        const [pong] = await this.hb.receive();
        return pong.equals(ping);
      } catch {
        return false;
      }
    };
    const p = this.hbBusy.then(run);
    this.hbBusy = p.then(() => undefined);
    return p;
  }

  /** Sends kernel_info until its busy/idle shows on iopub (the subscription is live). */
  async waitForReady(timeoutMs = 20000): Promise<Message> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`kernel not ready after ${timeoutMs} ms`);
      const h = this.send("shell", "kernel_info_request", {});
      try {
        const reply = await this.reply(h.msg_id, left);
        await this.iopubUntilIdle(h.msg_id, Math.min(500, Math.max(1, deadline - Date.now())));
        return reply;
      } catch {
        // iopub not subscribed yet (slow joiner): ask again
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of [this.shell, this.control, this.stdin, this.iopub, this.hb]) {
      try {
        s.close();
      } catch {
        // already closed
      }
    }
  }
}

/** Five free TCP ports on loopback. */
export async function freePorts(n = 5): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<import("node:net").Server>((resolve, reject) => {
          const s = createServer();
          s.on("error", reject);
          s.listen(0, "127.0.0.1", () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as import("node:net").AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** Writes a connection file in a fresh temp folder; ports default to free ones. */
export async function writeConnectionFile(
  opts: { key?: string; ports?: number[]; dir?: string } = {},
): Promise<{ file: string; connection: ConnectionInfo }> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "moelab-kernel-"));
  const [shell, iopub, stdin, control, hb] = opts.ports ?? (await freePorts());
  const connection: ConnectionInfo = {
    transport: "tcp",
    ip: "127.0.0.1",
    shell_port: shell,
    iopub_port: iopub,
    stdin_port: stdin,
    control_port: control,
    hb_port: hb,
    key: opts.key ?? randomUUID(),
    signature_scheme: "hmac-sha256",
    kernel_name: "moelab",
  };
  const file = join(dir, "kernel.json");
  writeFileSync(file, JSON.stringify(connection, null, 1));
  return { file, connection };
}

export interface InProcessKernel {
  kernel: RunningKernel;
  client: KernelClient;
  file: string;
  /** Log lines the kernel wrote. */
  logs: string[];
  close(): Promise<void>;
}

/** Starts a kernel in this process (no exit on shutdown, restart in place) and connects. */
export async function startInProcessKernel(
  options: StartKernelOptions & { key?: string } = {},
): Promise<InProcessKernel> {
  const { file } = await writeConnectionFile({ key: options.key, ports: [0, 0, 0, 0, 0] });
  const logs: string[] = [];
  const kernel = await startKernel(file, {
    exitProcess: false,
    log: (line) => logs.push(line),
    dataDir: mkdtempSync(join(tmpdir(), "moelab-data-")),
    ...options,
  });
  const client = await KernelClient.connect(kernel.connection);
  return {
    kernel,
    client,
    file,
    logs,
    close: async () => {
      client.close();
      await kernel.shutdown();
    },
  };
}

export interface LaunchedKernel {
  client: KernelClient;
  connection: ConnectionInfo;
  file: string;
  process: ChildProcess;
  /** Everything the kernel wrote to stderr so far. */
  stderr(): string;
  /** Resolves with the exit code when the process ends. */
  exited: Promise<number | null>;
  /** Closes the client and kills the process if still running. */
  close(): Promise<void>;
}

/**
 * Launches a kernel process on a fresh connection file. `argv` is the command with
 * "{connection_file}" standing for the file (as in a kernelspec); default: moelab's bin.
 */
export async function launchKernel(
  opts: {
    argv?: string[];
    env?: NodeJS.ProcessEnv;
    cwd?: string;
    key?: string;
    file?: string;
    waitReady?: boolean;
  } = {},
): Promise<LaunchedKernel> {
  let file: string;
  let connection: ConnectionInfo;
  if (opts.file) {
    file = opts.file;
    connection = JSON.parse(readFileSync(file, "utf8")) as ConnectionInfo;
  } else {
    ({ file, connection } = await writeConnectionFile({ key: opts.key }));
  }
  const argv = (
    opts.argv ?? [
      process.execPath,
      join(__dirname, "..", "..", "..", "bin", "moelab.js"),
      "kernel",
      "--connection-file",
      "{connection_file}",
    ]
  ).map((a) => (a === "{connection_file}" ? file : a));
  const child = spawn(argv[0], argv.slice(1), {
    env: { ...process.env, ...opts.env },
    cwd: opts.cwd,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  child.stdout?.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  let client: KernelClient;
  try {
    client = await Promise.race([
      KernelClient.connect(connection, { waitReady: opts.waitReady }),
      exited.then((code) => {
        throw new Error(`the kernel exited with code ${code} before it was ready:\n${err}`);
      }),
    ]);
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  }
  return {
    client,
    connection,
    file,
    process: child,
    stderr: () => err,
    exited,
    close: async () => {
      client.close();
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await exited;
      }
    },
  };
}
