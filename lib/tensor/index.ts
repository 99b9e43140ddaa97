/**
 * moelab's tensor runtime: Tensor, creation, ops (methods and free functions), autograd,
 * memory scopes. See README.md in this folder for the API list.
 */
export { Tensor, isTensor } from "./tensor.js";
export type { Shape, NestedArray, TfLike, TfTensorLike } from "./tensor.js";
export type { DType, TypedArray } from "./dtype.js";
export { bf16ToF32, f32ToBf16, f32ToFp8, fp8ToF32, DTYPES } from "./dtype.js";
export type { Device } from "./device.js";
export { cpu, device } from "./device.js";
export {
  tensor,
  fromArray,
  fromStorage,
  zeros,
  ones,
  full,
  zerosLike,
  onesLike,
  fullLike,
  eye,
  arange,
  linspace,
  randn,
  rand,
  randint,
} from "./creation.js";
export type { CreateOptions, RandomOptions } from "./creation.js";
export { manualSeed } from "./random.js";
export { Rng, seedState } from "./rng.js";
export {
  noGrad,
  enableGrad,
  gradEnabled as isGradEnabled,
  setAnomalyDetection,
  detectAnomaly,
} from "./autograd.js";
export type { BackwardOptions } from "./autograd.js";
export { defineOp, customOp, OpContext } from "./custom.js";
export type { OpDefinition } from "./custom.js";
export { escapeHtml } from "./display.js";
export { tidy, keep, memory, emptyPool, setPoolLimit, outsideGraph } from "./memory.js";
export { graphScope, markEscaped } from "./graph-scope.js";
export type { MemoryInfo } from "./memory.js";
export {
  add,
  sub,
  mul,
  div,
  pow,
  maximum,
  minimum,
  eq,
  ne,
  lt,
  le,
  gt,
  ge,
  neg,
  exp,
  log,
  sqrt,
  rsqrt,
  abs,
  sigmoid,
  silu,
  tanh,
  relu,
  clamp,
  cast,
} from "./ops/elementwise.js";
export {
  sum,
  mean,
  max,
  min,
  argmax,
  argmin,
  topk,
  sort,
  argsort,
  cumsum,
  bincount,
} from "./ops/reduce.js";
export {
  reshape,
  view,
  flatten,
  squeeze,
  unsqueeze,
  expand,
  permute,
  transpose,
  slice,
  select,
  split,
  chunk,
  cat,
  concat,
  stack,
  tril,
  triu,
  clone,
  contiguous,
} from "./ops/shape.js";
export {
  gather,
  indexSelect,
  indexAdd,
  scatterAdd,
  embedding,
  where,
  maskedFill,
  oneHot,
} from "./ops/indexing.js";
export { matmul, bmm, linear, jsSgemm, sgemm, traceGemms } from "./ops/matmul.js";
export type { GemmCall } from "./ops/matmul.js";
export { softmax, logSoftmax, crossEntropy, rmsNorm, rope, swiglu } from "./ops/nn.js";
export type { CrossEntropyOptions } from "./ops/nn.js";
export { attention } from "./ops/attention.js";
export type { AttentionOptions } from "./ops/attention.js";
export { getNumThreads, setNumThreads } from "./threads.js";
