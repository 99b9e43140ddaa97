/**
 * Hugging Face config.json (model_type "deepseek_v3"; "deepseek_v2" when routing has no bias) <->
 * DeepSeek ModelArgs + moelab settings.
 * The field correspondence is what DeepSeek's convert.py implies for the weights, applied to the
 * config: hidden_size <-> dim, first_k_dense_replace <-> n_dense_layers, n_group <-> n_expert_groups,
 * rope_scaling (YaRN) <-> original_seq_len, rope_factor, beta_fast, beta_slow, mscale, num_nextn_predict_layers <->
 * mtp_depth, topk_method "noaux_tc" <-> routing "noaux_tc", and so on.
 */
import {
  ConfigError,
  MODEL_ARGS_DEFAULTS,
  MOELAB_SETTINGS_DEFAULTS,
  parseModelArgs,
  validateConfig,
  yarnActive,
  type ModelArgs,
  type MoelabSettings,
} from "../config/index.js";

/** HF -> ModelArgs field for the plain one-to-one renames. */
const DIRECT: Record<string, keyof ModelArgs> = {
  vocab_size: "vocab_size",
  hidden_size: "dim",
  intermediate_size: "inter_dim",
  moe_intermediate_size: "moe_inter_dim",
  num_hidden_layers: "n_layers",
  first_k_dense_replace: "n_dense_layers",
  num_attention_heads: "n_heads",
  n_routed_experts: "n_routed_experts",
  n_shared_experts: "n_shared_experts",
  num_experts_per_tok: "n_activated_experts",
  n_group: "n_expert_groups",
  topk_group: "n_limited_groups",
  scoring_func: "score_func",
  routed_scaling_factor: "route_scale",
  kv_lora_rank: "kv_lora_rank",
  qk_nope_head_dim: "qk_nope_head_dim",
  qk_rope_head_dim: "qk_rope_head_dim",
  v_head_dim: "v_head_dim",
  rope_theta: "rope_theta",
};

/** Keys read specially below. */
const SPECIAL = new Set([
  "q_lora_rank",
  "rope_scaling",
  "max_position_embeddings",
  "num_nextn_predict_layers",
  "topk_method",
  "norm_topk_prob",
  "rms_norm_eps",
  "initializer_range",
  "quantization_config",
  "hidden_act",
  "attention_bias",
  "tie_word_embeddings",
  "moe_layer_freq",
  "num_key_value_heads",
]);

/** Keys with no bearing on the architecture (bookkeeping, training-only or serving options). */
const IGNORED = new Set([
  "architectures",
  "auto_map",
  "model_type",
  "bos_token_id",
  "eos_token_id",
  "pad_token_id",
  "torch_dtype",
  "transformers_version",
  "use_cache",
  "pretraining_tp",
  "attention_dropout",
  "aux_loss_alpha",
  "seq_aux",
  "ep_size",
  "_name_or_path",
  "rope_interleave",
]);

export interface FromHFResult {
  args: ModelArgs;
  settings: MoelabSettings;
  /** Keys that were not understood (and ignored). */
  warnings: string[];
}

function num(hf: Record<string, unknown>, key: string): number {
  const v = hf[key];
  if (typeof v !== "number" || !Number.isFinite(v))
    throw new ConfigError(key, `expected a number in the HF config, got ${JSON.stringify(v)}`);
  return v;
}

/** Reads a Hugging Face DeepSeek-V3 (or V2) config.json. Unsupported settings are errors naming the key. */
export function fromHFConfig(input: string | Record<string, unknown>): FromHFResult {
  let hf: Record<string, unknown>;
  if (typeof input === "string") {
    try {
      hf = JSON.parse(input) as Record<string, unknown>;
    } catch (e) {
      throw new ConfigError("(json)", `HF config is not valid JSON: ${(e as Error).message}`);
    }
  } else hf = input;
  if (hf === null || typeof hf !== "object" || Array.isArray(hf))
    throw new ConfigError("(json)", "HF config must be a JSON object");
  const warnings: string[] = [];
  const a: Record<string, unknown> = {};
  const s: MoelabSettings = { ...MOELAB_SETTINGS_DEFAULTS };
  for (const [k, v] of Object.entries(hf)) {
    if (v === undefined) continue;
    if (Object.prototype.hasOwnProperty.call(DIRECT, k)) a[DIRECT[k]] = v;
    else if (!SPECIAL.has(k) && !IGNORED.has(k))
      warnings.push(`ignoring unknown HF config key "${k}"`);
  }
  if (hf.q_lora_rank !== undefined) a.q_lora_rank = hf.q_lora_rank === null ? 0 : hf.q_lora_rank;
  if (hf.hidden_act !== undefined && hf.hidden_act !== "silu")
    throw new ConfigError(
      "hidden_act",
      `only "silu" (SwiGLU) is supported, got ${JSON.stringify(hf.hidden_act)}`,
    );
  if (hf.attention_bias === true)
    throw new ConfigError(
      "attention_bias",
      "attention biases are not supported (DeepSeek's Linear layers have none)",
    );
  if (hf.tie_word_embeddings === true)
    throw new ConfigError(
      "tie_word_embeddings",
      "tied embeddings are not supported (DeepSeek's head is separate)",
    );
  if (hf.moe_layer_freq !== undefined && hf.moe_layer_freq !== 1)
    throw new ConfigError(
      "moe_layer_freq",
      `only 1 (every layer after the dense ones is MoE) is supported, got ${JSON.stringify(hf.moe_layer_freq)}`,
    );
  if (hf.rms_norm_eps !== undefined && num(hf, "rms_norm_eps") !== 1e-6)
    throw new ConfigError(
      "rms_norm_eps",
      `DeepSeek's reference fixes RMSNorm eps at 1e-6, got ${String(hf.rms_norm_eps)}`,
    );
  if (
    hf.num_key_value_heads !== undefined &&
    hf.num_attention_heads !== undefined &&
    hf.num_key_value_heads !== hf.num_attention_heads
  )
    warnings.push(
      `num_key_value_heads ${String(hf.num_key_value_heads)} is ignored (MLA has one latent KV shared by all heads)`,
    );

  const maxPos = hf.max_position_embeddings;
  const rs = hf.rope_scaling;
  if (rs !== undefined && rs !== null) {
    if (typeof rs !== "object" || Array.isArray(rs))
      throw new ConfigError("rope_scaling", "must be an object or null");
    const r = rs as Record<string, unknown>;
    const type = r.type ?? r.rope_type;
    if (type !== "yarn")
      throw new ConfigError(
        "rope_scaling.type",
        `only "yarn" is supported, got ${JSON.stringify(type)}`,
      );
    if (r.factor !== undefined) a.rope_factor = num(r, "factor");
    if (r.original_max_position_embeddings !== undefined)
      a.original_seq_len = num(r, "original_max_position_embeddings");
    if (r.beta_fast !== undefined) a.beta_fast = num(r, "beta_fast");
    if (r.beta_slow !== undefined) a.beta_slow = num(r, "beta_slow");
    // The reference has one mscale, on the softmax (HF's mscale_all_dim); HF's cos/sin factor
    // yarn_mscale(mscale)/yarn_mscale(mscale_all_dim) is 1 only when the two are equal.
    if (r.mscale_all_dim !== undefined) a.mscale = num(r, "mscale_all_dim");
    else if (r.mscale !== undefined) a.mscale = num(r, "mscale");
    if (r.mscale !== undefined && r.mscale_all_dim !== undefined && r.mscale !== r.mscale_all_dim)
      throw new ConfigError(
        "rope_scaling.mscale",
        `${String(r.mscale)} differs from mscale_all_dim ${String(r.mscale_all_dim)}; DeepSeek's reference has a single mscale`,
      );
    if (maxPos !== undefined) a.max_seq_len = num(hf, "max_position_embeddings");
    const orig = (a.original_seq_len as number | undefined) ?? MODEL_ARGS_DEFAULTS.original_seq_len;
    const max = (a.max_seq_len as number | undefined) ?? MODEL_ARGS_DEFAULTS.max_seq_len;
    if (!(max > orig))
      throw new ConfigError(
        "max_position_embeddings",
        `${max} must exceed rope_scaling.original_max_position_embeddings ${orig} for YaRN to apply`,
      );
  } else {
    // Without YaRN the reference needs original_seq_len >= max_seq_len.
    a.max_seq_len =
      maxPos !== undefined ? num(hf, "max_position_embeddings") : MODEL_ARGS_DEFAULTS.max_seq_len;
    a.original_seq_len = a.max_seq_len;
  }

  const q = hf.quantization_config;
  if (q !== undefined && q !== null) {
    const qc = q as Record<string, unknown>;
    if (qc.quant_method !== "fp8")
      throw new ConfigError(
        "quantization_config.quant_method",
        `only "fp8" is supported, got ${JSON.stringify(qc.quant_method)}`,
      );
    if (qc.fmt !== undefined && qc.fmt !== "e4m3")
      throw new ConfigError(
        "quantization_config.fmt",
        `only "e4m3" is supported, got ${JSON.stringify(qc.fmt)}`,
      );
    const bs = qc.weight_block_size;
    if (
      bs !== undefined &&
      !(Array.isArray(bs) && bs.length === 2 && bs[0] === 128 && bs[1] === 128)
    )
      throw new ConfigError(
        "quantization_config.weight_block_size",
        `only [128, 128] is supported, got ${JSON.stringify(bs)}`,
      );
    a.dtype = "fp8";
    if (qc.scale_fmt !== undefined && qc.scale_fmt !== null) a.scale_fmt = qc.scale_fmt;
  }

  let args: ModelArgs;
  try {
    args = parseModelArgs(a);
  } catch (e) {
    // Name the HF key rather than the ModelArgs field it became.
    if (e instanceof ConfigError) {
      const hfKey = Object.entries(DIRECT).find(([, f]) => f === e.field)?.[0];
      if (hfKey && hfKey !== e.field)
        throw new ConfigError(hfKey, `(ModelArgs.${e.field}) ${e.message}`);
    }
    throw e;
  }

  if (hf.num_nextn_predict_layers !== undefined) s.mtp_depth = num(hf, "num_nextn_predict_layers");
  else s.mtp_depth = 0;
  if (hf.initializer_range !== undefined) s.init_std = num(hf, "initializer_range");
  const tm = hf.topk_method;
  if (tm === "noaux_tc") s.routing = "noaux_tc";
  else if (tm === undefined || tm === "greedy" || tm === "group_limited_greedy")
    s.routing = "plain";
  else
    throw new ConfigError(
      "topk_method",
      `expected "noaux_tc", "greedy" or "group_limited_greedy", got ${JSON.stringify(tm)}`,
    );
  if (tm === "greedy" && args.n_expert_groups > 1)
    warnings.push(
      `topk_method "greedy" with n_group ${args.n_expert_groups}: groups are applied as in DeepSeek's reference`,
    );
  // The reference renormalises top-k weights for sigmoid scores only.
  if (hf.norm_topk_prob !== undefined) {
    const expect = args.score_func === "sigmoid";
    if (hf.norm_topk_prob !== expect && args.n_activated_experts > 1)
      throw new ConfigError(
        "norm_topk_prob",
        `${String(hf.norm_topk_prob)} with scoring_func "${args.score_func}" is not what DeepSeek's reference computes (it normalises exactly when scores are sigmoid)`,
      );
  }
  s.precision = args.dtype === "fp8" ? "fp8" : "fp32";
  validateConfig(args, s);
  return { args, settings: s, warnings };
}

/**
 * Writes a Hugging Face config.json object for a config: DeepSeek-V3's format for bias-based
 * routing ("noaux_tc", the only routing V3's HF code runs), DeepSeek-V2's model type otherwise
 * (greedy or group-limited routing, as V2's HF code runs it).
 */
export function toHFConfig(a: ModelArgs, s: MoelabSettings): Record<string, unknown> {
  const v3 = s.routing === "noaux_tc";
  const hf: Record<string, unknown> = {
    architectures: [v3 ? "DeepseekV3ForCausalLM" : "DeepseekV2ForCausalLM"],
    model_type: v3 ? "deepseek_v3" : "deepseek_v2",
    attention_bias: false,
    attention_dropout: 0.0,
    first_k_dense_replace: a.n_dense_layers,
    hidden_act: "silu",
    hidden_size: a.dim,
    initializer_range: s.init_std,
    intermediate_size: a.inter_dim,
    kv_lora_rank: a.kv_lora_rank,
    max_position_embeddings: a.max_seq_len,
    moe_intermediate_size: a.moe_inter_dim,
    moe_layer_freq: 1,
    n_group: a.n_expert_groups,
    n_routed_experts: a.n_routed_experts,
    n_shared_experts: a.n_shared_experts,
    norm_topk_prob: a.score_func === "sigmoid",
    num_attention_heads: a.n_heads,
    num_experts_per_tok: a.n_activated_experts,
    num_hidden_layers: a.n_layers,
    num_key_value_heads: a.n_heads,
    num_nextn_predict_layers: s.mtp_depth,
    q_lora_rank: a.q_lora_rank === 0 ? null : a.q_lora_rank,
    qk_nope_head_dim: a.qk_nope_head_dim,
    qk_rope_head_dim: a.qk_rope_head_dim,
    rms_norm_eps: 1e-6,
    rope_scaling: yarnActive(a)
      ? {
          beta_fast: a.beta_fast,
          beta_slow: a.beta_slow,
          factor: a.rope_factor,
          mscale: a.mscale,
          mscale_all_dim: a.mscale,
          original_max_position_embeddings: a.original_seq_len,
          type: "yarn",
        }
      : null,
    rope_theta: a.rope_theta,
    routed_scaling_factor: a.route_scale,
    scoring_func: a.score_func,
    tie_word_embeddings: false,
    topk_group: a.n_limited_groups,
    topk_method:
      s.routing === "noaux_tc"
        ? "noaux_tc"
        : a.n_expert_groups > 1
          ? "group_limited_greedy"
          : "greedy",
    torch_dtype: a.dtype === "fp8" ? "bfloat16" : "float32",
    use_cache: true,
    v_head_dim: a.v_head_dim,
    vocab_size: a.vocab_size,
  };
  if (a.dtype === "fp8") {
    const qc: Record<string, unknown> = {
      activation_scheme: "dynamic",
      fmt: "e4m3",
      quant_method: "fp8",
      weight_block_size: [128, 128],
    };
    if (a.scale_fmt !== null) qc.scale_fmt = a.scale_fmt;
    hf.quantization_config = qc;
  }
  return hf;
}
