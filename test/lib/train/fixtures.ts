/** A small MoE model and a small text dataset for the trainer's tests (and their child processes). */
import type { ConfigFields } from "../../../lib/config/index.js";
import { ByteTokenizer, Corpus, TokenDataset } from "../../../lib/data/index.js";
import { Transformer } from "../../../lib/model/index.js";

/** A small MoE model: 2 layers (1 dense), 8 experts top-2 + 1 shared, one MTP module. */
export const SMALL: ConfigFields = {
  vocab_size: 256,
  dim: 32,
  inter_dim: 64,
  moe_inter_dim: 16,
  n_layers: 2,
  n_dense_layers: 1,
  n_heads: 2,
  n_routed_experts: 8,
  n_shared_experts: 1,
  n_activated_experts: 2,
  score_func: "sigmoid",
  route_scale: 1,
  q_lora_rank: 0,
  kv_lora_rank: 16,
  qk_nope_head_dim: 8,
  qk_rope_head_dim: 8,
  v_head_dim: 8,
  max_seq_len: 64,
  mtp_depth: 1,
};

const TEXT = [
  "The quick brown fox jumps over the lazy dog. ",
  "A stitch in time saves nine, and nine stitches save a coat. ",
  "Mixture-of-experts routers send each token to two experts of eight. ",
  "Latent attention keeps a small cache of compressed keys and values. ",
];

export function datasets(): { train: TokenDataset; validation: TokenDataset } {
  const docs = Array.from({ length: 20 }, (_, i) =>
    Array.from({ length: 8 }, (_, j) => TEXT[(i + j) % TEXT.length]).join(""),
  );
  const { train, validation } = Corpus.fromTexts(docs, "sentences").split({ every: 5 });
  const tok = new ByteTokenizer();
  return {
    train: TokenDataset.fromCorpus(train, tok),
    validation: TokenDataset.fromCorpus(validation, tok),
  };
}

/** A SMALL model (with `over` fields) carrying a byte tokenizer, as the post-training tests use. */
export function byteModel(seed = 1, over: Partial<ConfigFields> = {}): Transformer {
  const m = Transformer.create({ ...SMALL, ...over }, { seed });
  m.tokenizer = new ByteTokenizer();
  return m;
}

/** Every parameter's values, flattened in model order (to see whether an update happened). */
export const weights = (m: Transformer): number[] =>
  [...m.namedParameters().values()].flatMap((p) => Array.from(p.toArray() as Float32Array));
