import { strict as assert } from "node:assert";
import {
  ConfigError,
  MODEL_ARGS_DEFAULTS,
  MODEL_ARGS_FIELDS,
  ModelConfig,
  isDenseLayer,
  modelArgs,
  modelArgsToJSON,
  parseModelArgs,
  parseMoelabSettings,
  preset,
  presets,
  resolveConfig,
  settingsForDeepSeek,
  softmaxScale,
  validateConfig,
  yarnActive,
  type ModelArgs,
} from "../../../lib/config/index.js";

// DeepSeek-V3's inference/configs/*.json (commit 9b4e978), verbatim: facts the parser must accept.
const CONFIG_16B = `{
    "vocab_size": 102400,
    "dim": 2048,
    "inter_dim": 10944,
    "moe_inter_dim": 1408,
    "n_layers": 27,
    "n_dense_layers": 1,
    "n_heads": 16,
    "n_routed_experts": 64,
    "n_shared_experts": 2,
    "n_activated_experts": 6,
    "route_scale": 1.0,
    "q_lora_rank": 0,
    "kv_lora_rank": 512,
    "qk_nope_head_dim": 128,
    "qk_rope_head_dim": 64,
    "v_head_dim": 128,
    "mscale": 0.707
}`;
const CONFIG_236B = `{
    "vocab_size": 102400,
    "dim": 5120,
    "inter_dim": 12288,
    "moe_inter_dim": 1536,
    "n_layers": 60,
    "n_dense_layers": 1,
    "n_heads": 128,
    "n_routed_experts": 160,
    "n_shared_experts": 2,
    "n_activated_experts": 6,
    "n_expert_groups": 8,
    "n_limited_groups": 3,
    "route_scale": 16.0,
    "q_lora_rank": 1536,
    "kv_lora_rank": 512,
    "qk_nope_head_dim": 128,
    "qk_rope_head_dim": 64,
    "v_head_dim": 128
}`;
const CONFIG_671B = `{
    "vocab_size": 129280,
    "dim": 7168,
    "inter_dim": 18432,
    "moe_inter_dim": 2048,
    "n_layers": 61,
    "n_dense_layers": 3,
    "n_heads": 128,
    "n_routed_experts": 256,
    "n_shared_experts": 1,
    "n_activated_experts": 8,
    "n_expert_groups": 8,
    "n_limited_groups": 4,
    "route_scale": 2.5,
    "score_func": "sigmoid",
    "q_lora_rank": 1536,
    "kv_lora_rank": 512,
    "qk_nope_head_dim": 128,
    "qk_rope_head_dim": 64,
    "v_head_dim": 128,
    "dtype": "fp8"
}`;
const CONFIG_V31 = CONFIG_671B.replace(
  `"dtype": "fp8"`,
  `"dtype": "fp8",\n    "scale_fmt": "ue8m0"`,
);

function throwsField(fn: () => unknown, field: string, re?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    assert.equal(e.field, field, e.message);
    assert.ok(e.message.includes(field), e.message);
    if (re) assert.match(e.message, re);
    return true;
  });
}

describe("model/config: ModelArgs", () => {
  it("has every field of DeepSeek-V3's ModelArgs with its default, in its order", () => {
    assert.deepEqual(
      [...MODEL_ARGS_FIELDS],
      [
        "max_batch_size",
        "max_seq_len",
        "dtype",
        "scale_fmt",
        "vocab_size",
        "dim",
        "inter_dim",
        "moe_inter_dim",
        "n_layers",
        "n_dense_layers",
        "n_heads",
        "n_routed_experts",
        "n_shared_experts",
        "n_activated_experts",
        "n_expert_groups",
        "n_limited_groups",
        "score_func",
        "route_scale",
        "q_lora_rank",
        "kv_lora_rank",
        "qk_nope_head_dim",
        "qk_rope_head_dim",
        "v_head_dim",
        "original_seq_len",
        "rope_theta",
        "rope_factor",
        "beta_fast",
        "beta_slow",
        "mscale",
      ],
    );
    assert.equal(MODEL_ARGS_DEFAULTS.max_seq_len, 16384);
    assert.equal(MODEL_ARGS_DEFAULTS.scale_fmt, null);
    assert.equal(MODEL_ARGS_DEFAULTS.original_seq_len, 4096);
    assert.equal(MODEL_ARGS_DEFAULTS.rope_factor, 40);
    assert.equal(MODEL_ARGS_DEFAULTS.dim, 2048);
  });

  it("parses DeepSeek's 16B, 236B, 671B and V3.1 configs as they are", () => {
    const a16 = parseModelArgs(CONFIG_16B);
    assert.equal(a16.dim, 2048);
    assert.equal(a16.q_lora_rank, 0);
    assert.equal(a16.mscale, 0.707);
    assert.equal(a16.score_func, "softmax");
    assert.equal(a16.n_expert_groups, 1);
    assert.equal(a16.max_seq_len, 16384);
    const a236 = parseModelArgs(CONFIG_236B);
    assert.equal(a236.n_expert_groups, 8);
    assert.equal(a236.n_limited_groups, 3);
    assert.equal(a236.route_scale, 16);
    assert.equal(a236.mscale, 1);
    const a671 = parseModelArgs(CONFIG_671B);
    assert.equal(a671.score_func, "sigmoid");
    assert.equal(a671.dtype, "fp8");
    assert.equal(a671.n_dense_layers, 3);
    assert.equal(a671.scale_fmt, null);
    const v31 = parseModelArgs(CONFIG_V31);
    assert.equal(v31.scale_fmt, "ue8m0");
    // The presets are exactly these files.
    assert.deepEqual(presets["16B"].args, a16);
    assert.deepEqual(presets["236B"].args, a236);
    assert.deepEqual(presets["671B"].args, a671);
    assert.deepEqual(presets["v3.1"].args, v31);
  });

  it("reproduces the reference's softmax scales (YaRN mscale^2 when max_seq_len > original_seq_len)", () => {
    assert.ok(Math.abs(softmaxScale(presets["671B"].args) - 0.135234) < 1e-6);
    assert.ok(Math.abs(softmaxScale(presets["16B"].args) - 0.114721) < 1e-6);
    assert.ok(yarnActive(presets["671B"].args));
    assert.ok(!yarnActive(presets.tiny.args));
    assert.ok(Math.abs(softmaxScale(presets.tiny.args) - 48 ** -0.5) < 1e-12);
  });

  it("writes config.json with exactly the ModelArgs fields, and reads it back", () => {
    const a = presets["671B"].args;
    const text = modelArgsToJSON(a);
    const obj = JSON.parse(text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(obj), [...MODEL_ARGS_FIELDS]);
    assert.deepEqual(parseModelArgs(text), a);
  });

  it("rejects unknown keys by name, or warns when asked", () => {
    throwsField(
      () => parseModelArgs({ dim: 64, hidden_size: 64 }),
      "hidden_size",
      /unknown ModelArgs key/,
    );
    const warnings: string[] = [];
    const a = parseModelArgs(
      { ...JSON.parse(CONFIG_16B), foo: 1 },
      { unknownKeys: "warn", onWarning: (m) => warnings.push(m) },
    );
    assert.equal(a.dim, 2048);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /"foo"/);
  });

  it("rejects wrong types naming the field", () => {
    throwsField(() => parseModelArgs({ dim: "2048" }), "dim", /integer/);
    throwsField(() => parseModelArgs({ n_heads: 2.5 }), "n_heads", /integer/);
    throwsField(() => parseModelArgs({ route_scale: "big" }), "route_scale", /number/);
    throwsField(() => parseModelArgs({ score_func: "relu" }), "score_func", /"softmax", "sigmoid"/);
    throwsField(() => parseModelArgs({ dtype: "fp16" }), "dtype");
    throwsField(() => parseModelArgs({ scale_fmt: "e8" }), "scale_fmt");
    throwsField(() => parseModelArgs("{not json"), "(json)", /not valid JSON/);
    throwsField(() => parseModelArgs("[1, 2]"), "(json)", /object/);
  });

  const tiny = (over: Partial<ModelArgs>): ModelArgs => ({ ...presets.tiny.args, ...over });

  it("rejects inconsistent configs naming the field", () => {
    throwsField(
      () => modelArgs(tiny({ n_activated_experts: 9 })),
      "n_activated_experts",
      /n_routed_experts \(8\)/,
    );
    throwsField(() => modelArgs(tiny({ n_activated_experts: 0 })), "n_activated_experts");
    throwsField(() => modelArgs(tiny({ n_expert_groups: 3 })), "n_expert_groups", /do not divide/);
    throwsField(
      () => modelArgs(tiny({ n_limited_groups: 3 })),
      "n_limited_groups",
      /exceeds n_expert_groups/,
    );
    throwsField(
      () => modelArgs(tiny({ n_expert_groups: 4, n_limited_groups: 1, n_activated_experts: 3 })),
      "n_activated_experts",
      /kept groups/,
    );
    throwsField(() => modelArgs(tiny({ dim: 0 })), "dim", /positive/);
    throwsField(() => modelArgs(tiny({ n_heads: -4 })), "n_heads", /positive/);
    throwsField(() => modelArgs(tiny({ q_lora_rank: -1 })), "q_lora_rank");
    throwsField(() => modelArgs(tiny({ qk_rope_head_dim: 15 })), "qk_rope_head_dim", /even/);
    throwsField(() => modelArgs(tiny({ n_dense_layers: 5 })), "n_dense_layers", /exceeds n_layers/);
    throwsField(() => modelArgs(tiny({ moe_inter_dim: 0 })), "moe_inter_dim");
    throwsField(() => modelArgs(tiny({ beta_fast: 1, beta_slow: 1 })), "beta_fast");
    throwsField(() => modelArgs(tiny({ rope_factor: 0.5 })), "rope_factor");
    throwsField(() => modelArgs(tiny({ scale_fmt: "ue8m0" })), "scale_fmt", /fp8/);
    // FP8 checkpoints quantise each Linear input in 1x128 tiles: widths must be multiples of 128.
    throwsField(() => modelArgs(tiny({ dtype: "fp8" })), "kv_lora_rank", /multiple of 128/);
    throwsField(
      () =>
        modelArgs(
          tiny({
            dtype: "fp8",
            kv_lora_rank: 128,
            q_lora_rank: 128,
            inter_dim: 256,
            v_head_dim: 24,
          }),
        ),
      "v_head_dim",
      /n_heads \* v_head_dim = 96 must be a multiple of 128/,
    );
    assert.equal(
      modelArgs(tiny({ dtype: "fp8", kv_lora_rank: 128, q_lora_rank: 128, inter_dim: 256 })).dtype,
      "fp8",
    );
  });

  it("accepts q_lora_rank 0 (plain wq) and an all-dense model", () => {
    assert.equal(modelArgs(tiny({ q_lora_rank: 0 })).q_lora_rank, 0);
    const dense = modelArgs(tiny({ n_dense_layers: 4, n_routed_experts: 0, moe_inter_dim: 0 }));
    assert.ok(isDenseLayer(dense, 3));
    assert.ok(isDenseLayer(dense, 4), "an MTP block is dense when there are no experts");
    assert.ok(!isDenseLayer(presets.tiny.args, 4), "tiny's MTP block (layer 4) is MoE");
    assert.ok(isDenseLayer(presets.tiny.args, 0));
  });
});

describe("model/config: moelab settings and ModelConfig", () => {
  it("parses and validates moelab settings by field", () => {
    const s = parseMoelabSettings({ mtp_depth: 2, routing: "plain" });
    assert.equal(s.mtp_depth, 2);
    assert.equal(s.routing, "plain");
    assert.equal(s.precision, "fp32");
    throwsField(
      () => parseMoelabSettings({ precision: "fp16" }),
      "precision",
      /"fp32", "bf16", "fp8"/,
    );
    throwsField(() => parseMoelabSettings({ routing: "aux" }), "routing");
    throwsField(() => parseMoelabSettings({ init_std: 0 }), "init_std");
    throwsField(() => parseMoelabSettings({ mtp_depth: -1 }), "mtp_depth");
    throwsField(() => parseMoelabSettings({ seed: 1.5 }), "seed");
    throwsField(() => parseMoelabSettings({ lr: 1 }), "lr", /unknown moelab settings key/);
  });

  it("checks ModelArgs and settings together", () => {
    // noaux_tc scores a group by its top-2 experts: groups of one expert cannot work.
    const a = modelArgs({ ...presets.tiny.args, n_expert_groups: 8, n_limited_groups: 2 });
    throwsField(
      () => validateConfig(a, { ...presets.tiny.settings, routing: "noaux_tc" }),
      "n_expert_groups",
      /top-2/,
    );
    validateConfig(a, { ...presets.tiny.settings, routing: "plain" });
    throwsField(
      () => validateConfig(presets.tiny.args, { ...presets.tiny.settings, mtp_depth: 256 }),
      "mtp_depth",
    );
    // The MTP modules' blocks are MoE whenever there are routed experts, even when every main
    // layer is dense.
    const dense = modelArgs({ ...presets.tiny.args, n_dense_layers: 4, moe_inter_dim: 0 });
    throwsField(
      () => validateConfig(dense, presets.tiny.settings),
      "moe_inter_dim",
      /MTP module\(s\) have MoE blocks/,
    );
    validateConfig(dense, { ...presets.tiny.settings, mtp_depth: 0 });
  });

  it("names keys that are also Object.prototype's (constructor, __proto__, toString)", () => {
    for (const k of ["constructor", "toString", "__proto__"])
      throwsField(() => parseModelArgs(JSON.stringify({ [k]: 1 })), k, /unknown ModelArgs key/);
    throwsField(() => parseMoelabSettings({ valueOf: 1 }), "valueOf");
  });

  it("builds from flat fields, rejects unknown keys, and varies with .with()", () => {
    const c = ModelConfig.from({ ...presets.tiny.flat(), n_layers: 2, mtp_depth: 0 });
    assert.equal(c.args.n_layers, 2);
    assert.equal(c.settings.mtp_depth, 0);
    throwsField(
      () => ModelConfig.from({ dim: 64, n_embd: 64 } as never),
      "n_embd",
      /unknown config key/,
    );
    const d = presets.tiny.with({ dim: 96 });
    assert.equal(d.args.dim, 96);
    assert.equal(presets.tiny.args.dim, 128, "presets stay unchanged");
    assert.throws(() => ((presets.tiny.args as ModelArgs).dim = 1), TypeError);
    assert.equal(resolveConfig("tiny").args.dim, 128);
    assert.equal(resolveConfig("small", { n_layers: 2 }).args.n_layers, 2);
    assert.equal(resolveConfig({ ...presets.small.flat() }).args.dim, 256);
    throwsField(() => preset("huge" as never), "preset", /unknown preset "huge"/);
    throwsField(
      () => resolveConfig({ ...presets.tiny.flat(), n_limited_groups: 5 }),
      "n_limited_groups",
    );
  });

  it("round-trips through config.json + moelab.json", () => {
    for (const c of Object.values(presets)) {
      const back = ModelConfig.fromJSON(c.configJson(), c.moelabJson());
      assert.deepEqual(back.args, c.args);
      assert.deepEqual(back.settings, c.settings);
    }
  });

  it("infers what DeepSeek's reference does for a bare config.json", () => {
    // fromJSON without moelab.json: DeepSeek's own config, as its reference runs it.
    const v2 = ModelConfig.fromJSON(CONFIG_236B);
    assert.equal(v2.settings.routing, "plain");
    assert.equal(v2.settings.mtp_depth, 0);
    assert.equal(ModelConfig.fromJSON(CONFIG_671B).settings.routing, "noaux_tc");
    assert.equal(settingsForDeepSeek(parseModelArgs(CONFIG_671B)).routing, "noaux_tc");
    assert.equal(settingsForDeepSeek(parseModelArgs(CONFIG_236B)).routing, "plain");
    assert.equal(settingsForDeepSeek(parseModelArgs(CONFIG_16B)).mtp_depth, 0);
  });

  it("displays itself in Jupyter as text/plain and text/html", () => {
    const c = presets["671B"] as unknown as Record<symbol, () => Record<string, string>>;
    const bundle = c[Symbol.for("Jupyter.display")]();
    assert.match(bundle["text/plain"], /671\.03B params \(36\.63B activated per token\)/);
    assert.match(bundle["text/plain"], /moe\.experts \(routed\)/);
    assert.match(bundle["text/html"], /<table>/);
    assert.match(bundle["text/html"], /<code>n_routed_experts<\/code>/);
    assert.ok(!bundle["text/html"].includes("<script"), "no scripts needed");
  });
});
