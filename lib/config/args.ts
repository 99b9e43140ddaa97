/**
 * DeepSeek-V3's `ModelArgs` (inference/model.py), every field with its snake_case name and
 * default, so `config.json` is read and written exactly as DeepSeek's reference code expects, and
 * the quantities derived from it (softmax scale, YaRN, dense layers).
 */

/**
 * DeepSeek-V3's `ModelArgs` (inference/model.py), field for field. The architecture defaults are
 * those of its 16B (DeepSeek-V2-Lite) config.
 */
export interface ModelArgs {
  /** Maximum batch size (sizes the reference's KV cache). */
  max_batch_size: number;
  /** Maximum sequence length; YaRN is active when it exceeds `original_seq_len`. */
  max_seq_len: number;
  /** Checkpoint dtype of the Linear weights: "bf16", or "fp8" (E4M3 with 128x128 block scales). */
  dtype: "bf16" | "fp8";
  /** Scale format of FP8 activation quantisation: null, or "ue8m0" (power-of-two scales, V3.1). */
  scale_fmt: string | null;
  /** Vocabulary size V: rows of the embedding and of the output head. */
  vocab_size: number;
  /** Model width d. */
  dim: number;
  /** Hidden width of the dense SwiGLU MLP (the first `n_dense_layers` layers). */
  inter_dim: number;
  /** Hidden width of each routed and shared expert. */
  moe_inter_dim: number;
  /** Number of main Transformer blocks (the MTP modules come after them). */
  n_layers: number;
  /** The first n_dense_layers use a dense MLP, the rest MoE. */
  n_dense_layers: number;
  /** Attention heads H of MLA. */
  n_heads: number;
  /** Routed experts per MoE layer, E. */
  n_routed_experts: number;
  /** Shared experts, fused into one MLP of width n_shared_experts * moe_inter_dim. */
  n_shared_experts: number;
  /** Routed experts per token (top-k). */
  n_activated_experts: number;
  /** Groups the routed experts are split into for group-limited routing (1: no grouping). */
  n_expert_groups: number;
  /** Groups kept per token in group-limited routing. */
  n_limited_groups: number;
  /** Router score: softmax over experts (V2) or per-expert sigmoid, normalised over the top-k (V3). */
  score_func: "softmax" | "sigmoid";
  /** Multiplies the routing weights. */
  route_scale: number;
  /** Query compression rank; 0 means a plain `wq` (no compression). */
  q_lora_rank: number;
  /** Key/value latent width (c_kv). */
  kv_lora_rank: number;
  /** Per-head width of the query/key part without position (from wkv_b). */
  qk_nope_head_dim: number;
  /** Width of the decoupled RoPE part of q and of the shared k_pe (rotated in adjacent pairs). */
  qk_rope_head_dim: number;
  /** Per-head width of the values (from wkv_b). */
  v_head_dim: number;
  /** YaRN: the context length the model was pre-trained for. */
  original_seq_len: number;
  /** RoPE base: pair i rotates at rope_theta^(-2i / qk_rope_head_dim). */
  rope_theta: number;
  /** YaRN: scale factor s. */
  rope_factor: number;
  /** YaRN: pairs turning more than beta_fast times over original_seq_len keep their frequency. */
  beta_fast: number;
  /** YaRN: pairs turning fewer than beta_slow times are divided by rope_factor (a ramp between). */
  beta_slow: number;
  /** YaRN: softmax scale is multiplied by (0.1 * mscale * ln(rope_factor) + 1)^2. */
  mscale: number;
}

/** The reference's defaults, in its field order (the order config.json is written in). */
export const MODEL_ARGS_DEFAULTS: Readonly<ModelArgs> = Object.freeze({
  max_batch_size: 8,
  max_seq_len: 4096 * 4,
  dtype: "bf16",
  scale_fmt: null,
  vocab_size: 102400,
  dim: 2048,
  inter_dim: 10944,
  moe_inter_dim: 1408,
  n_layers: 27,
  n_dense_layers: 1,
  n_heads: 16,
  n_routed_experts: 64,
  n_shared_experts: 2,
  n_activated_experts: 6,
  n_expert_groups: 1,
  n_limited_groups: 1,
  score_func: "softmax",
  route_scale: 1.0,
  q_lora_rank: 0,
  kv_lora_rank: 512,
  qk_nope_head_dim: 128,
  qk_rope_head_dim: 64,
  v_head_dim: 128,
  original_seq_len: 4096,
  rope_theta: 10000.0,
  rope_factor: 40,
  beta_fast: 32,
  beta_slow: 1,
  mscale: 1.0,
} as ModelArgs);

/** Every ModelArgs field name, in the reference's order. */
export const MODEL_ARGS_FIELDS: readonly (keyof ModelArgs)[] = Object.freeze(
  Object.keys(MODEL_ARGS_DEFAULTS) as (keyof ModelArgs)[],
);

/** True when max_seq_len exceeds original_seq_len, i.e. YaRN correction and mscale are active. */
export function yarnActive(a: ModelArgs): boolean {
  return a.max_seq_len > a.original_seq_len;
}

/** The attention softmax scale of the reference (with YaRN's mscale^2 when active). */
export function softmaxScale(a: ModelArgs): number {
  let s = Math.pow(a.qk_nope_head_dim + a.qk_rope_head_dim, -0.5);
  if (yarnActive(a)) {
    const m = 0.1 * a.mscale * Math.log(a.rope_factor) + 1.0;
    s *= m * m;
  }
  return s;
}

/**
 * Whether layer L (main layers 0..n_layers-1, then MTP module k at n_layers + k) has a dense MLP:
 * the first n_dense_layers do, as in the reference; every later one is MoE unless there are no
 * routed experts at all.
 */
export function isDenseLayer(a: ModelArgs, layer: number): boolean {
  return layer < a.n_dense_layers || a.n_routed_experts === 0;
}
