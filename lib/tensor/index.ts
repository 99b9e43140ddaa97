/**
 * moelab's tensor runtime: Tensor, creation, ops (methods and free functions), autograd,
 * memory scopes. See README.md in this folder for the API list.
 */
export { Tensor, isTensor } from "./tensor";
export type { Shape, NestedArray, TfLike, TfTensorLike } from "./tensor";
export type { DType, TypedArray } from "./dtype";
export { bf16ToF32, f32ToBf16, f32ToFp8, fp8ToF32, DTYPES } from "./dtype";
export type { Device } from "./device";
export { cpu, device } from "./device";
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
} from "./creation";
export type { CreateOptions, RandomOptions } from "./creation";
export { manualSeed } from "./random";
export {
  noGrad,
  enableGrad,
  gradEnabled as isGradEnabled,
  setAnomalyDetection,
  detectAnomaly,
} from "./autograd";
export type { BackwardOptions } from "./autograd";
export { defineOp, customOp, OpContext } from "./custom";
export type { OpDefinition } from "./custom";
export { tidy, keep, memory, emptyPool, setPoolLimit } from "./memory";
export type { MemoryInfo } from "./memory";
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
} from "./ops/elementwise";
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
} from "./ops/reduce";
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
} from "./ops/shape";
export {
  gather,
  indexSelect,
  indexAdd,
  scatterAdd,
  embedding,
  where,
  maskedFill,
  oneHot,
} from "./ops/indexing";
export { matmul, bmm, linear, jsSgemm, sgemm } from "./ops/matmul";
export { softmax, logSoftmax, crossEntropy, rmsNorm, rope, swiglu, attention } from "./ops/nn";
export type { CrossEntropyOptions, AttentionOptions } from "./ops/nn";
export { getNumThreads, setNumThreads } from "./threads";
