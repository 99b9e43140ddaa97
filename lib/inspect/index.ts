/** Looking inside a model: interventions, activation patching, logit lens and attribution, routing statistics (lib/inspect). */
export {
  ablateExpert,
  ablateHead,
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
