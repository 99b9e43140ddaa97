/**
 * lib/lab: the experiments of the training and post-training issues, shared by bench/train.ts,
 * bench/posttrain.ts and the teaching
 * notebooks (`import { lab } from "moelab"`), so a notebook runs the benchmark's experiment in
 * miniature instead of a copy of it. The top floor: it uses data, model, train and nothing above.
 */
export {
  BENCH_CONFIG,
  BENCH_OPTIMIZER,
  benchTrainerOptions,
  brownBytes,
  type BrownBytes,
} from "./setup.js";
export {
  LFB_TABLE2,
  balanceArms,
  balanceMetrics,
  runBalanceArm,
  type BalanceArm,
  type BalanceMetrics,
} from "./balance.js";
export {
  DISTILL_SFT,
  DISTILL_STUDENT,
  DISTILL_TEACHER,
  byteModel,
  logitArm,
  pretrainTeacher,
  sequenceArm,
  taskAccuracy,
  taskTeacher,
  textPairs,
  type DistillArm,
} from "./distill.js";
export { mean, std } from "./stats.js";
export { DEEPSEEK } from "./reference.js";
export {
  POST_MAX_NEW,
  additionSplits,
  coldStart,
  coldStartPairs,
  greedyAccuracy,
  grpoRun,
  postModel,
  rejectionRun,
  type AdditionSplits,
  type GrpoRun,
  type GrpoRunOptions,
  type RejectionRun,
  type RejectionRunOptions,
} from "./posttrain.js";
