/** Messages between createLanguage's client (main thread) and the language worker. */
import type { CompleteResult, Diagnostic, InspectResult, IsCompleteResult } from "../contracts.js";
import type { PreludeState } from "./prelude.js";
import type { CheckSettings, ServiceStats } from "./service.js";

export interface WorkerOptions {
  cwd: string;
  moelabTypes?: string;
  strict: boolean;
  /** The prelude of the worker this one replaces. */
  prelude?: PreludeState;
  /** Milliseconds after start before the worker builds its first program unasked. */
  warmupDelayMs: number;
}

export type Request =
  | { op: "complete"; code: string; cursorPos: number }
  | { op: "inspect"; code: string; cursorPos: number; detailLevel: 0 | 1 }
  | { op: "isComplete"; code: string }
  | { op: "check"; code: string }
  | { op: "stats" }
  | { op: "configure"; strict: boolean }
  | { op: "snapshot" };

export interface Results {
  complete: CompleteResult;
  inspect: InspectResult;
  isComplete: IsCompleteResult;
  check: Diagnostic[];
  stats: ServiceStats;
  configure: CheckSettings;
  snapshot: PreludeState;
}

/** Main -> worker: a request awaiting a reply, or a recorded cell (no reply). */
export type ToWorker = { id: number; request: Request } | { record: string };

/** Worker -> main: the reply to request `id`; `result` is undefined when the request failed. */
export interface FromWorker {
  id: number;
  result?: Results[keyof Results];
}
