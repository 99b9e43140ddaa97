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
