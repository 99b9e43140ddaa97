/** The Transformer (MLA + DeepSeekMoE + MTP) and generation. */
export { ActivationCache, Transformer } from "./transformer.js";
export type { CreateOptions, ForwardOptions, LossOptions, Tokens } from "./transformer.js";
export { generate, generateSpeculative, sampleToken } from "./generate.js";
export type {
  Prompts,
  GenerateOptions,
  GenerateResult,
  SpeculativeOptions,
  SpeculativeResult,
} from "./generate.js";
export { TOKENIZER_FILE, checkTokenizer, setTokenizerLoader } from "./tokenizer.js";
export type { TextTokenizer } from "./tokenizer.js";
