/** moelab's checkpoint I/O: safetensors, DeepSeek/Hugging Face tensor naming and HF configs. */
export {
  DTYPES,
  DTYPE_SIZE,
  MAX_HEADER_SIZE,
  SafetensorsError,
  SafetensorsFile,
  deserialize,
  parseHeader,
  parseHeaderJSON,
  readSafetensors,
  serialize,
  typedArrayName,
  writeSafetensors,
  writeSafetensorsSync,
} from "./safetensors.js";
export type {
  Dtype,
  Header,
  ReadOptions,
  Safetensors,
  TensorData,
  TensorEntry,
  TensorInfo,
} from "./safetensors.js";
export {
  CheckpointError,
  allowedDtypes,
  assertTensors,
  checkTensors,
  expectedTensors,
  expectedTensorsDeepSeek,
  fromHFName,
  scaleShape,
  toHFName,
} from "./naming.js";
export type { ExpectedTensor, FoundTensor, Layout, TensorCheck } from "./naming.js";
export { fromHFConfig, toHFConfig } from "./hfconfig.js";
export type { FromHFResult } from "./hfconfig.js";
export {
  DEEPSEEK_FILE,
  HF_FILE,
  HF_INDEX,
  loadCheckpoint,
  saveCheckpoint,
  saveCheckpointSync,
} from "./checkpoint.js";
export type { LoadOptions, LoadedCheckpoint, SaveOptions } from "./checkpoint.js";
export { decodeWeight, decodeWeights, f16ToF32, quantizeFp8Weights } from "./weights.js";
