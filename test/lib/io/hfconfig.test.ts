import { strict as assert } from "node:assert";
import { fromHFConfig, toHFConfig } from "../../../lib/io/index.js";
import {
  ConfigError,
  MODEL_ARGS_FIELDS,
  presets,
  type ModelArgs,
} from "../../../lib/config/index.js";

// DeepSeek-V3's Hugging Face config.json (deepseek-ai/DeepSeek-V3), verbatim.
const HF_V3 = `{
  "architectures": [
    "DeepseekV3ForCausalLM"
  ],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "auto_map": {
    "AutoConfig": "configuration_deepseek.DeepseekV3Config",
    "AutoModel": "modeling_deepseek.DeepseekV3Model",
    "AutoModelForCausalLM": "modeling_deepseek.DeepseekV3ForCausalLM"
  },
  "bos_token_id": 0,
  "eos_token_id": 1,
  "ep_size": 1,
  "first_k_dense_replace": 3,
  "hidden_act": "silu",
  "hidden_size": 7168,
  "initializer_range": 0.02,
  "intermediate_size": 18432,
  "kv_lora_rank": 512,
  "max_position_embeddings": 163840,
  "model_type": "deepseek_v3",
  "moe_intermediate_size": 2048,
  "moe_layer_freq": 1,
  "n_group": 8,
  "n_routed_experts": 256,
  "n_shared_experts": 1,
  "norm_topk_prob": true,
  "num_attention_heads": 128,
  "num_experts_per_tok": 8,
  "num_hidden_layers": 61,
  "num_key_value_heads": 128,
  "num_nextn_predict_layers": 1,
  "q_lora_rank": 1536,
  "qk_nope_head_dim": 128,
  "qk_rope_head_dim": 64,
  "quantization_config": {
    "activation_scheme": "dynamic",
    "fmt": "e4m3",
    "quant_method": "fp8",
    "weight_block_size": [
      128,
      128
    ]
  },
  "rms_norm_eps": 1e-06,
  "rope_scaling": {
    "beta_fast": 32,
    "beta_slow": 1,
    "factor": 40,
    "mscale": 1.0,
    "mscale_all_dim": 1.0,
    "original_max_position_embeddings": 4096,
    "type": "yarn"
  },
  "rope_theta": 10000,
  "routed_scaling_factor": 2.5,
  "scoring_func": "sigmoid",
  "tie_word_embeddings": false,
  "topk_group": 4,
  "topk_method": "noaux_tc",
  "torch_dtype": "bfloat16",
  "transformers_version": "4.46.3",
  "use_cache": true,
  "v_head_dim": 128,
  "vocab_size": 129280
}`;

// A DeepSeek-V2-Lite-style HF config (the fields that matter here).
const HF_V2_LITE = {
  architectures: ["DeepseekV2ForCausalLM"],
  model_type: "deepseek_v2",
  first_k_dense_replace: 1,
  hidden_act: "silu",
  hidden_size: 2048,
  intermediate_size: 10944,
  kv_lora_rank: 512,
  max_position_embeddings: 163840,
  moe_intermediate_size: 1408,
  moe_layer_freq: 1,
  n_group: 1,
  n_routed_experts: 64,
  n_shared_experts: 2,
  norm_topk_prob: false,
  num_attention_heads: 16,
  num_experts_per_tok: 6,
  num_hidden_layers: 27,
  num_key_value_heads: 16,
  q_lora_rank: null,
  qk_nope_head_dim: 128,
  qk_rope_head_dim: 64,
  rms_norm_eps: 1e-6,
  rope_scaling: {
    beta_fast: 32,
    beta_slow: 1,
    factor: 40,
    mscale: 0.707,
    mscale_all_dim: 0.707,
    original_max_position_embeddings: 4096,
    type: "yarn",
  },
  rope_theta: 10000,
  routed_scaling_factor: 1.0,
  scoring_func: "softmax",
  topk_group: 1,
  topk_method: "greedy",
  v_head_dim: 128,
  vocab_size: 102400,
};

function without<T extends object>(o: T, ...keys: (keyof T)[]): Partial<T> {
  const c: Partial<T> = { ...o };
  for (const k of keys) delete c[k];
  return c;
}

function throwsKey(fn: () => unknown, key: string, re?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.field, key, e.message);
    if (re) assert.match(e.message, re);
    return true;
  });
}

describe("io/hfconfig: Hugging Face config.json <-> ModelArgs", () => {
  it("reads DeepSeek-V3's HF config as the 671B ModelArgs (with its 163840 context) and moelab settings", () => {
    const { args, settings, warnings } = fromHFConfig(HF_V3);
    assert.deepEqual(warnings, []);
    assert.deepEqual(without(args, "max_seq_len"), without(presets["671B"].args, "max_seq_len"));
    assert.equal(args.max_seq_len, 163840);
    assert.equal(args.original_seq_len, 4096);
    assert.equal(settings.mtp_depth, 1);
    assert.equal(settings.routing, "noaux_tc");
    assert.equal(settings.init_std, 0.02);
    assert.equal(settings.precision, "fp8");
  });

  it("reads a V2-Lite-style config as the 16B ModelArgs", () => {
    const { args, settings } = fromHFConfig(HF_V2_LITE);
    assert.deepEqual(without(args, "max_seq_len"), without(presets["16B"].args, "max_seq_len"));
    assert.equal(args.q_lora_rank, 0);
    assert.equal(args.mscale, 0.707);
    assert.equal(settings.routing, "plain");
    assert.equal(settings.mtp_depth, 0);
  });

  it("round-trips every preset (max_batch_size has no HF field)", () => {
    for (const [name, c] of Object.entries(presets)) {
      const hf = toHFConfig(c.args, c.settings);
      const back = fromHFConfig(JSON.parse(JSON.stringify(hf)) as Record<string, unknown>);
      assert.deepEqual(back.warnings, [], name);
      for (const f of MODEL_ARGS_FIELDS)
        if (f !== "max_batch_size") assert.deepEqual(back.args[f], c.args[f], `${name}.${f}`);
      assert.equal(back.settings.mtp_depth, c.settings.mtp_depth, name);
      assert.equal(back.settings.routing, c.settings.routing, name);
      assert.equal(back.settings.init_std, c.settings.init_std, name);
    }
  });

  it("writes DeepSeek-V2's model type for routing without a bias (V3's HF code runs only noaux_tc)", () => {
    const plain = toHFConfig(presets["236B"].args, {
      ...presets["236B"].settings,
      routing: "plain",
    });
    assert.equal(plain.model_type, "deepseek_v2");
    assert.deepEqual(plain.architectures, ["DeepseekV2ForCausalLM"]);
    assert.equal(plain.topk_method, "group_limited_greedy");
    const back = fromHFConfig(plain);
    assert.equal(back.settings.routing, "plain");
    assert.deepEqual(back.args, {
      ...presets["236B"].args,
      max_batch_size: back.args.max_batch_size,
    });
    assert.equal(
      toHFConfig(presets["671B"].args, presets["671B"].settings).model_type,
      "deepseek_v3",
    );
  });

  it("writes DeepSeek-V3's HF field names and values", () => {
    const hf = toHFConfig(presets["671B"].args, presets["671B"].settings);
    const v3 = JSON.parse(HF_V3) as Record<string, unknown>;
    for (const k of [
      "first_k_dense_replace",
      "hidden_size",
      "intermediate_size",
      "moe_intermediate_size",
      "num_hidden_layers",
      "num_attention_heads",
      "n_routed_experts",
      "n_shared_experts",
      "num_experts_per_tok",
      "n_group",
      "topk_group",
      "scoring_func",
      "routed_scaling_factor",
      "q_lora_rank",
      "kv_lora_rank",
      "qk_nope_head_dim",
      "qk_rope_head_dim",
      "v_head_dim",
      "rope_theta",
      "vocab_size",
      "num_nextn_predict_layers",
      "topk_method",
      "norm_topk_prob",
      "rms_norm_eps",
      "quantization_config",
      "model_type",
    ])
      assert.deepEqual(hf[k], v3[k], k);
    const rs = hf.rope_scaling as Record<string, unknown>;
    assert.deepEqual(
      without(rs, "mscale"),
      without(v3.rope_scaling as Record<string, unknown>, "mscale"),
    );
    // Without YaRN there is no rope_scaling, and q_lora_rank 0 is null.
    const tiny = toHFConfig(
      { ...presets.tiny.args, q_lora_rank: 0 } as ModelArgs,
      presets.tiny.settings,
    );
    assert.equal(tiny.rope_scaling, null);
    assert.equal(tiny.q_lora_rank, null);
    assert.equal(tiny.max_position_embeddings, 256);
  });

  it("rejects what DeepSeek's reference cannot compute, naming the HF key", () => {
    const v3 = JSON.parse(HF_V3) as Record<string, unknown>;
    throwsKey(() => fromHFConfig({ ...v3, rms_norm_eps: 1e-5 }), "rms_norm_eps", /1e-6/);
    throwsKey(() => fromHFConfig({ ...v3, hidden_act: "gelu" }), "hidden_act");
    throwsKey(() => fromHFConfig({ ...v3, tie_word_embeddings: true }), "tie_word_embeddings");
    throwsKey(() => fromHFConfig({ ...v3, norm_topk_prob: false }), "norm_topk_prob", /sigmoid/);
    throwsKey(() => fromHFConfig({ ...v3, topk_method: "random" }), "topk_method");
    throwsKey(() => fromHFConfig({ ...v3, moe_layer_freq: 2 }), "moe_layer_freq");
    throwsKey(
      () => fromHFConfig({ ...v3, rope_scaling: { ...(v3.rope_scaling as object), mscale: 0.5 } }),
      "rope_scaling.mscale",
    );
    throwsKey(
      () => fromHFConfig({ ...v3, rope_scaling: { type: "linear", factor: 2 } }),
      "rope_scaling.type",
    );
    throwsKey(
      () => fromHFConfig({ ...v3, quantization_config: { quant_method: "gptq" } }),
      "quantization_config.quant_method",
    );
    throwsKey(() => fromHFConfig({ ...v3, hidden_size: "7168" }), "hidden_size", /ModelArgs\.dim/);
    throwsKey(() => fromHFConfig({ ...v3, topk_group: 9 }), "topk_group", /n_limited_groups/);
    throwsKey(() => fromHFConfig("{oops"), "(json)");
  });

  it("warns about keys it does not know", () => {
    const { warnings } = fromHFConfig({ ...HF_V2_LITE, fancy_new_option: 3 });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /"fancy_new_option"/);
  });
});
