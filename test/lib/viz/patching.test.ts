/** The patching heatmap: values, labels, colour range around the corrupted baseline; the result displays as it. */
import { strict as assert } from "node:assert";
import * as T from "../../../lib/tensor/index.js";
import { PatchingResult } from "../../../lib/inspect/index.js";
import { patchingFigure } from "../../../lib/viz/index.js";

describe("viz patching", () => {
  const r = new PatchingResult(
    "layer_head",
    T.tensor([0.5, 1, 2, -1], { shape: [2, 2] }),
    ["L0", "L1"],
    ["H0", "H1"],
    2,
    0.5,
    "blocks.{L}.attn.hook_z",
  );

  it("draws the metric per layer x head, centred on the corrupted baseline", () => {
    const f = patchingFigure(r);
    const t = f.spec.data[0];
    assert.equal(t.type, "heatmap");
    assert.deepEqual(t.z, [
      [0.5, 1],
      [2, -1],
    ]);
    assert.deepEqual(t.x, ["H0", "H1"]);
    assert.deepEqual(t.y, ["L0", "L1"]);
    assert.equal(t.zmin, 0.5 - 1.5);
    assert.equal(t.zmax, 0.5 + 1.5);
    assert.deepEqual(t.text, [
      ["0.500", "1.00"],
      ["2.00", "-1.00"],
    ]);
    assert.deepEqual((f.spec.layout.xaxis as { title: { text: string } }).title.text, "head");
    assert.match(f.summary, /clean 2.0000, corrupted 0.5000; strongest L1 x H0 = 2.0000/);
  });

  it("the result's Jupyter display is the figure's once lib/viz is loaded", () => {
    const b = (r as unknown as Record<symbol, () => Record<string, unknown>>)[
      Symbol.for("Jupyter.display")
    ]();
    assert.deepEqual(b["application/vnd.plotly.v1+json"], plotlyJson(patchingFigure(r)));
    assert.equal(b["text/plain"], r.toString());
  });
});

/** The Plotly JSON a figure's own MIME bundle carries (its spec, sized for display). */
function plotlyJson(fig: object): unknown {
  const show = (fig as Record<symbol, () => Record<string, unknown>>)[
    Symbol.for("Jupyter.display")
  ];
  return show.call(fig)["application/vnd.plotly.v1+json"];
}
