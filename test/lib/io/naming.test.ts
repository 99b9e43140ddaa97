import { strict as assert } from "node:assert";
import {
  CheckpointError,
  assertTensors,
  checkTensors,
  expectedTensors,
  fromHFName,
  scaleShape,
  toHFName,
  type Dtype,
  type FoundTensor,
} from "../../../lib/io/index.js";
import { presets, type ModelConfig } from "../../../lib/config/index.js";

/**
 * DeepSeek's convert.py renaming (HF -> reference), restated independently for names outside
 * the MTP layer: strip "model.", rename self_attn/mlp/weight_scale_inv/e_score_correction_bias,
 * then map the module (second-to-last segment).
 */
const CONVERT_MAP: Record<string, string> = {
  embed_tokens: "embed",
  input_layernorm: "attn_norm",
  post_attention_layernorm: "ffn_norm",
  q_proj: "wq",
  q_a_proj: "wq_a",
  q_a_layernorm: "q_norm",
  q_b_proj: "wq_b",
  kv_a_proj_with_mqa: "wkv_a",
  kv_a_layernorm: "kv_norm",
  kv_b_proj: "wkv_b",
  o_proj: "wo",
  gate: "gate",
  gate_proj: "w1",
  down_proj: "w2",
  up_proj: "w3",
  norm: "norm",
  lm_head: "head",
  scale: "scale",
};
function convertPy(name: string): string {
  let n = name.startsWith("model.") ? name.slice(6) : name;
  n = n
    .replace("self_attn", "attn")
    .replace("mlp", "ffn")
    .replace("weight_scale_inv", "scale")
    .replace("e_score_correction_bias", "bias");
  const parts = n.split(".");
  const key = parts[parts.length - 2];
  assert.ok(key in CONVERT_MAP, `convert.py has no mapping for ${key}`);
  return n.replace(key, CONVERT_MAP[key]);
}

function names(c: ModelConfig, layout: "deepseek" | "hf" = "deepseek"): Map<string, number[]> {
  return new Map(expectedTensors(c.args, c.settings, layout).map((t) => [t.name, t.shape]));
}

describe("io/naming: expected tensors", function () {
  this.timeout(30000);
  it("lists the reference layout of tiny with shapes", () => {
    const n = names(presets.tiny);
    assert.deepEqual(n.get("embed.weight"), [512, 128]);
    assert.deepEqual(n.get("layers.0.attn_norm.weight"), [128]);
    assert.deepEqual(n.get("layers.0.attn.wq_a.weight"), [64, 128]);
    assert.deepEqual(n.get("layers.0.attn.q_norm.weight"), [64]);
    assert.deepEqual(n.get("layers.0.attn.wq_b.weight"), [4 * 48, 64]);
    assert.deepEqual(n.get("layers.0.attn.wkv_a.weight"), [32 + 16, 128]);
    assert.deepEqual(n.get("layers.0.attn.kv_norm.weight"), [32]);
    assert.deepEqual(n.get("layers.0.attn.wkv_b.weight"), [4 * (32 + 32), 32]);
    assert.deepEqual(n.get("layers.0.attn.wo.weight"), [128, 4 * 32]);
    assert.deepEqual(n.get("layers.0.ffn.w1.weight"), [384, 128]);
    assert.deepEqual(n.get("layers.0.ffn.w2.weight"), [128, 384]);
    assert.ok(!n.has("layers.0.ffn.gate.weight"), "layer 0 is dense");
    assert.deepEqual(n.get("layers.1.ffn.gate.weight"), [8, 128]);
    assert.deepEqual(n.get("layers.1.ffn.gate.bias"), [8]);
    assert.deepEqual(n.get("layers.3.ffn.experts.7.w3.weight"), [128, 128]);
    assert.deepEqual(n.get("layers.3.ffn.shared_experts.w2.weight"), [128, 128]);
    // MTP module 0 is layer n_layers = 4.
    assert.deepEqual(n.get("layers.4.enorm.weight"), [128]);
    assert.deepEqual(n.get("layers.4.hnorm.weight"), [128]);
    assert.deepEqual(n.get("layers.4.eh_proj.weight"), [128, 256]);
    assert.deepEqual(n.get("layers.4.shared_head.norm.weight"), [128]);
    assert.deepEqual(n.get("layers.4.ffn.experts.0.w1.weight"), [128, 128]);
    assert.ok(!n.has("layers.5.enorm.weight"));
    assert.deepEqual(n.get("norm.weight"), [128]);
    assert.deepEqual(n.get("head.weight"), [512, 128]);
    assert.ok(
      ![...n.keys()].some((k) => k.endsWith(".scale")),
      "no FP8 scales in a bf16 checkpoint",
    );
    const perLayer = 1 + 7 + 1; // attn_norm, 7 attention tensors, ffn_norm
    const moe = 2 + 8 * 3 + 3;
    assert.equal(n.size, 1 + 4 * perLayer + 3 + 3 * moe + (4 + perLayer + moe) + 2);
  });

  it("follows the config: q_lora_rank 0, routing without bias, no MTP", () => {
    const n = names(presets.tiny.with({ q_lora_rank: 0, routing: "plain", mtp_depth: 0 }));
    assert.deepEqual(n.get("layers.0.attn.wq.weight"), [4 * 48, 128]);
    assert.ok(!n.has("layers.0.attn.wq_a.weight") && !n.has("layers.0.attn.q_norm.weight"));
    assert.ok(!n.has("layers.1.ffn.gate.bias"));
    assert.ok(!n.has("layers.4.enorm.weight"));
  });

  it("lists FP8 weights with their 128x128 block scales (671B)", () => {
    const ts = expectedTensors(presets["671B"].args, presets["671B"].settings);
    const byName = new Map(ts.map((t) => [t.name, t]));
    const wq_a = byName.get("layers.0.attn.wq_a.weight")!;
    assert.ok(wq_a.fp8);
    assert.deepEqual(byName.get("layers.0.attn.wq_a.scale")!.shape, [12, 56]);
    assert.deepEqual(byName.get("layers.0.attn.wkv_a.scale")!.shape, scaleShape(576, 7168));
    assert.deepEqual(scaleShape(576, 7168), [5, 56]);
    assert.deepEqual(byName.get("layers.5.ffn.experts.255.w2.scale")!.shape, [56, 16]);
    for (const hi of [
      "embed.weight",
      "head.weight",
      "layers.5.ffn.gate.weight",
      "layers.0.attn.kv_norm.weight",
      "layers.61.eh_proj.weight",
    ]) {
      assert.ok(!byName.get(hi)!.fp8, `${hi} stays high precision`);
      assert.ok(!byName.has(hi.replace(/weight$/, "scale")), `${hi} has no scale`);
    }
    assert.deepEqual(byName.get("layers.5.ffn.gate.bias")!.shape, [256]);
    assert.ok(byName.has("layers.61.shared_head.norm.weight"));
    assert.ok(!byName.has("layers.62.enorm.weight"));
  });

  it("maps every name to HF and back, for every preset", function () {
    this.timeout(30000);
    // The large presets repeat the same layer structure: check their first, last and MTP layers.
    const sampled = (c: ModelConfig, name: string): boolean => {
      const m = /^layers\.(\d+)\./.exec(name);
      return !m || c.args.n_layers < 8 || Number(m[1]) < 4 || Number(m[1]) >= c.args.n_layers - 1;
    };
    for (const c of [
      presets.tiny,
      presets.small,
      presets["16B"],
      presets["236B"],
      presets["671B"],
      presets.tiny.with({ mtp_depth: 3, q_lora_rank: 0 }),
    ]) {
      for (const t of expectedTensors(c.args, c.settings)) {
        if (!sampled(c, t.name)) continue;
        const hf = toHFName(t.name, c.args);
        assert.equal(fromHFName(hf, c.args), t.name, `${t.name} -> ${hf}`);
        // convert.py's own rules agree, outside the MTP layer it skips.
        const L = /^model\.layers\.(\d+)\./.exec(hf);
        if (!L || Number(L[1]) < c.args.n_layers) assert.equal(convertPy(hf), t.name, hf);
      }
    }
  });

  it("uses DeepSeek's released HF names", () => {
    const a = presets["671B"].args;
    const cases: [string, string][] = [
      ["model.embed_tokens.weight", "embed.weight"],
      ["lm_head.weight", "head.weight"],
      ["model.norm.weight", "norm.weight"],
      ["model.layers.0.self_attn.q_a_proj.weight_scale_inv", "layers.0.attn.wq_a.scale"],
      ["model.layers.0.self_attn.kv_a_proj_with_mqa.weight", "layers.0.attn.wkv_a.weight"],
      ["model.layers.0.self_attn.kv_a_layernorm.weight", "layers.0.attn.kv_norm.weight"],
      ["model.layers.0.mlp.down_proj.weight", "layers.0.ffn.w2.weight"],
      ["model.layers.3.mlp.gate.e_score_correction_bias", "layers.3.ffn.gate.bias"],
      [
        "model.layers.3.mlp.experts.17.gate_proj.weight_scale_inv",
        "layers.3.ffn.experts.17.w1.scale",
      ],
      [
        "model.layers.60.mlp.shared_experts.up_proj.weight",
        "layers.60.ffn.shared_experts.w3.weight",
      ],
      ["model.layers.61.eh_proj.weight", "layers.61.eh_proj.weight"],
      ["model.layers.61.enorm.weight", "layers.61.enorm.weight"],
      ["model.layers.61.shared_head.norm.weight", "layers.61.shared_head.norm.weight"],
      ["model.layers.61.input_layernorm.weight", "layers.61.attn_norm.weight"],
    ];
    for (const [hf, ds] of cases) assert.equal(fromHFName(hf, a), ds, hf);
    // The release's copies of the shared embedding and head map to nothing (they are tied).
    assert.equal(fromHFName("model.layers.61.embed_tokens.weight", a), null);
    assert.equal(fromHFName("model.layers.61.shared_head.head.weight", a), null);
    const hf = expectedTensors(a, presets["671B"].settings, "hf");
    const copy = hf.find((t) => t.name === "model.layers.61.shared_head.head.weight")!;
    assert.equal(copy.tiedTo, "lm_head.weight");
    assert.ok(hf.some((t) => t.name === "model.layers.61.self_attn.o_proj.weight_scale_inv"));
  });

  it("rejects names outside the layout by name", () => {
    const a = presets.tiny.args;
    for (const bad of [
      "layers.0.attn.wz.weight",
      "embed.bias",
      "layers.x.attn_norm.weight",
      "layers.0.ffn.experts.1.w4.weight",
      "layers.0.enorm.weight",
      "layers.0.attn.kv_norm.scale",
    ])
      assert.throws(
        () => toHFName(bad, a),
        (e: Error) => e instanceof CheckpointError && e.message.includes(`"${bad}"`),
      );
    for (const bad of [
      "model.layers.0.self_attn.q_proj.bias",
      "transformer.h.0.attn.weight",
      "model.layers.0.embed_tokens.weight",
    ])
      assert.throws(
        () => fromHFName(bad, a),
        (e: Error) => e instanceof CheckpointError && e.message.includes(`"${bad}"`),
      );
  });
});

describe("io/naming: checking a checkpoint against a config", () => {
  const c = presets.tiny.with({ mtp_depth: 0 });
  const expected = expectedTensors(c.args, c.settings);
  const full = (): Map<string, FoundTensor> =>
    new Map(expected.map((t) => [t.name, { dtype: "F32" as Dtype, shape: t.shape }]));

  it("accepts a complete checkpoint in F32, BF16 or F16", () => {
    assertTensors(expected, full());
    const bf = new Map([...full()].map(([n, t]) => [n, { ...t, dtype: "BF16" as Dtype }]));
    assertTensors(expected, bf);
  });

  it("reports missing, extra, mis-shaped and mis-typed tensors by name", () => {
    const f = full();
    f.delete("layers.2.ffn.experts.3.w1.weight");
    f.set("layers.9.attn.wo.weight", { dtype: "F32", shape: [1] });
    f.set("layers.0.attn.wkv_b.weight", { dtype: "F32", shape: [256, 33] });
    f.set("layers.1.ffn.gate.bias", { dtype: "I32", shape: [8] });
    const r = checkTensors(expected, f);
    assert.deepEqual(r.missing, ["layers.2.ffn.experts.3.w1.weight"]);
    assert.deepEqual(r.extra, ["layers.9.attn.wo.weight"]);
    assert.deepEqual(r.misshaped, [
      { name: "layers.0.attn.wkv_b.weight", expected: [256, 32], actual: [256, 33] },
    ]);
    assert.equal(r.wrongDtype[0].name, "layers.1.ffn.gate.bias");
    assert.throws(
      () => assertTensors(expected, f, "ckpt/model0-mp1.safetensors"),
      (e: Error) =>
        e instanceof CheckpointError &&
        e.message.startsWith("ckpt/model0-mp1.safetensors does not match") &&
        e.message.includes("missing tensors (1):\n  layers.2.ffn.experts.3.w1.weight") &&
        e.message.includes("unexpected tensors (1):\n  layers.9.attn.wo.weight") &&
        e.message.includes("layers.0.attn.wkv_b.weight: expected [256, 32], found [256, 33]") &&
        e.message.includes("layers.1.ffn.gate.bias: expected F32 | BF16 | F16 | F64, found I32"),
    );
  });

  it("requires F8_E4M3 weights and F32 scales in an FP8 checkpoint", () => {
    const fp8 = presets.tiny.with({
      dtype: "fp8",
      kv_lora_rank: 128,
      q_lora_rank: 128,
      inter_dim: 256,
      mtp_depth: 0,
    });
    const ex = expectedTensors(fp8.args, fp8.settings);
    const found = new Map<string, FoundTensor>(
      ex.map((t) => [t.name, { dtype: t.fp8 ? "F8_E4M3" : "F32", shape: t.shape }]),
    );
    assertTensors(ex, found);
    found.set("layers.0.attn.wo.weight", { dtype: "BF16", shape: [128, 128] });
    assert.throws(
      () => assertTensors(ex, found),
      /layers\.0\.attn\.wo\.weight: expected F8_E4M3, found BF16/,
    );
  });

  it("lists many problems without flooding", () => {
    const r = new Map<string, FoundTensor>();
    assert.throws(
      () => assertTensors(expected, r),
      (e: Error) =>
        /missing tensors \(\d+\)/.test(e.message) && /\.\.\. and \d+ more/.test(e.message),
    );
  });
});
