/**
 * moelab: the library cells import (`import { randn, fp8, presets } from "moelab"`).
 * Each folder is a layer with its own index; this file only gathers them.
 */
export const version = "0.1.0";

/** Tensor, autograd, creation and ops (lib/tensor). */
export * from "./tensor/index.js";
/** FP8 formats, scaling and the block-scaled GEMM, as a namespace: `fp8.encode(...)`. */
export * as fp8 from "./fp8/index.js";
/** DeepSeek ModelArgs, moelab settings, presets and parameter counts (lib/config). */
export * from "./config/index.js";
/** The Transformer and generation (lib/model). */
export * from "./model/index.js";
// Both layers name an options type CreateOptions; at the top level it is the tensor one, and the
// model's is TransformerCreateOptions.
export type { CreateOptions } from "./tensor/index.js";
export type { CreateOptions as TransformerCreateOptions } from "./model/index.js";
/** safetensors and checkpoint naming, as a namespace: `io.readSafetensors(...)`. */
export * as io from "./io/index.js";
/** The layers the Transformer is built from (Module, Linear, MLA, Gate, MoE, Block, ...), as a namespace. */
export * as nn from "./nn/index.js";
/** Corpora, tokenizers, token datasets and batches, as a namespace (and the main classes). */
export * as data from "./data/index.js";
export { BPETokenizer, ByteTokenizer, Corpus, TokenDataset } from "./data/index.js";
/** AdamW, gradient clipping, schedules and the Trainer (lib/train). */
export * from "./train/index.js";
/** Interventions, patching, logit lens and attribution, routing statistics, as a namespace. */
export * as inspect from "./inspect/index.js";
/** Figures (Plotly, with SVG and text fallbacks), as a namespace. */
export * as viz from "./viz/index.js";
export * as lab from "./lab/index.js";

// The Trainer's live output is lib/viz's dashboard (lib/train cannot import the floor above it).
import { Trainer as TrainerClass } from "./train/index.js";
import { Dashboard } from "./viz/index.js";
TrainerClass.defaultView = () => new Dashboard();
