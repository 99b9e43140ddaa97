/**
 * Comms on the kernel side (in the worker): targets that frontends open comms to, and comms the
 * kernel opens. Cells and the library reach it as `comms` or
 * `globalThis[Symbol.for("moelab.kernel")].comms`.
 */
import { randomUUID } from "node:crypto";
import type { ExecutorEvent } from "../contracts.js";

export interface CommMessage {
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
  buffers: Uint8Array[];
}

export interface Comm {
  readonly id: string;
  readonly targetName: string;
  readonly closed: boolean;
  send(
    data?: Record<string, unknown>,
    metadata?: Record<string, unknown>,
    buffers?: Uint8Array[],
  ): void;
  close(data?: Record<string, unknown>, metadata?: Record<string, unknown>): void;
  /** Called for each comm_msg from the frontend. */
  onMsg(handler: (msg: CommMessage) => void): void;
  /** Called once when either side closes the comm. */
  onClose(handler: (msg: CommMessage) => void): void;
}

export type TargetHandler = (comm: Comm, open: CommMessage) => void | Promise<void>;

export interface CommRegistry {
  registerTarget(name: string, handler: TargetHandler): void;
  unregisterTarget(name: string): void;
  open(
    targetName: string,
    data?: Record<string, unknown>,
    metadata?: Record<string, unknown>,
    buffers?: Uint8Array[],
  ): Comm;
  /** Open comms: id -> target name. */
  list(): Record<string, { target_name: string }>;
}

type Emit = (ev: ExecutorEvent) => void;
type Report = (what: string, e: unknown) => void;

function checkObject(v: unknown, what: string): Record<string, unknown> {
  if (v === undefined) return {};
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new TypeError(`${what} must be a plain object (JSON), got ${typeof v}`);
  return v as Record<string, unknown>;
}

function checkBuffers(v: unknown): Uint8Array[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((b) => ArrayBuffer.isView(b)))
    throw new TypeError("comm buffers must be an array of Uint8Array (or other typed arrays)");
  return v.map((b: ArrayBufferView) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
}

class CommImpl implements Comm {
  closed = false;
  private msgHandlers: ((m: CommMessage) => void)[] = [];
  private closeHandlers: ((m: CommMessage) => void)[] = [];
  constructor(
    readonly id: string,
    readonly targetName: string,
    private manager: CommManager,
  ) {}

  send(data?: Record<string, unknown>, metadata?: Record<string, unknown>, buffers?: Uint8Array[]) {
    if (this.closed) throw new Error(`comm ${this.id} (${this.targetName}) is closed`);
    this.manager.emit({
      type: "comm_msg",
      comm_id: this.id,
      data: checkObject(data, "comm data"),
      metadata: checkObject(metadata, "comm metadata"),
      buffers: checkBuffers(buffers),
    });
  }

  close(data?: Record<string, unknown>, metadata?: Record<string, unknown>) {
    if (this.closed) return;
    const msg = {
      data: checkObject(data, "comm data"),
      metadata: checkObject(metadata, "comm metadata"),
      buffers: [],
    };
    this.manager.emit({ type: "comm_close", comm_id: this.id, ...msg });
    this.closedBy(msg);
  }

  onMsg(handler: (msg: CommMessage) => void) {
    if (typeof handler !== "function") throw new TypeError("comm.onMsg needs a function");
    this.msgHandlers.push(handler);
  }

  onClose(handler: (msg: CommMessage) => void) {
    if (typeof handler !== "function") throw new TypeError("comm.onClose needs a function");
    this.closeHandlers.push(handler);
  }

  deliver(msg: CommMessage) {
    for (const h of this.msgHandlers)
      this.manager.call(h, msg, `comm ${this.targetName} message handler`);
  }

  closedBy(msg: CommMessage) {
    if (this.closed && !this.manager.comms.has(this.id)) return;
    this.closed = true;
    this.manager.comms.delete(this.id);
    for (const h of this.closeHandlers)
      this.manager.call(h, msg, `comm ${this.targetName} close handler`);
  }
}

export class CommManager implements CommRegistry {
  readonly comms = new Map<string, CommImpl>();
  private targets = new Map<string, TargetHandler>();

  constructor(
    readonly emit: Emit,
    private report: Report,
  ) {}

  call(h: (m: CommMessage) => unknown, msg: CommMessage, what: string) {
    try {
      const r = h(msg);
      if (r && typeof (r as Promise<unknown>).then === "function")
        (r as Promise<unknown>).then(undefined, (e) => this.report(what, e));
    } catch (e) {
      this.report(what, e);
    }
  }

  registerTarget(name: string, handler: TargetHandler) {
    if (typeof name !== "string" || !name)
      throw new TypeError("comm target name must be a non-empty string");
    if (typeof handler !== "function")
      throw new TypeError("comm target handler must be a function");
    this.targets.set(name, handler);
  }

  unregisterTarget(name: string) {
    this.targets.delete(name);
  }

  open(
    targetName: string,
    data?: Record<string, unknown>,
    metadata?: Record<string, unknown>,
    buffers?: Uint8Array[],
  ): Comm {
    if (typeof targetName !== "string" || !targetName)
      throw new TypeError("comms.open needs a target name (string)");
    const comm = new CommImpl(randomUUID(), targetName, this);
    this.emit({
      type: "comm_open",
      comm_id: comm.id,
      target_name: targetName,
      data: checkObject(data, "comm data"),
      metadata: checkObject(metadata, "comm metadata"),
      buffers: checkBuffers(buffers),
    });
    this.comms.set(comm.id, comm);
    return comm;
  }

  list(): Record<string, { target_name: string }> {
    const out: Record<string, { target_name: string }> = {};
    for (const [id, c] of this.comms) out[id] = { target_name: c.targetName };
    return out;
  }

  /** A frontend opened a comm: false when no target of that name is registered. */
  handleOpen(id: string, targetName: string, msg: CommMessage): boolean {
    const handler = this.targets.get(targetName);
    if (!handler) return false;
    const comm = new CommImpl(id, targetName, this);
    this.comms.set(id, comm);
    this.call((m) => handler(comm, m), msg, `comm target ${targetName}`);
    return true;
  }

  handleMsg(id: string, msg: CommMessage): boolean {
    const comm = this.comms.get(id);
    if (!comm) return false;
    comm.deliver(msg);
    return true;
  }

  handleClose(id: string, msg: CommMessage): boolean {
    const comm = this.comms.get(id);
    if (!comm) return false;
    comm.closedBy(msg);
    return true;
  }

  /** Kernel shutdown: closes every comm the kernel knows. */
  closeAll() {
    for (const c of [...this.comms.values()]) c.close();
  }
}
