/** The router trace figure: scores beside biased scores per layer, top-k marked by rank. */
import { strict as assert } from "node:assert";
import { RouterTrace, routerTrace } from "../../../lib/inspect/index.js";
import { routerTraceFigure, topkMarks } from "../../../lib/viz/index.js";
import { ByteTokenizer } from "../../../lib/data/index.js";
import { TOKS, model } from "../inspect/fixtures.js";

describe("viz router trace", () => {
  const tr = new RouterTrace(["0: a", "1: b"], [1, 2], 3, [
    {
      layer: 1,
      name: "blocks.1.moe",
      scores: [
        [0.1, 0.5, 0.4],
        [0.3, 0.2, 0.9],
      ],
      biased: [
        [0.1, 0.5, 0.9],
        [-Infinity, 0.2, 1.4],
      ],
      chosen: [
        [2, 1],
        [2, 1],
      ],
      weights: [
        [0.5, 0.5],
        [0.7, 0.3],
      ],
      bias: [0, 0, 0.5],
    },
  ]);

  it("draws scores and biased scores with the chosen experts' ranks", () => {
    const f = routerTraceFigure(tr);
    assert.equal(f.spec.data.length, 2);
    const [s, b] = f.spec.data;
    assert.deepEqual(s.z, [
      [0.1, 0.5, 0.4],
      [0.3, 0.2, 0.9],
    ]);
    assert.deepEqual(
      b.z,
      [
        [0.1, 0.5, 0.9],
        [null, 0.2, 1.4],
      ],
      "-inf (a dropped group) is a gap",
    );
    assert.deepEqual(s.text, [
      ["", "2", "1"],
      ["", "2", "1"],
    ]);
    assert.deepEqual(b.text, s.text);
    assert.deepEqual(s.x, ["E0", "E1", "E2"]);
    assert.deepEqual(s.y, ["0: a", "1: b"]);
    assert.equal(s.zmin, 0.1);
    assert.equal(s.zmax, 1.4);
    assert.equal(b.xaxis, "x2");
    const lay = f.spec.layout as Record<string, { title?: { text: string } }>;
    assert.equal(lay.xaxis.title!.text, "blocks.1.moe: scores");
    assert.equal(lay.xaxis2.title!.text, "blocks.1.moe: scores + bias (selection)");
    // Token 0's unbiased top-2 is {1, 2}, token 1's {2, 0}: the bias changed one choice.
    assert.deepEqual(tr.biasChanged(), [1]);
    assert.match(
      f.summary,
      /blocks.1.moe \(the bias changed 1 of 2 choices\):\n {4}0: a {9}-> E2 0.500, E1 0.500/,
    );
  });

  it("a live model's trace displays as the figure, its marks matching the choices", () => {
    const m = model();
    const live = routerTrace(m, TOKS);
    const bundle = (live as unknown as Record<symbol, () => Record<string, unknown>>)[
      Symbol.for("Jupyter.display")
    ]();
    const spec = bundle["application/vnd.plotly.v1+json"] as ReturnType<
      typeof routerTraceFigure
    >["spec"];
    assert.equal(spec.data.length, 4);
    live.layers.forEach((l, i) => assert.deepEqual(spec.data[2 * i].text, topkMarks(l.chosen, 4)));
    assert.equal(bundle["text/plain"], live.toString());
  });

  it("labels tokens with the model's tokenizer", () => {
    const m = model(1, { vocab_size: 300 });
    m.tokenizer = new ByteTokenizer();
    const f = routerTraceFigure(routerTrace(m, [[72, 105, 33, 105]]));
    assert.deepEqual(f.spec.data[0].y, ["0: H", "1: i", "2: !", "3: i"]);
  });
});
