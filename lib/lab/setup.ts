/**
 * The training issue's experiment set-up: its model (DeepSeek-V3's architecture at toy size), its
 * optimizer and schedule, and its data (the Brown corpus as bytes, every 10th document held out).
 */
import type { ConfigFields } from "../config/index.js";
import { ByteTokenizer, Corpus, TokenDataset } from "../data/index.js";
import { schedules, type TrainerOptions } from "../train/index.js";

/**
 * dim 128, 4 layers (1 dense), 8 routed + 1 shared experts top-2, sigmoid scores, bytes. MTP off
 * and no gate bias ("plain" routing) because DeepSeek's inference code, the benchmark's peer, has
 * neither; the balance experiment turns the bias on ("noaux_tc").
 */
export const BENCH_CONFIG: Readonly<ConfigFields> = Object.freeze({
  vocab_size: 256, // bytes
  dim: 128,
  n_layers: 4,
  n_dense_layers: 1,
  n_heads: 4,
  n_routed_experts: 8,
  n_shared_experts: 1,
  n_activated_experts: 2,
  n_expert_groups: 1,
  n_limited_groups: 1,
  score_func: "sigmoid",
  route_scale: 1,
  q_lora_rank: 0,
  kv_lora_rank: 32,
  qk_nope_head_dim: 32,
  qk_rope_head_dim: 16,
  v_head_dim: 32,
  inter_dim: 256,
  moe_inter_dim: 64,
  max_seq_len: 128,
  max_batch_size: 16,
  mtp_depth: 0,
  routing: "plain",
  init_std: 0.02, // N(0, 0.02) Linear and embedding weights; norms start at 1
});

/** The optimizer and batches of every run of the training benchmark. */
export const BENCH_OPTIMIZER = Object.freeze({
  batchSize: 16,
  seqLen: 128,
  lr: 2e-3,
  betas: [0.9, 0.95] as [number, number],
  eps: 1e-8,
  weightDecay: 0.1, // matrices only (AdamW's default: ndim >= 2)
  clip: 1.0,
  minRatio: 0.1,
  evalWindows: 64,
  seed: 0,
});

/**
 * The benchmark's Trainer options: warm-up then cosine to 10% over the run's target, the
 * optimizer above, no balancing; `o` overrides any of them.
 */
export function benchTrainerOptions(
  warmup: number,
  o: Partial<TrainerOptions> = {},
): TrainerOptions {
  const b = BENCH_OPTIMIZER;
  return {
    batchSize: b.batchSize,
    seqLen: b.seqLen,
    seed: b.seed,
    schedule: schedules.cosine({ lr: b.lr, warmup, minRatio: b.minRatio }),
    betas: b.betas,
    eps: b.eps,
    weightDecay: b.weightDecay,
    clip: b.clip,
    balance: "none",
    evalWindows: b.evalWindows,
    ...o,
  };
}

export interface BrownBytes {
  train: TokenDataset;
  validation: TokenDataset;
  docs: { train: number; validation: number };
}

/** The Brown corpus as bytes, every 10th document held out. */
export function brownBytes(): BrownBytes {
  const brown = Corpus.brown();
  const { train, validation } = brown.split({ every: 10 });
  const tok = new ByteTokenizer();
  return {
    train: TokenDataset.fromCorpus(train, tok),
    validation: TokenDataset.fromCorpus(validation, tok),
    docs: { train: train.length, validation: validation.length },
  };
}
