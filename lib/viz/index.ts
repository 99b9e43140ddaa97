/** Figures that display themselves in every front end (lib/viz). */
export { Figure } from "./figure.js";
export type { FigureSpec, MimeBundle, PlotlyLayout, PlotlyTrace } from "./figure.js";

// Inspection figures. lib/inspect's results (patching, routing, router traces, attention, latent
// KV) display as these: registered here once, as inspect cannot import viz.
import { registerFigure } from "../inspect/index.js";
import { attentionFigure, latentFigure } from "./attention.js";
import { routingByLabelFigure } from "./labels.js";
import { expertLoadFigure } from "./load.js";
import { attributionFigure, logitLensFigure } from "./lens.js";
import { patchingFigure } from "./patching.js";
import { routerTraceFigure } from "./router.js";
export { attentionFigure, latentFigure } from "./attention.js";
export { kvCacheFigure, kvRow } from "./kv.js";
export type { KvRow } from "./kv.js";
export { routingByLabelFigure } from "./labels.js";
export { attributionFigure, logitLensFigure } from "./lens.js";
export {
  coActivationFigure,
  expertLoadFigure,
  loadHeatmapFigure,
  loadTrajectoryFigure,
} from "./load.js";
export { patchingFigure } from "./patching.js";
export { routerTraceFigure, topkMarks } from "./router.js";
registerFigure("patching", patchingFigure);
registerFigure("routing", expertLoadFigure);
registerFigure("routingByLabel", routingByLabelFigure);
registerFigure("routerTrace", routerTraceFigure);
registerFigure("attention", attentionFigure);
registerFigure("latent", latentFigure);
registerFigure("logitLens", logitLensFigure);
registerFigure("attribution", attributionFigure);
