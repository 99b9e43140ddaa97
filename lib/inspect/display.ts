/**
 * How inspect's results draw themselves. lib/inspect sits below lib/viz and cannot import it, so
 * lib/viz registers a figure builder per result kind when it loads (lib/viz/index.ts does it once;
 * `import "moelab"` loads it). A result's Jupyter display is then its figure's bundle (Plotly JSON,
 * HTML, SVG and the summary); with no builder registered (lib/inspect imported alone) it is the
 * result's text.
 */

/** What a figure builder returns: anything with a Jupyter display (lib/viz's Figure). */
export type Displayable = object;

const builders = new Map<string, (result: unknown) => Displayable>();

/** Registers the figure builder of one result kind ("patching", "routing", "routingByLabel", ...). */
export function registerFigure<R>(kind: string, build: (result: R) => Displayable): void {
  builders.set(kind, build as (result: unknown) => Displayable);
}

/** The figure of a result, or null when no builder of its kind is registered. */
export function figureOf(kind: string, result: unknown): Displayable | null {
  const b = builders.get(kind);
  return b ? b(result) : null;
}

const DISPLAY = Symbol.for("Jupyter.display");

/** The MIME bundle of a result: its figure's when one is registered, else its text. */
export function displayBundle(
  kind: string,
  result: unknown,
  text: string,
): Record<string, unknown> {
  const fig = figureOf(kind, result);
  const fn = fig ? (fig as Record<symbol, unknown>)[DISPLAY] : undefined;
  if (typeof fn === "function") return (fn as () => Record<string, unknown>).call(fig);
  return { "text/plain": text };
}
