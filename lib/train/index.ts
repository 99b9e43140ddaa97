/**
 * Training (lib/train): the Trainer (DeepSeek-V3's pre-training recipe: AdamW, load balancing,
 * MTP loss, BF16/FP8, live progress, interrupt, checkpoints), and its parts: AdamW, gradient
 * clipping by global norm, learning-rate schedules over steps or a time budget, balancing; and
 * post-training: SFT masked to the completion, logit and sequence-level distillation, GRPO with
 * rule-based rewards, rejection-sampling fine-tuning.
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
// Post-training: SFT, logit and sequence-level distillation, GRPO, rejection sampling.
export { interruptSource } from "./interrupt.js";
export type { InterruptSource } from "./interrupt.js";
export {
  PostHistory,
  PostProgressView,
  PostTrainer,
  frozenCopy,
  perRowMeanWeights,
  postHtml,
  postLine,
  tokenLogProbs,
} from "./post.js";
export type { PostFitOptions, PostOptions, PostRecord, PostState, PostView } from "./post.js";
export { encodePairs, packPairs, stopId } from "./sequences.js";
export type { Pair, PairBatch, TokenPair } from "./sequences.js";
export { sampleCompletions } from "./sampling.js";
export type { Sample, SampleOptions, SampleStats } from "./sampling.js";
export { SFTTrainer, completionLoss, distillLoss, sequenceDistill } from "./sft.js";
export type { SFTOptions, SFTRecord, SequenceDistillOptions } from "./sft.js";
export { GRPOTrainer, groupAdvantages, grpoLoss, k3, meanEntropy } from "./grpo.js";
export type { GRPOOptions, GRPORecord } from "./grpo.js";
export { RejectionSampler } from "./rejection.js";
export type { RejectionOptions, RejectionRound } from "./rejection.js";
