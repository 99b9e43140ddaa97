/**
 * Contracts between the parts of the kernel, so that each is built and tested on its own:
 *
 *   kernel/protocol (main thread)  --uses-->  Executor  (kernel/executor: user code in a worker)
 *                                  --uses-->  Language  (kernel/language: TypeScript services in a worker)
 *
 * The protocol side owns sockets, signing, busy/idle, history and message routing; it never
 * runs user code. The executor owns the worker thread in which cells run, the cell transformer,
 * display, comms on the kernel side, input() and interrupts. The language side owns completion,
 * inspection, is_complete and type checking. Changing a signature here means changing all sides.
 */

/** A MIME bundle: MIME type -> data (string, or a JSON object for JSON-based types). */
export type MimeBundle = Record<string, unknown>;

/** Output a running (or finished) cell produced, in the order produced. */
export type ExecutorEvent =
  | { type: "stream"; name: "stdout" | "stderr"; text: string }
  | {
      type: "display_data" | "update_display_data";
      data: MimeBundle;
      metadata: Record<string, unknown>;
      /** display_id when given; always present (possibly {}) as nbclient needs it. */
      transient: { display_id?: string };
    }
  | { type: "clear_output"; wait: boolean }
  /** typecheck({ strict }) in a cell: the checking settings for the cells checked after it. */
  | { type: "typecheck"; strict: boolean }
  /** Kernel-side comm traffic towards the frontend (comm_open / comm_msg / comm_close). */
  | {
      type: "comm_open" | "comm_msg" | "comm_close";
      comm_id: string;
      target_name?: string;
      data: Record<string, unknown>;
      metadata: Record<string, unknown>;
      buffers: Uint8Array[];
    };

/** How a cell ended. `result` is the last expression's bundle (absent when undefined/silent). */
export type ExecuteOutcome =
  | {
      status: "ok";
      result?: { data: MimeBundle; metadata: Record<string, unknown> };
      /** execute_reply payloads, e.g. { source: "page", data, start: 0 } from page(value). */
      payload?: Record<string, unknown>[];
    }
  | { status: "error"; ename: string; evalue: string; traceback: string[] }
  | { status: "interrupted"; ename: string; evalue: string; traceback: string[] };

export interface ExecuteOptions {
  /** The value to show as In[n]; the executor may expose it to cells. */
  executionCount: number;
  silent: boolean;
  /** False when the request's allow_stdin is false: input() must then throw a clear error. */
  allowStdin: boolean;
  /**
   * Receives every output of this cell while it runs. Outputs that arrive after the cell
   * finished (timers, promises it left behind) go to Executor.onBackgroundEvent instead.
   */
  onEvent(event: ExecutorEvent): void;
  /** Asks the frontend for a line of input (stdin channel); resolves with input_reply.value. */
  requestInput(prompt: string, password: boolean): Promise<string>;
}

export interface Executor {
  /** Runs one cell. Never rejects: failures come back as an outcome. */
  execute(code: string, options: ExecuteOptions): Promise<ExecuteOutcome>;
  /**
   * Stops the running cell (busy loop, pending await or native call) within a second; the
   * cell's outcome is then { status: "interrupted" } and every variable defined so far survives.
   * A no-op when idle.
   */
  interrupt(): Promise<void>;
  /**
   * Output and uncaught errors (as stderr stream events) produced while no cell is running,
   * e.g. a timer a finished cell left behind.
   */
  onBackgroundEvent(listener: (event: ExecutorEvent) => void): void;
  /** Frontend-to-kernel comm traffic. commOpen resolves false when the target is unknown. */
  commOpen(
    commId: string,
    targetName: string,
    data: Record<string, unknown>,
    metadata: Record<string, unknown>,
    buffers: Uint8Array[],
  ): Promise<boolean>;
  commMsg(
    commId: string,
    data: Record<string, unknown>,
    metadata: Record<string, unknown>,
    buffers: Uint8Array[],
  ): Promise<void>;
  commClose(commId: string, data: Record<string, unknown>): Promise<void>;
  /** Open comms, optionally filtered by target: comm_id -> { target_name }. */
  commInfo(targetName?: string): Promise<Record<string, { target_name: string }>>;
  /** Ends the worker (closing what cells opened). */
  dispose(): Promise<void>;
}

export interface CompleteResult {
  matches: string[];
  /** Unicode code point offsets into the code (the protocol's unit since 5.2). */
  cursor_start: number;
  cursor_end: number;
  metadata: Record<string, unknown>;
}

export interface InspectResult {
  found: boolean;
  data: MimeBundle;
  metadata: Record<string, unknown>;
}

export interface IsCompleteResult {
  status: "complete" | "incomplete" | "invalid" | "unknown";
  indent?: string;
}

export interface Diagnostic {
  /** 1-based line and column in the cell's own source. */
  line: number;
  column: number;
  code: number;
  message: string;
  category: "error" | "warning";
}

export interface Language {
  /** cursorPos is in Unicode code points. */
  complete(code: string, cursorPos: number): Promise<CompleteResult>;
  inspect(code: string, cursorPos: number, detailLevel: 0 | 1): Promise<InspectResult>;
  isComplete(code: string): Promise<IsCompleteResult>;
  /**
   * Type-checks a cell against the declarations of the cells recorded so far. Runs off the
   * critical path: execution never waits for it.
   */
  check(code: string): Promise<Diagnostic[]>;
  /** Records a cell that ran, so later completions and checks know its declarations. */
  record(code: string): void;
  /** Strict checking (noImplicitAny and the rest) on or off for the cells checked from now on. */
  configure?(settings: { strict: boolean }): Promise<{ strict: boolean }>;
  dispose(): Promise<void>;
}
