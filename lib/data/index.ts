/**
 * moelab's data layer: corpora (the Brown corpus, user files), tokenizers (bytes, byte-level
 * BPE), token datasets, seeded resumable batches, and verifiable tasks with rule-based rewards
 * for post-training.
 */
import { setTokenizerLoader } from "../model/index.js";
import { tokenizerFromJSON } from "./load.js";

export { Corpus } from "./corpus.js";
export type { Document, Split, SplitOptions } from "./corpus.js";
export type { PathOptions } from "./files.js";
export { brownGenres, detokenizeBrown } from "./brown.js";
export type { BrownGenre } from "./brown.js";
export { checkVocab } from "./tokenizer.js";
export type { CheckVocabOptions, EncodeOptions, Tokenizer, TrainProgress } from "./tokenizer.js";
export { ByteTokenizer } from "./bytes.js";
export type { ByteTokenizerJSON } from "./bytes.js";
export { BPETokenizer } from "./bpe.js";
export type { BPETokenizerJSON, TrainOptions } from "./bpe.js";
export { PRETOKENIZER, pretokenize } from "./pretokenize.js";
export { loadTokenizer, tokenizerFromJSON } from "./load.js";
export { TokenDataset } from "./dataset.js";
export type { DatasetOptions, DocumentSpan } from "./dataset.js";
export { Batches, evalWindows } from "./batches.js";
export type { Batch, BatchOptions, BatchState, EvalOptions } from "./batches.js";
export { Rng } from "../tensor/index.js";
export {
  addition,
  countdown,
  evalExpression,
  parseCompletion,
  promptQuestion,
  r1Prompt,
  reversal,
  sorting,
} from "./tasks.js";
export type {
  AdditionOptions,
  CountdownOptions,
  ExamplesOptions,
  ParsedResponse,
  ReversalOptions,
  SortingOptions,
  Task,
  TaskExample,
} from "./tasks.js";
export { accuracyReward, callReward, combineRewards, formatReward } from "./rewards.js";
export type { RewardFn } from "./rewards.js";

// A checkpoint's tokenizer.json is read back through lib/data (the model floor cannot import it).
setTokenizerLoader(tokenizerFromJSON);
