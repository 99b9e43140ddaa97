/** Figures that display themselves in every front end (lib/viz). */
export { Figure } from "./figure.js";
export type { FigureSpec, MimeBundle, PlotlyLayout, PlotlyTrace } from "./figure.js";

// Inspection figures (lib/inspect's results display through these: registered here once).
import { registerFigure } from "../inspect/index.js";
import { patchingFigure } from "./patching.js";
export { patchingFigure } from "./patching.js";
registerFigure("patching", patchingFigure);
