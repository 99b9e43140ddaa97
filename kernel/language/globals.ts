/**
 * The ambient declarations of the globals the executor gives every cell, as the language
 * service sees them (a string, so that it is never part of the kernel's own compilation).
 * Keep in step with kernel/executor's cell globals.
 */
export const GLOBALS_DTS = `
/** A MIME bundle: MIME type -> data. */
type JupyterMimeBundle = Record<string, unknown>;

/** Anything that renders through Jupyter's display system, as the html, md and svg templates return. */
interface JupyterDisplayable {
  [key: symbol]: unknown;
}

interface JupyterDisplayOptions {
  /** Treat the value as a MIME bundle (MIME type -> data) instead of rendering it. */
  raw?: boolean;
  /** Give the output an id, so that later displays with update: true replace it. */
  displayId?: string;
  /** Replace the output displayed earlier with the same displayId (update_display_data). */
  update?: boolean;
}

/**
 * Shows a value as a display_data output of the current cell. Values with a
 * [Symbol.for("Jupyter.display")]() method render through it; others get a readable text/plain.
 */
declare function display(value: unknown, opts?: JupyterDisplayOptions): void;

/** An HTML output from a tagged template, e.g. html\`<b>\${x}</b>\`. */
declare function html(strings: TemplateStringsArray, ...values: unknown[]): JupyterDisplayable;

/** A Markdown output from a tagged template, e.g. md\`# Title\`. */
declare function md(strings: TemplateStringsArray, ...values: unknown[]): JupyterDisplayable;

/** An SVG output from a tagged template, e.g. svg\`<svg>...</svg>\`. */
declare function svg(strings: TemplateStringsArray, ...values: unknown[]): JupyterDisplayable;

/** Clears the cell's output; with wait = true, only when the next output arrives. */
declare function clear_output(wait?: boolean): void;

/** Asks the frontend for a line of input; { password: true } hides what is typed. */
declare function input(prompt?: string, opts?: { password?: boolean }): Promise<string>;

/** Kernel-side comms (Jupyter widgets and other frontend extensions). */
declare const comms: { [member: string]: any };
`;
