/**
 * Training (lib/train): the Trainer (DeepSeek-V3's pre-training recipe: AdamW, load balancing,
 * MTP loss, BF16/FP8, live progress, interrupt, checkpoints), and its parts: AdamW, gradient
 * clipping by global norm, learning-rate schedules over steps or a time budget, balancing.
 */
export { Trainer, NonFiniteError } from "./trainer.js";
export type { FitOptions, TrainerData, TrainerOptions } from "./trainer.js";
export { History } from "./history.js";
export type { EvalRecord, StepRecord } from "./history.js";
export { ProgressView, progressHtml, progressLine } from "./progress.js";
export type { ProgressState, TrainerView } from "./progress.js";
export { balanceLoss, countLoad, maxVio, topkOfScores, updateBias } from "./balance.js";
export type { BalanceMode } from "./balance.js";
export { RunCheckpointError, checkpointSteps, resolveCheckpoint } from "./checkpoint.js";
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
