import { strict as assert } from "node:assert";
import {
  countParams,
  humanCount,
  kvCacheSizes,
  presets,
  type ModelConfig,
} from "../../../lib/config/index.js";
import { expectedTensors } from "../../../lib/io/index.js";

function near(actual: number, expected: number, relTol: number, what: string): void {
  const rel = Math.abs(actual - expected) / expected;
  assert.ok(
    rel <= relTol,
    `${what}: ${actual} is ${(rel * 100).toFixed(2)}% from ${expected} (tolerance ${relTol * 100}%)`,
  );
}

/** The number of elements of every tensor the checkpoint naming expects (scales excluded). */
function namedCount(c: ModelConfig): { main: number; mtp: number } {
  let main = 0;
  let mtp = 0;
  for (const t of expectedTensors(c.args, c.settings, "deepseek")) {
    if (t.kind === "scale") continue;
    const n = t.shape.reduce((x, y) => x * y, 1);
    const L = /^layers\.(\d+)\./.exec(t.name);
    if (L && Number(L[1]) >= c.args.n_layers) mtp += n;
    else main += n;
  }
  return { main, mtp };
}

describe("model/params: parameter counts without weights", function () {
  this.timeout(30000);
  // README_WEIGHTS (9b4e978): 671B total, 36.7B activated; the paper: 37B activated. Counting the
  // embedding lookup as activated would give 37.55B, so DeepSeek's figure leaves it out.
  it("671B: 671B total and 36.7B activated (README_WEIGHTS), about 37B (paper)", () => {
    const p = presets["671B"].params();
    near(p.total, 671e9, 0.001, "total");
    near(p.activated, 36.7e9, 0.003, "activated (embedding excluded)");
    near(p.activated, 37e9, 0.02, "activated vs the paper's 37B");
    // MTP: README_WEIGHTS gives 11.5B unique parameters (embedding and head shared).
    near(p.mtpTotal, 11.5e9, 0.015, "MTP unique");
    assert.equal(p.totalWithMtp, p.total + p.mtpTotal);
    assert.equal(p.activatedWithMtp, p.activated + p.mtpActivated);
    assert.equal(p.embedding, 129280 * 7168);
    assert.equal(p.activatedWithEmbedding, p.activated + p.embedding);
  });

  it("236B (V2: 236B / 21B) and 16B (V2-Lite: 15.7B / 2.4B)", () => {
    const v2 = presets["236B"].params();
    near(v2.total, 236e9, 0.002, "236B total");
    near(v2.activated, 21e9, 0.01, "236B activated");
    assert.equal(v2.mtpTotal, 0);
    const lite = presets["16B"].params();
    near(lite.total, 15.7e9, 0.001, "16B total");
    near(lite.activated, 2.4e9, 0.025, "16B activated");
  });

  it("agrees exactly with the tensors the checkpoint naming lists, for every preset", () => {
    for (const [name, c] of Object.entries(presets)) {
      const p = c.params();
      const n = namedCount(c);
      assert.equal(n.main, p.total, `${name} main`);
      assert.equal(n.mtp, p.mtpTotal, `${name} MTP`);
    }
    const noBias = presets.tiny.with({ routing: "plain", q_lora_rank: 0, mtp_depth: 2 });
    const n = namedCount(noBias);
    assert.equal(n.main, noBias.params().total);
    assert.equal(n.mtp, noBias.params().mtpTotal);
  });

  it("counts the gate bias only with noaux_tc routing", () => {
    const a = presets.tiny.params().total;
    const b = presets.tiny.with({ routing: "plain" }).params().total;
    const moeLayers = presets.tiny.args.n_layers - presets.tiny.args.n_dense_layers;
    assert.equal(a - b, moeLayers * presets.tiny.args.n_routed_experts);
  });

  it("computes tiny by hand", () => {
    const c = presets.tiny.args;
    const attn = 128 + 128 * 64 + 64 + 64 * 4 * 48 + 128 * 48 + 32 + 32 * 4 * 64 + 4 * 32 * 128;
    const dense = 128 + 3 * 128 * 384;
    const moe = 128 + 8 * 128 + 8 + 3 * 128 * 128 + 8 * 3 * 128 * 128;
    const total = 2 * 512 * 128 + 4 * attn + dense + 3 * moe + 128;
    const p = countParams(c, presets.tiny.settings);
    assert.equal(p.total, total);
    const activeMoe = 128 + 8 * 128 + 8 + 3 * 128 * 128 + 2 * 3 * 128 * 128;
    assert.equal(p.activated, 512 * 128 + 4 * attn + dense + 3 * activeMoe + 128);
    // tiny is meant to train in minutes on 2 cores: keep it small.
    assert.ok(p.total < 3e6 && p.activated < 1.5e6);
    const s = presets.small.params();
    assert.ok(s.total > 2e6 && s.total < 2e7, `small has ${s.total}`);
  });

  it("prints a per-module table", () => {
    const t = presets.tiny.paramTable();
    for (const row of [
      "embed",
      "attn (MLA)",
      "ffn (dense MLP)",
      "moe.experts (routed)",
      "moe.shared_experts",
      "head",
      "mtp.proj",
      "total with MTP",
    ])
      assert.ok(t.includes(row), `table lacks ${row}:\n${t}`);
    assert.equal(humanCount(671026419200), "671.03B");
    assert.equal(humanCount(1234), "1.23K");
    assert.equal(humanCount(12), "12");
  });
});

describe("model/params: KV cache sizes", () => {
  it("671B: MLA caches 576 elements per token and layer, 1.76% of MHA's 32768 (DeepSeek-V2 Table 1)", () => {
    const k = kvCacheSizes(presets["671B"].args);
    assert.equal(k.mla, 576);
    assert.equal(k.mha, 32768);
    assert.equal(k.naive, 128 * (192 + 128));
    assert.equal(k.gqa, 2 * 8 * 128);
    assert.equal(k.mqa, 256);
    assert.ok(Math.abs(k.mla / k.mha - 0.0176) < 0.0001);
    assert.match(presets["671B"].toString(), /MLA 576 elements \(1\.76% of MHA's 32768/);
    assert.equal(kvCacheSizes(presets.tiny.args, 16).groups, 4, "no more groups than heads");
  });
});
