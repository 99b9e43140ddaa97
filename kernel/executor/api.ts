/**
 * What cells and the library find at `globalThis[Symbol.for("moelab.kernel")]` while running in
 * the kernel (absent elsewhere, e.g. in a plain `node` script). The library must not import
 * kernel internals: it copies this shape (or a part of it) and looks the object up by symbol.
 */
import type { MimeBundle } from "../contracts.js";
import type { CommRegistry } from "./comms.js";
import type { Displayable, DisplayOptions } from "./display.js";

export const KERNEL_SYMBOL = Symbol.for("moelab.kernel");
export const INTERRUPT_SYMBOL = Symbol.for("moelab.interrupt");

export interface KernelApi {
  /** API version, bumped on incompatible changes. */
  readonly version: 1;
  /** Shows a value now (display_data), or replaces the output named displayId (update: true). */
  display(value: unknown, options?: DisplayOptions): void;
  /** A fresh display id for display(v, { displayId }) followed by updates. */
  newDisplayId(): string;
  /** The MIME bundle the kernel would show for a value. */
  bundle(value: unknown): Promise<MimeBundle>;
  html(strings: TemplateStringsArray | string, ...values: unknown[]): Displayable;
  md(strings: TemplateStringsArray | string, ...values: unknown[]): Displayable;
  svg(strings: TemplateStringsArray | string, ...values: unknown[]): Displayable;
  clearOutput(wait?: boolean): void;
  /** Shows a value in the frontend's pager: a "page" payload on the cell's execute_reply. */
  page(value: unknown): void;
  /** Asks the frontend for a line of text (rejects when the request had allow_stdin false). */
  input(prompt?: string, options?: { password?: boolean }): Promise<string>;
  comms: CommRegistry;
  /** Shared flag: [0] is 1 while an interrupt is requested (reset when a cell starts). */
  readonly interruptFlag: Int32Array;
  /** Throws the Interrupted error when an interrupt was requested: call it in long loops. */
  checkInterrupt(): void;
  /**
   * Lets an interrupt wait up to `ms` (instead of about 200 ms) for the running cell to stop by
   * itself at a safe point, e.g. a training step boundary, before the kernel terminates its
   * JavaScript. Returns the release; a new cell starts with no hold.
   */
  holdInterrupt(ms: number): () => void;
  /** The execution count of the cell running now (or of the last one). */
  readonly executionCount: number;
  /** Runs fn when the kernel shuts down or restarts (close sockets, files). */
  onShutdown(fn: () => void | Promise<void>): void;
}
