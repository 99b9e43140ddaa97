/** Figures that display themselves in every front end (lib/viz). */
export { Figure, checkSpec } from "./figure.js";
export type { BundleOptions, FigureSpec, MimeBundle, PlotlyLayout, PlotlyTrace } from "./figure.js";
export { renderSvg, escapeXml, type SvgOptions } from "./svg/render.js";
export { plotlyScript, plotlySent, resetPlotlySession } from "./plotly.js";
export { Dashboard, dashboardFigure, type DashboardOptions } from "./dashboard.js";
export { compareRuns, type CompareOptions } from "./compare.js";
export { ModelSummary, modelSummary } from "./summary.js";
export {
  fp8CodeGrid,
  fp8ErrorFigure,
  fp8ErrorStats,
  type Fp8ErrorOptions,
  type Fp8ErrorStats,
} from "./fp8.js";

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
