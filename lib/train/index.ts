/**
 * Training (lib/train): the AdamW optimizer, gradient clipping by global norm, and learning-rate
 * schedules over steps or a time budget (`schedules.cosine({ lr, warmup, minRatio })`).
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
export { Schedule } from "./schedule.js";
export type { CosineOptions, WsdOptions } from "./schedule.js";
export * as schedules from "./schedule.js";
