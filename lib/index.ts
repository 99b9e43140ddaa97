/**
 * moelab: the library cells import (`import { randn, fp8, presets } from "moelab"`).
 * Each folder is a layer with its own index; this file only gathers them.
 */
export const version = "0.1.0";

/** Tensor, autograd, creation and ops (lib/tensor). */
export * from "./tensor/index.js";
/** FP8 formats, scaling and the block-scaled GEMM, as a namespace: `fp8.encode(...)`. */
export * as fp8 from "./fp8/index.js";
/** DeepSeek ModelArgs, moelab settings, presets and parameter counts (lib/model). */
export * from "./model/index.js";
/** safetensors and checkpoint naming, as a namespace: `io.readSafetensors(...)`. */
export * as io from "./io/index.js";
