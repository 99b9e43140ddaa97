/**
 * The kernel's five zeromq sockets: shell, control and stdin (ROUTER), iopub (XPUB, so it can
 * greet new subscribers with iopub_welcome) and heartbeat (REP, echo). Every incoming message is
 * verified and decoded here; every outgoing one is signed here and goes through a per-socket
 * queue, because zeromq.js allows only one pending send per socket.
 */
import * as zmq from "zeromq";
import { Channel, Message } from "../wire/messages.js";
import { OutgoingMessage, WireError, parseMessage, serializeMessage } from "../wire/framing.js";
import { ReplayGuard, Signer } from "../wire/signing.js";

/** The connection file's fields (https://jupyter-client.readthedocs.io, "connection files"). */
export interface ConnectionInfo {
  transport: "tcp" | "ipc";
  ip: string;
  shell_port: number;
  iopub_port: number;
  stdin_port: number;
  control_port: number;
  hb_port: number;
  key: string;
  signature_scheme: string;
  kernel_name?: string;
}

/** The channels the kernel receives on: all but iopub. */
export type RequestChannel = Exclude<Channel, "iopub">;

export interface TransportHandlers {
  /** A verified, decoded message arrived. Called synchronously from the receive loop. */
  onMessage(channel: RequestChannel, msg: Message): void;
  /** A message was rejected (already logged). */
  onBadMessage?(channel: RequestChannel, error: WireError): void;
  /** A peer subscribed to iopub with this topic (XPUB). */
  onSubscribe?(topic: string): void;
}

type Log = (line: string) => void;

/** Serializes sends on one socket: zeromq.js rejects a send while another is pending. */
class SendQueue {
  private queue: { frames: Buffer[]; onError?: (e: Error) => void }[] = [];
  private running = false;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly socket: zmq.Writable & zmq.Socket,
    private readonly name: string,
    private readonly log: Log,
  ) {}

  push(frames: Buffer[], onError?: (e: Error) => void): void {
    this.queue.push({ frames, onError });
    if (!this.running) void this.run();
  }

  /** Resolves once everything queued so far has been handed to zeromq. */
  drained(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private async run(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0) {
      const item = this.queue.shift() as { frames: Buffer[]; onError?: (e: Error) => void };
      if (this.socket.closed) continue;
      try {
        await this.socket.send(item.frames);
      } catch (e) {
        this.log(`send on ${this.name} failed: ${(e as Error).message}`);
        item.onError?.(e as Error);
      }
    }
    this.running = false;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

function address(conn: ConnectionInfo, port: number): string {
  if (conn.transport === "ipc") return `ipc://${conn.ip}-${port}`;
  return `tcp://${conn.ip}:${port === 0 ? "*" : port}`;
}

function boundPort(socket: zmq.Socket, fallback: number): number {
  const m = /:(\d+)$/.exec(socket.lastEndpoint ?? "");
  return m ? Number(m[1]) : fallback;
}

export class Transport {
  readonly shell = new zmq.Router();
  readonly control = new zmq.Router();
  readonly stdin = new zmq.Router({ mandatory: true });
  readonly iopub = new zmq.XPublisher();
  readonly heartbeat = new zmq.Reply();
  private readonly queues: Record<Channel, SendQueue>;
  private readonly replay = new ReplayGuard();
  private closing = false;
  /** The connection with the ports actually bound (differs from the file when a port was 0). */
  bound: ConnectionInfo;

  constructor(
    readonly connection: ConnectionInfo,
    readonly signer: Signer,
    private readonly log: Log,
  ) {
    this.bound = { ...connection };
    this.queues = {
      shell: new SendQueue(this.shell, "shell", log),
      control: new SendQueue(this.control, "control", log),
      stdin: new SendQueue(this.stdin, "stdin", log),
      iopub: new SendQueue(this.iopub, "iopub", log),
    };
    for (const s of this.sockets()) s.linger = 1000;
    // Every subscription, even a duplicate topic from a second client, earns a welcome.
    this.iopub.verbosity = "allSubs";
  }

  private sockets(): zmq.Socket[] {
    return [this.shell, this.control, this.stdin, this.iopub, this.heartbeat];
  }

  /** Binds all sockets and starts the receive loops. */
  async start(handlers: TransportHandlers): Promise<ConnectionInfo> {
    const c = this.connection;
    const binds: [zmq.Socket, keyof ConnectionInfo][] = [
      [this.shell, "shell_port"],
      [this.control, "control_port"],
      [this.stdin, "stdin_port"],
      [this.iopub, "iopub_port"],
      [this.heartbeat, "hb_port"],
    ];
    for (const [socket, field] of binds) {
      const port = c[field] as number;
      try {
        await socket.bind(address(c, port));
      } catch (e) {
        throw new Error(`cannot bind ${field} to ${address(c, port)}: ${(e as Error).message}`, {
          cause: e,
        });
      }
      (this.bound as unknown as Record<string, number>)[field] = boundPort(socket, port);
    }
    void this.receiveLoop("shell", this.shell, handlers);
    void this.receiveLoop("control", this.control, handlers);
    void this.receiveLoop("stdin", this.stdin, handlers);
    void this.subscriptionLoop(handlers);
    void this.heartbeatLoop();
    return this.bound;
  }

  /** Signs and queues a message on a channel (iopub: identities are the topic). */
  send(channel: Channel, msg: OutgoingMessage, onError?: (e: Error) => void): void {
    if (this.closing) return;
    this.queues[channel].push(serializeMessage(msg, this.signer), onError);
  }

  /** Resolves when every queued send has been handed to zeromq. */
  async drain(): Promise<void> {
    await Promise.all(Object.values(this.queues).map((q) => q.drained()));
  }

  /** Flushes the queues, then closes every socket. */
  async close(): Promise<void> {
    if (this.closing) return;
    await this.drain();
    this.closing = true;
    for (const s of this.sockets()) {
      try {
        s.close();
      } catch {
        // already closed
      }
    }
  }

  private async receiveLoop(
    channel: RequestChannel,
    socket: zmq.Router,
    handlers: TransportHandlers,
  ): Promise<void> {
    while (!socket.closed) {
      let frames: Buffer[];
      try {
        frames = await socket.receive();
      } catch (e) {
        if (socket.closed || this.closing) return;
        this.log(`receive on ${channel} failed: ${(e as Error).message}`);
        continue;
      }
      let msg: Message;
      try {
        msg = parseMessage(frames, this.signer, this.replay);
      } catch (e) {
        const err =
          e instanceof WireError
            ? e
            : new WireError(`undecodable message: ${(e as Error).message}`);
        const what = err.header ? ` (${err.header.msg_type} ${err.header.msg_id})` : "";
        this.log(`dropped a message on ${channel}${what}: ${err.message}`);
        try {
          handlers.onBadMessage?.(channel, err);
        } catch (e2) {
          this.log(`bad-message handler failed: ${(e2 as Error).stack ?? e2}`);
        }
        continue;
      }
      try {
        handlers.onMessage(channel, msg);
      } catch (e) {
        this.log(
          `handler for ${msg.header.msg_type} on ${channel} failed: ${(e as Error).stack ?? e}`,
        );
      }
    }
  }

  private async subscriptionLoop(handlers: TransportHandlers): Promise<void> {
    while (!this.iopub.closed) {
      let frames: Buffer[];
      try {
        frames = await this.iopub.receive();
      } catch (e) {
        if (this.iopub.closed || this.closing) return;
        this.log(`receive on iopub failed: ${(e as Error).message}`);
        continue;
      }
      const first = frames[0];
      // Byte 1 = subscribe, 0 = unsubscribe, followed by the topic.
      if (first && first.length > 0 && first[0] === 1) {
        try {
          handlers.onSubscribe?.(first.subarray(1).toString("utf8"));
        } catch (e) {
          this.log(`subscribe handler failed: ${(e as Error).message}`);
        }
      }
    }
  }

  private async heartbeatLoop(): Promise<void> {
    while (!this.heartbeat.closed) {
      try {
        const frames = await this.heartbeat.receive();
        await this.heartbeat.send(frames);
      } catch (e) {
        if (this.heartbeat.closed || this.closing) return;
        this.log(`heartbeat failed: ${(e as Error).message}`);
      }
    }
  }
}
