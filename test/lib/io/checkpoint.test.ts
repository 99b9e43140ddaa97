import { strict as assert } from "node:assert";
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CheckpointError,
  SafetensorsFile,
  expectedTensors,
  loadCheckpoint,
  readSafetensors,
  saveCheckpoint,
  writeSafetensors,
  type TensorEntry,
} from "../../../lib/io/index.js";
import { ModelConfig, presets } from "../../../lib/config/index.js";

/** Every expected tensor filled with distinct bit patterns (FP8 codes for FP8 weights). */
function fill(c: ModelConfig): Map<string, TensorEntry> {
  const m = new Map<string, TensorEntry>();
  let k = 1;
  for (const t of expectedTensors(c.args, c.settings)) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.fp8)
      m.set(t.name, {
        dtype: "F8_E4M3",
        shape: t.shape,
        data: new Uint8Array(n).map((_, i) => (i * 7 + k) & 0x7e),
      });
    else
      m.set(t.name, {
        dtype: "F32",
        shape: t.shape,
        data: new Float32Array(n).map((_, i) => Math.sin(i + k)),
      });
    k++;
  }
  return m;
}

function sameTensors(a: Map<string, TensorEntry>, b: Map<string, TensorEntry>): void {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  for (const [n, t] of a) {
    const u = b.get(n)!;
    assert.equal(u.dtype, t.dtype, n);
    assert.deepEqual(u.shape, t.shape, n);
    assert.deepEqual(
      new Uint8Array(u.data.buffer, u.data.byteOffset, u.data.byteLength),
      new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
      n,
    );
  }
}

describe("io/checkpoint: checkpoint directories", function () {
  this.timeout(30000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "moelab-ckpt-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("round-trips the DeepSeek layout bit-exactly with config.json (ModelArgs only) and moelab.json", async () => {
    const c = presets.tiny;
    const t = fill(c);
    const d = join(dir, "ds");
    await saveCheckpoint(d, c, t);
    assert.ok(existsSync(join(d, "model0-mp1.safetensors")));
    assert.deepEqual(
      JSON.parse(readFileSync(join(d, "config.json"), "utf8")),
      JSON.parse(c.configJson()),
    );
    const back = await loadCheckpoint(d);
    assert.equal(back.layout, "deepseek");
    assert.deepEqual(back.config.args, c.args);
    assert.deepEqual(back.config.settings, c.settings);
    sameTensors(t, back.tensors);
  });

  it("round-trips the Hugging Face layout, with the MTP layer's copies of embedding and head", async () => {
    const c = presets.tiny.with({ mtp_depth: 2 });
    const t = fill(c);
    const d = join(dir, "hf");
    await saveCheckpoint(d, c, t, { layout: "hf" });
    const f = await SafetensorsFile.open(join(d, "model.safetensors"));
    assert.ok(f.has("model.layers.1.self_attn.kv_a_proj_with_mqa.weight"));
    assert.ok(f.has("model.layers.1.mlp.gate.e_score_correction_bias"));
    assert.ok(
      f.has("model.layers.5.embed_tokens.weight") &&
        f.has("model.layers.5.shared_head.head.weight"),
    );
    await f.close();
    const hfCfg = JSON.parse(readFileSync(join(d, "config.json"), "utf8"));
    assert.equal(hfCfg.num_nextn_predict_layers, 2);
    assert.equal(hfCfg.hidden_size, 128);
    const back = await loadCheckpoint(d);
    assert.equal(back.layout, "hf");
    assert.deepEqual(back.config.settings, c.settings);
    for (const field of Object.keys(c.args) as (keyof typeof c.args)[])
      if (field !== "max_batch_size")
        assert.deepEqual(back.config.args[field], c.args[field], field);
    sameTensors(t, back.tensors);
  });

  it("stores FP8 weights with .scale (reference) and .weight_scale_inv (HF)", async () => {
    const c = ModelConfig.from({
      ...presets.tiny.flat(),
      dtype: "fp8",
      kv_lora_rank: 128,
      q_lora_rank: 128,
      inter_dim: 256,
      n_layers: 2,
      mtp_depth: 1,
    });
    const t = fill(c);
    assert.ok(t.has("layers.0.attn.wq_a.scale"));
    await saveCheckpoint(join(dir, "fp8"), c, t);
    await saveCheckpoint(join(dir, "fp8hf"), c, t, { layout: "hf" });
    const ds = await readSafetensors(join(dir, "fp8", "model0-mp1.safetensors"), {
      names: ["layers.0.attn.wq_a.weight", "layers.0.attn.wq_a.scale"],
    });
    assert.equal(ds.tensors.get("layers.0.attn.wq_a.weight")!.dtype, "F8_E4M3");
    const hf = await SafetensorsFile.open(join(dir, "fp8hf", "model.safetensors"));
    assert.deepEqual(
      hf.info("model.layers.1.mlp.experts.3.down_proj.weight_scale_inv").shape,
      [1, 1],
    );
    await hf.close();
    assert.deepEqual(
      JSON.parse(readFileSync(join(dir, "fp8hf", "config.json"), "utf8")).quantization_config
        .weight_block_size,
      [128, 128],
    );
    sameTensors(t, (await loadCheckpoint(join(dir, "fp8"))).tensors);
    sameTensors(t, (await loadCheckpoint(join(dir, "fp8hf"))).tensors);
  });

  it("reads a bare DeepSeek directory (no moelab.json) inferring MTP depth and routing from the names", async () => {
    const c = presets.tiny.with({ routing: "plain", mtp_depth: 1 });
    const d = join(dir, "bare");
    await saveCheckpoint(d, c, fill(c));
    unlinkSync(join(d, "moelab.json"));
    const back = await loadCheckpoint(d);
    assert.equal(back.config.settings.mtp_depth, 1);
    assert.equal(back.config.settings.routing, "plain");
  });

  it("reads sharded HF checkpoints through model.safetensors.index.json", async () => {
    const c = presets.tiny.with({ mtp_depth: 0, n_layers: 2 });
    const d = join(dir, "sharded");
    await saveCheckpoint(d, c, fill(c), { layout: "hf" });
    const all = (await readSafetensors(join(d, "model.safetensors"))).tensors;
    unlinkSync(join(d, "model.safetensors"));
    const names = [...all.keys()];
    const a = new Map(names.slice(0, 20).map((n) => [n, all.get(n)!]));
    const b = new Map(names.slice(20).map((n) => [n, all.get(n)!]));
    await writeSafetensors(join(d, "model-00001-of-00002.safetensors"), a);
    await writeSafetensors(join(d, "model-00002-of-00002.safetensors"), b);
    const weightMap = Object.fromEntries([
      ...names.slice(0, 20).map((n) => [n, "model-00001-of-00002.safetensors"]),
      ...names.slice(20).map((n) => [n, "model-00002-of-00002.safetensors"]),
    ]);
    writeFileSync(
      join(d, "model.safetensors.index.json"),
      JSON.stringify({ metadata: {}, weight_map: weightMap }),
    );
    sameTensors(fill(c), (await loadCheckpoint(d)).tensors);
    // A shard outside the directory is refused, not opened.
    writeFileSync(
      join(d, "model.safetensors.index.json"),
      JSON.stringify({
        weight_map: { ...weightMap, "lm_head.weight": "../elsewhere.safetensors" },
      }),
    );
    await assert.rejects(
      loadCheckpoint(d),
      /shard "..\/elsewhere.safetensors" must be a file name in the checkpoint directory/,
    );
  });

  it("names missing, extra and mis-shaped tensors, on save and on load", async () => {
    const c = presets.tiny.with({ mtp_depth: 0 });
    const t = fill(c);
    t.delete("layers.1.ffn.experts.2.w2.weight");
    await assert.rejects(
      saveCheckpoint(join(dir, "bad"), c, t),
      (e: Error) =>
        e instanceof CheckpointError && e.message.includes("layers.1.ffn.experts.2.w2.weight"),
    );
    // A file written behind moelab's back with a wrong shape and an extra tensor.
    const d = join(dir, "bad2");
    await saveCheckpoint(d, c, fill(c));
    const good = (await readSafetensors(join(d, "model0-mp1.safetensors"))).tensors;
    good.set("layers.0.attn.wo.weight", {
      dtype: "F32",
      shape: [128, 127],
      data: new Float32Array(128 * 127),
    });
    good.set("layers.0.attn.extra.weight", { dtype: "F32", shape: [1], data: new Float32Array(1) });
    await writeSafetensors(join(d, "model0-mp1.safetensors"), good);
    await assert.rejects(
      loadCheckpoint(d),
      (e: Error) =>
        e instanceof CheckpointError &&
        e.message.includes("layers.0.attn.wo.weight: expected [128, 128], found [128, 127]") &&
        e.message.includes("layers.0.attn.extra.weight"),
    );
    await assert.rejects(loadCheckpoint(join(dir, "nowhere")), /no config\.json/);
  });

  it("names an HF checkpoint's missing, extra and mis-shaped tensors by their HF names", async () => {
    const c = presets.tiny.with({ n_layers: 2, mtp_depth: 0 });
    const d = join(dir, "hfbad");
    await saveCheckpoint(d, c, fill(c), { layout: "hf" });
    const all = (await readSafetensors(join(d, "model.safetensors"))).tensors;
    all.delete("model.layers.0.self_attn.q_a_proj.weight");
    all.set("model.layers.1.self_attn.o_proj.weight", {
      dtype: "F32",
      shape: [3, 3],
      data: new Float32Array(9),
    });
    await writeSafetensors(join(d, "model.safetensors"), all);
    await assert.rejects(loadCheckpoint(d), (e: Error) => {
      assert.match(
        e.message,
        /missing tensors \(1\):\n {2}model\.layers\.0\.self_attn\.q_a_proj\.weight/,
      );
      assert.match(
        e.message,
        /model\.layers\.1\.self_attn\.o_proj\.weight: expected \[128, 128\], found \[3, 3\]/,
      );
      return true;
    });
    // A copy of the embedding or head outside the MTP layers is extra, not a tied copy.
    await saveCheckpoint(d, c, fill(c), { layout: "hf" });
    const again = (await readSafetensors(join(d, "model.safetensors"))).tensors;
    again.set("model.layers.9.shared_head.head.weight", again.get("lm_head.weight")!);
    await writeSafetensors(join(d, "model.safetensors"), again);
    await assert.rejects(
      loadCheckpoint(d),
      /unexpected tensors \(1\):\n {2}model\.layers\.9\.shared_head\.head\.weight/,
    );
  });

  it("refuses an HF checkpoint whose MTP copy of the head differs from lm_head", async () => {
    const c = presets.tiny.with({ n_layers: 2 });
    const d = join(dir, "tied");
    await saveCheckpoint(d, c, fill(c), { layout: "hf" });
    const all = (await readSafetensors(join(d, "model.safetensors"))).tensors;
    all.set("model.layers.2.shared_head.head.weight", {
      dtype: "F32",
      shape: [512, 128],
      data: new Float32Array(512 * 128),
    });
    await writeSafetensors(join(d, "model.safetensors"), all);
    await assert.rejects(
      loadCheckpoint(d),
      /shared_head\.head\.weight" differs from the main model's lm_head\.weight/,
    );
  });
});
