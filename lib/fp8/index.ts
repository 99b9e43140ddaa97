/**
 * FP8 as DeepSeek-V3 trains with it: bit-exact E4M3/E5M2 codecs, fine-grained (1x128 tile,
 * 128x128 block) and per-tensor scaling, and the block-scaled FP8 GEMM. Used as a namespace:
 * `import { fp8 } from "moelab"; fp8.encode(values, "e4m3", { saturate: true })`.
 */
export {
  DISPLAY,
  E4M3,
  E5M2,
  Fp8Table,
  decode,
  decodeTable,
  encode,
  encodeOne,
  spec,
  table,
  type EncodeOptions,
  type Fp8Code,
  type Fp8Format,
  type Fp8Kind,
  type Fp8Spec,
} from "./format.js";
export { Fp8Matrix, type Fp8Layout, type Fp8MatrixInit, type LayoutKind } from "./fp8matrix.js";
export {
  AMAX_FLOOR,
  TILE,
  dequantize,
  quantizationError,
  quantize,
  quantizeBlocks,
  quantizeTensor,
  quantizeTiles,
  quantizeTilesT,
  roundUpPow2,
  scaleFor,
  type QuantizeOptions,
} from "./scaling.js";
export {
  BLOCK_K,
  gemm,
  gemmQuantized,
  gemmReference,
  roundMantissa,
  type GemmOptions,
  type QuantizedGemmOptions,
  type QuantizedGemmResult,
} from "./gemm.js";
export { nativeAvailable } from "./native.js";
export {
  PRECISIONS,
  linear,
  linearBf16,
  linearFp8,
  roundBf16,
  type LinearFp8Options,
  type Precision,
} from "./linear.js";
