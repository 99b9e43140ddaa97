/** Figures that display themselves in every front end (lib/viz). */
export { Figure } from "./figure.js";
export type { FigureSpec, MimeBundle, PlotlyLayout, PlotlyTrace } from "./figure.js";
