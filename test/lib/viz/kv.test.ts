/** KV-cache elements per token: MLA vs MHA, GQA, MQA for a model and DeepSeek's configs. */
import { strict as assert } from "node:assert";
import { presets } from "../../../lib/config/index.js";
import { kvCacheFigure, kvRow } from "../../../lib/viz/index.js";
import { model } from "../inspect/fixtures.js";

describe("viz kv cache", () => {
  it("DeepSeek-V3: 576 latent elements per layer against 32,768 for MHA", () => {
    const v3 = kvRow("V3", presets["671B"].args);
    assert.deepEqual(v3, {
      name: "V3",
      layers: 61,
      mla: 576 * 61,
      mha: 2 * 128 * 128 * 61,
      gqa: 2 * 8 * 128 * 61,
      mqa: 2 * 128 * 61,
      groups: 8,
    });
  });

  it("grouped bars: the model's own config first, then V2-Lite, V2, V3", () => {
    const f = kvCacheFigure(presets.tiny);
    assert.deepEqual(
      f.spec.data.map((t) => t.name),
      ["MLA (c_kv + k_pe)", "MHA", "GQA", "MQA"],
    );
    assert.deepEqual(f.spec.data[0].x, [
      'this model ("tiny")',
      "DeepSeek-V2-Lite",
      "DeepSeek-V2",
      "DeepSeek-V3",
    ]);
    // tiny: 4 layers, kv_lora 32 + rope 16; 4 heads of v 32 (GQA groups capped at the 4 heads).
    assert.deepEqual(
      f.spec.data.map((t) => (t.y as number[])[0]),
      [48 * 4, 2 * 4 * 32 * 4, 2 * 4 * 32 * 4, 2 * 32 * 4],
    );
    assert.equal((f.spec.data[0].y as number[])[3], 35136);
    assert.equal(f.spec.layout.barmode, "group");
    assert.match(
      f.summary,
      /DeepSeek-V3 \(61 layers\): MLA 35,136, MHA 1,998,848, GQA-8 124,928, MQA 15,616; MLA is 1.76% of MHA/,
    );
    assert.deepEqual(kvCacheFigure().spec.data[0].x, [
      "DeepSeek-V2-Lite",
      "DeepSeek-V2",
      "DeepSeek-V3",
    ]);
  });

  it("a live model's own config", () => {
    // The fixture: 3 layers, kv_lora 16 + rope 8; 2 heads of v 8.
    const f = kvCacheFigure(model());
    assert.equal((f.spec.data[0].x as string[])[0], "this model");
    assert.deepEqual(
      f.spec.data.map((t) => (t.y as number[])[0]),
      [24 * 3, 2 * 2 * 8 * 3, 2 * 2 * 8 * 3, 2 * 8 * 3],
    );
  });
});
