/** Attention pattern and latent KV figures: values and token labels. */
import { strict as assert } from "node:assert";
import { AttentionPatterns, LatentKVView, latentKV } from "../../../lib/inspect/index.js";
import { attentionFigure, latentFigure } from "../../../lib/viz/index.js";
import { TOKS, model } from "../inspect/fixtures.js";

describe("viz attention", () => {
  it("layers x heads pattern heatmaps with token labels", () => {
    const a = new AttentionPatterns(
      ["0: x", "1: y"],
      [
        {
          layer: 0,
          name: "blocks.0.attn",
          pattern: [
            [
              [1, 0],
              [0.25, 0.75],
            ],
            [
              [1, 0],
              [0.5, 0.5],
            ],
          ],
        },
        {
          layer: 2,
          name: "blocks.2.attn",
          pattern: [
            [
              [1, 0],
              [0, 1],
            ],
            [
              [1, 0],
              [1, 0],
            ],
          ],
        },
      ],
    );
    const f = attentionFigure(a);
    assert.equal(f.spec.data.length, 4);
    assert.deepEqual(f.spec.data[1].z, [
      [1, 0],
      [0.5, 0.5],
    ]);
    assert.deepEqual(f.spec.data[3].z, [
      [1, 0],
      [1, 0],
    ]);
    assert.equal(f.spec.data[3].xaxis, "x4");
    assert.deepEqual(f.spec.data[0].x, ["0: x", "1: y"]);
    assert.deepEqual([f.spec.data[0].zmin, f.spec.data[0].zmax], [0, 1]);
    const lay = f.spec.layout as Record<string, unknown>;
    assert.deepEqual(lay.grid, { rows: 2, columns: 2, pattern: "independent" });
    assert.equal(
      (lay.xaxis3 as { title: { text: string } }).title.text,
      "blocks.2.attn head 0 (keys)",
    );
    // Mean entropy (bits): layer 0 head 0 (0 + H(0.25, 0.75)) / 2, head 1 (0 + 1) / 2.
    assert.match(f.summary, /blocks.0.attn: 0.406 0.500\n {2}blocks.2.attn: 0.000 0.000/);
  });

  it("latent c_kv: norms per token and principal projections", () => {
    const v = new LatentKVView(["0: x", "1: y", "2: z"], 2, 4, [
      {
        layer: 0,
        name: "blocks.0.attn",
        norms: [1, 2, 3],
        directions: [[1, 0]],
        explained: [0.9],
        projections: [[-1], [0], [2]],
      },
    ]);
    const f = latentFigure(v);
    assert.deepEqual(f.spec.data[0].y, [1, 2, 3]);
    assert.deepEqual(f.spec.data[0].x, ["0: x", "1: y", "2: z"]);
    assert.deepEqual(f.spec.data[1].z, [[-1], [0], [2]]);
    assert.deepEqual(f.spec.data[1].x, ["PC1 (90.0%)"]);
    assert.deepEqual([f.spec.data[1].zmin, f.spec.data[1].zmax], [-2, 2]);
    assert.match(f.summary, /rank 2 \(\+ 4 RoPE key\)[\s\S]*largest \|\|c_kv\|\| 3 at "2: z"/);
    const live = latentKV(model(), TOKS, { layers: [1] });
    const spec = latentFigure(live).spec;
    assert.deepEqual(spec.data[0].y, live.layers[0].norms);
    assert.equal((spec.data[1].x as string[]).length, 3);
  });
});
