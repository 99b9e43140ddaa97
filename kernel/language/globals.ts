/**
 * The ambient declarations of the globals the executor gives every cell, as the language
 * service sees them (a string, so that it is never part of the kernel's own compilation).
 * Kept in step with kernel/executor (worker.ts globals, display.ts, comms.ts).
 */
export const GLOBALS_DTS = `
/** A MIME bundle: MIME type -> data (a string, or JSON for JSON-based types). */
type JupyterMimeBundle = Record<string, unknown>;

/**
 * Anything with a [Symbol.for("Jupyter.display")]() method returning a MIME bundle renders
 * through it, as the html, md and svg templates return.
 */
interface JupyterDisplayable {
  [key: symbol]: unknown;
}

interface JupyterDisplayOptions {
  /** The value is already a MIME bundle (MIME type -> data). */
  raw?: boolean;
  /** Names this output so that a later display(v, { displayId, update: true }) replaces it. */
  displayId?: string;
  /** Replace the output named by displayId instead of adding one (update_display_data). */
  update?: boolean;
  /** Metadata sent with the output. */
  metadata?: Record<string, unknown>;
}

/**
 * Shows a value as a display_data output of the running cell. Values with a
 * [Symbol.for("Jupyter.display")]() method render through it; others get a readable text/plain.
 */
declare function display(value: unknown, opts?: JupyterDisplayOptions): void;

/** An HTML output from a tagged template (or a string), e.g. html\`<b>\${x}</b>\`. */
declare function html(strings: TemplateStringsArray | string, ...values: unknown[]): JupyterDisplayable;

/** A Markdown output from a tagged template (or a string), e.g. md\`# Title\`. */
declare function md(strings: TemplateStringsArray | string, ...values: unknown[]): JupyterDisplayable;

/** An SVG output from a tagged template (or a string), e.g. svg\`<svg>...</svg>\`. */
declare function svg(strings: TemplateStringsArray | string, ...values: unknown[]): JupyterDisplayable;

/** Clears the cell's output; with wait = true, only when the next output arrives. */
declare function clear_output(wait?: boolean): void;

/**
 * Asks the frontend for a line of input; { password: true } hides what is typed. Rejects when
 * the request was sent with allow_stdin false.
 */
declare function input(prompt?: string, opts?: { password?: boolean }): Promise<string>;

/**
 * The kernel's type-check settings. typecheck({ strict: true }) turns on TypeScript's strict
 * rules (noImplicitAny and the rest) for the cells checked after this one; { strict: false }
 * goes back to the loose default. With no argument: the current settings. Diagnostics are
 * warnings either way: a cell runs whatever its types.
 */
declare function typecheck(options?: { strict: boolean }): { strict: boolean };

/** Shows a value in the frontend's pager (a payload of the execute reply). */
declare function page(value: unknown): void;

interface JupyterCommMessage {
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
  buffers: Uint8Array[];
}

interface JupyterComm {
  readonly id: string;
  readonly targetName: string;
  readonly closed: boolean;
  send(data?: Record<string, unknown>, metadata?: Record<string, unknown>, buffers?: Uint8Array[]): void;
  close(data?: Record<string, unknown>, metadata?: Record<string, unknown>): void;
  /** Called for each comm_msg from the frontend. */
  onMsg(handler: (msg: JupyterCommMessage) => void): void;
  /** Called once when either side closes the comm. */
  onClose(handler: (msg: JupyterCommMessage) => void): void;
}

/** Kernel-side comms (Jupyter widgets and other frontend extensions). */
declare const comms: {
  registerTarget(name: string, handler: (comm: JupyterComm, open: JupyterCommMessage) => void | Promise<void>): void;
  unregisterTarget(name: string): void;
  open(targetName: string, data?: Record<string, unknown>, metadata?: Record<string, unknown>, buffers?: Uint8Array[]): JupyterComm;
  /** Open comms: id -> target name. */
  list(): Record<string, { target_name: string }>;
};
`;
