/** Looking inside a model: interventions, activation patching, logit lens and attribution, routing statistics (lib/inspect). */
export {
  ablateExpert,
  ablateHead,
  excludeExpert,
  forceExpert,
  runWithInterventions,
  scaleGateBias,
  withInterventions,
} from "./interventions.js";
export type {
  AblateExpertOptions,
  AblateHeadOptions,
  ForceExpertOptions,
  Intervention,
  ScaleGateBiasOptions,
} from "./interventions.js";
export { PatchingResult, activationPatching, logitDiff } from "./patching.js";
export type { PatchGrid, PatchingOptions } from "./patching.js";
export { displayBundle, figureOf, registerFigure } from "./display.js";
export type { Displayable } from "./display.js";
export {
  Attribution,
  LogitLens,
  ResidualDecomposition,
  decomposeResidual,
  logitAttribution,
  logitLens,
} from "./lens.js";
export type { AttributionOptions } from "./lens.js";
export {
  Routing,
  RoutingByLabel,
  corpusWindows,
  mutualInformation,
  routingBy,
  routingStats,
} from "./routing.js";
export type { LayerRouting, RoutingOptions, TokenStream } from "./routing.js";
export {
  AttentionPatterns,
  LatentKVView,
  RouterTrace,
  attentionPatterns,
  latentKV,
  principalDirections,
  routerTrace,
} from "./trace.js";
export type { LatentLayer, RouterTraceLayer } from "./trace.js";
export { tokenLabel } from "./common.js";
