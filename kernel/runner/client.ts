/**
 * A small Jupyter client over zeromq: enough to run notebooks (`moelab run`) and benchmarks.
 * It connects shell and control (DEALER), iopub (SUB) and stdin (DEALER) to a kernel's
 * connection file, signs what it sends and verifies what it receives (HMAC-SHA256 over the four
 * JSON frames, constant-time compare) with the kernel's wire layer, which is the protocol's and
 * nothing moelab-specific, so the client works against any kernel, ipykernel included.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type AddressInfo } from "node:net";
import * as zmq from "zeromq";
import { parseMessage, serializeMessage } from "../wire/framing.js";
import type { Header as WireHeader } from "../wire/messages.js";
import { Signer } from "../wire/signing.js";

/** The fields of a connection file (the kernel side binds, this client connects). */
export interface ConnectionInfo {
  transport: "tcp";
  ip: string;
  shell_port: number;
  iopub_port: number;
  stdin_port: number;
  control_port: number;
  hb_port: number;
  signature_scheme: "hmac-sha256";
  key: string;
  kernel_name?: string;
}

export interface Header {
  msg_id: string;
  session: string;
  username: string;
  date: string;
  msg_type: string;
  version: string;
}

/** A decoded message: the four JSON parts plus binary buffers. */
export interface Message {
  header: Header;
  parent_header: Partial<Header>;
  metadata: Record<string, unknown>;
  content: Record<string, unknown>;
  buffers: Buffer[];
}

export type Channel = "shell" | "control" | "stdin";

/** Finds `count` TCP ports that are free on `ip` right now (the kernel binds them next). */
export async function freePorts(count: number, ip = "127.0.0.1"): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const s = createServer();
          s.once("error", reject);
          s.listen(0, ip, () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

/** A fresh connection description with free loopback ports and a random key. */
export async function newConnectionInfo(ip = "127.0.0.1"): Promise<ConnectionInfo> {
  const [shell, iopub, stdin, control, hb] = await freePorts(5, ip);
  return {
    transport: "tcp",
    ip,
    shell_port: shell,
    iopub_port: iopub,
    stdin_port: stdin,
    control_port: control,
    hb_port: hb,
    signature_scheme: "hmac-sha256",
    key: randomBytes(32).toString("hex"),
  };
}

/** Encodes a message into wire frames (no identity prefix: DEALER adds none). */
export function encode(
  signer: Signer,
  msg: Omit<Message, "buffers"> & { buffers?: Buffer[] },
): Buffer[] {
  return serializeMessage(
    {
      identities: [],
      header: msg.header as WireHeader,
      parent_header: msg.parent_header as WireHeader,
      metadata: msg.metadata,
      content: msg.content,
      buffers: msg.buffers,
    },
    signer,
  );
}

/** Decodes wire frames; throws with a reason when the message is malformed or wrongly signed. */
export function decode(signer: Signer, frames: Buffer[]): Message {
  const m = parseMessage(frames, signer);
  return {
    header: m.header as Header,
    parent_header: m.parent_header as Partial<Header>,
    metadata: m.metadata,
    content: m.content,
    buffers: m.buffers,
  };
}

type Listener = (msg: Message) => void;

/** Serializes sends: zeromq.js allows one pending send per socket. */
class SendQueue {
  private tail: Promise<void> = Promise.resolve();
  constructor(private readonly socket: zmq.Dealer) {}
  send(frames: Buffer[]): Promise<void> {
    const next = this.tail.then(() => this.socket.send(frames));
    this.tail = next.catch(() => undefined);
    return next;
  }
}

export class KernelClient {
  readonly session = randomUUID();
  private readonly shell = new zmq.Dealer({ linger: 0 });
  private readonly control = new zmq.Dealer({ linger: 0 });
  private readonly stdin = new zmq.Dealer({ linger: 0 });
  private readonly iopub = new zmq.Subscriber({ linger: 0 });
  private readonly queues: Record<Channel, SendQueue>;
  private readonly waiting = new Map<string, (msg: Message) => void>();
  private readonly iopubListeners = new Set<Listener>();
  private readonly stdinListeners = new Set<Listener>();
  private closed = false;
  private readonly signer: Signer;
  /** Messages dropped because they were malformed or wrongly signed, with the reason. */
  readonly dropped: string[] = [];

  /** `reconnectIntervalMs` (zeromq's default is 100) matters when connecting before the kernel binds. */
  constructor(
    private readonly info: ConnectionInfo,
    options: { reconnectIntervalMs?: number } = {},
  ) {
    this.signer = new Signer(info.key, info.signature_scheme);
    const url = (port: number) => `${info.transport}://${info.ip}:${port}`;
    if (options.reconnectIntervalMs !== undefined) {
      for (const s of [this.shell, this.control, this.stdin, this.iopub]) {
        s.reconnectInterval = options.reconnectIntervalMs;
      }
    }
    this.shell.connect(url(info.shell_port));
    this.control.connect(url(info.control_port));
    this.stdin.connect(url(info.stdin_port));
    this.iopub.connect(url(info.iopub_port));
    this.iopub.subscribe();
    this.queues = {
      shell: new SendQueue(this.shell),
      control: new SendQueue(this.control),
      stdin: new SendQueue(this.stdin),
    };
    void this.pump(this.shell, (m) => this.resolveReply(m));
    void this.pump(this.control, (m) => this.resolveReply(m));
    void this.pump(this.stdin, (m) => this.stdinListeners.forEach((l) => l(m)));
    void this.pump(this.iopub, (m) => this.iopubListeners.forEach((l) => l(m)));
  }

  private async pump(socket: zmq.Dealer | zmq.Subscriber, deliver: Listener): Promise<void> {
    try {
      for await (const frames of socket) {
        let msg: Message;
        try {
          msg = decode(this.signer, frames);
        } catch (e) {
          this.dropped.push((e as Error).message);
          continue;
        }
        deliver(msg);
      }
    } catch (e) {
      // Closing the socket ends the loop; anything else is reported by the waiters' timeouts.
      if (!this.closed) this.dropped.push(`receive failed: ${(e as Error).message}`);
    }
  }

  private resolveReply(msg: Message): void {
    const id = msg.parent_header.msg_id;
    const waiter = id === undefined ? undefined : this.waiting.get(id);
    if (waiter) {
      this.waiting.delete(id as string);
      waiter(msg);
    }
  }

  /** Listens to every iopub message; returns a function that stops listening. */
  onIopub(listener: Listener): () => void {
    this.iopubListeners.add(listener);
    return () => this.iopubListeners.delete(listener);
  }

  /** Listens to input_request messages on stdin. */
  onStdin(listener: Listener): () => void {
    this.stdinListeners.add(listener);
    return () => this.stdinListeners.delete(listener);
  }

  newHeader(msgType: string): Header {
    return {
      msg_id: randomUUID(),
      session: this.session,
      username: "moelab",
      date: new Date().toISOString(),
      msg_type: msgType,
      version: "5.3",
    };
  }

  /** Sends a message; resolves with its msg_id once queued. */
  async send(
    channel: Channel,
    msgType: string,
    content: Record<string, unknown>,
    parent: Partial<Header> = {},
  ): Promise<string> {
    const header = this.newHeader(msgType);
    const frames = encode(this.signer, { header, parent_header: parent, metadata: {}, content });
    await this.queues[channel].send(frames);
    return header.msg_id;
  }

  /**
   * Sends a request and resolves with its reply (matched by parent msg_id). Rejects after
   * `timeoutMs` (no timeout when 0 or absent).
   */
  request(
    channel: "shell" | "control",
    msgType: string,
    content: Record<string, unknown>,
    timeoutMs = 0,
  ): { msgId: string; reply: Promise<Message> } {
    const header = this.newHeader(msgType);
    const reply = new Promise<Message>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      this.waiting.set(header.msg_id, (m) => {
        if (timer) clearTimeout(timer);
        resolve(m);
      });
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          this.waiting.delete(header.msg_id);
          reject(new Error(`no ${msgType.replace("_request", "_reply")} within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      const frames = encode(this.signer, { header, parent_header: {}, metadata: {}, content });
      this.queues[channel].send(frames).catch((e: Error) => {
        this.waiting.delete(header.msg_id);
        if (timer) clearTimeout(timer);
        reject(e);
      });
    });
    return { msgId: header.msg_id, reply };
  }

  /**
   * Executes code and resolves once both the execute_reply and the iopub idle status for this
   * request arrived. `onOutput` sees every other iopub message whose parent is this request.
   */
  execute(
    code: string,
    options: {
      silent?: boolean;
      storeHistory?: boolean;
      allowStdin?: boolean;
      stopOnError?: boolean;
      timeoutMs?: number;
      onOutput?: Listener;
    } = {},
  ): { msgId: string; done: Promise<Message> } {
    let idle!: () => void;
    const idleSeen = new Promise<void>((r) => (idle = r));
    // Set synchronously below, before any iopub message can be delivered (delivery is async).
    let id = "";
    const stop = this.onIopub((m) => {
      if (m.parent_header.msg_id !== id) return;
      if (m.header.msg_type === "status") {
        if (m.content.execution_state === "idle") idle();
        return;
      }
      options.onOutput?.(m);
    });
    const { msgId, reply } = this.request(
      "shell",
      "execute_request",
      {
        code,
        silent: options.silent ?? false,
        store_history: options.storeHistory ?? !(options.silent ?? false),
        user_expressions: {},
        allow_stdin: options.allowStdin ?? false,
        stop_on_error: options.stopOnError ?? true,
      },
      options.timeoutMs,
    );
    id = msgId;
    const done = (async () => {
      try {
        const r = await reply;
        await withTimeout(idleSeen, options.timeoutMs ?? 0, "no idle status after execute_reply");
        return r;
      } finally {
        stop();
      }
    })();
    return { msgId, done };
  }

  /** Closes every socket; pending requests are left to their timeouts. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of [this.shell, this.control, this.stdin, this.iopub]) s.close();
  }
}

/** Resolves like `p`, or rejects with `what` after `ms` (no limit when ms <= 0). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  if (ms <= 0) return p;
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} (after ${ms} ms)`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
