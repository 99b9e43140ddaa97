/** Messages between the executor (main thread) and its worker. */
import type { ExecuteOutcome, ExecutorEvent } from "../contracts.js";

export interface WorkerData {
  cwd: string;
  /** Int32Array view: [0] = 1 when an interrupt was requested. */
  interruptBuffer: SharedArrayBuffer;
}

export type ToWorker =
  | { t: "exec"; id: number; code: string; count: number; silent: boolean; allowStdin: boolean }
  | { t: "interrupt"; id: number }
  | { t: "input_reply"; req: number; value?: string; error?: string }
  | {
      t: "comm_open";
      req: number;
      commId: string;
      target: string;
      data: Record<string, unknown>;
      metadata: Record<string, unknown>;
      buffers: Uint8Array[];
    }
  | {
      t: "comm_msg";
      req: number;
      commId: string;
      data: Record<string, unknown>;
      metadata: Record<string, unknown>;
      buffers: Uint8Array[];
    }
  | { t: "comm_close"; req: number; commId: string; data: Record<string, unknown> }
  | { t: "ping"; req: number }
  | { t: "dispose" };

export type FromWorker =
  | { t: "ready" }
  | { t: "ev"; ev: ExecutorEvent }
  | { t: "done"; id: number; outcome: ExecuteOutcome }
  | { t: "input"; req: number; prompt: string; password: boolean }
  | { t: "reply"; req: number; value: unknown }
  | { t: "disposed" };
