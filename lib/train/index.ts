/**
 * Training (lib/train): the AdamW optimizer, gradient clipping by global norm.
 */
export { AdamW } from "./optim.js";
export type {
  AdamWOptions,
  AdamWScalars,
  AdamWState,
  AdamWStepOptions,
  MomentTensor,
  MomentsDType,
} from "./optim.js";
export { clipGradNorm, clipGradScale, gradNorm } from "./clip.js";
export type { Params } from "./clip.js";
