/** Logit lens heatmap and attribution bars. */
import { strict as assert } from "node:assert";
import { logitAttribution, logitLens } from "../../../lib/inspect/index.js";
import { attributionFigure, logitLensFigure } from "../../../lib/viz/index.js";
import { TOKS, model } from "../inspect/fixtures.js";

describe("viz logit lens and attribution", () => {
  it("cells are p(next token) per read, marked with the read's top token", () => {
    const m = model();
    const lens = logitLens(m, TOKS);
    const f = logitLensFigure(lens, { batch: 1 });
    const t = f.spec.data[0];
    const z = t.z as number[][];
    assert.equal(z.length, 4);
    assert.equal(z[0].length, 7);
    // Row "L1", position 3: token 30 -> 17.
    assert.ok(Math.abs(z[2][3] - Math.exp(lens.logProbs(17, 1, 3)[2])) < 1e-9);
    assert.equal((t.text as string[][])[3][5], lens.top(1, 1, 5)[3][0].text);
    assert.equal((t.x as string[])[3], "3: 30 → 17");
    assert.deepEqual(t.y, ["embed", "L0", "L1", "L2"]);
    assert.match(
      f.summary,
      /^Logit lens over 7 positions of row 1: mean log p\(next token\) per read\n {2}embed /,
    );
    const shown = (lens as unknown as Record<symbol, () => Record<string, unknown>>)[
      Symbol.for("Jupyter.display")
    ]();
    assert.deepEqual(shown["application/vnd.plotly.v1+json"], plotlyJson(logitLensFigure(lens)));
  });

  it("attribution bars: one per component, the mean over rows", () => {
    const a = logitAttribution(model(), TOKS, { correct: 4, wrong: 9, by: "block" });
    const f = attributionFigure(a);
    assert.deepEqual(f.spec.data[0].x, a.labels);
    assert.deepEqual(f.spec.data[0].y, a.values);
    assert.equal(f.summary, a.toString());
  });
});

/** The Plotly JSON a figure's own MIME bundle carries (its spec, sized for display). */
function plotlyJson(fig: object): unknown {
  const show = (fig as Record<symbol, () => Record<string, unknown>>)[
    Symbol.for("Jupyter.display")
  ];
  return show.call(fig)["application/vnd.plotly.v1+json"];
}
