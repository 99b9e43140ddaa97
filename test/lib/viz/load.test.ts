/** Expert load figures: bars with the balanced line and MaxVio, the layer x expert heatmap, trajectories. */
import { strict as assert } from "node:assert";
import { Routing } from "../../../lib/inspect/index.js";
import { History } from "../../../lib/train/index.js";
import {
  coActivationFigure,
  expertLoadFigure,
  loadHeatmapFigure,
  loadTrajectoryFigure,
} from "../../../lib/viz/index.js";

// 3 tokens top-2 of 4 experts: layer 1 counts [3, 2, 1, 0], layer 2 [2, 2, 1, 1].
const r = Routing.fromChoices(
  4,
  2,
  [3],
  [
    { layer: 1, choices: Int32Array.from([0, 1, 0, 2, 0, 1]) },
    { layer: 2, choices: Int32Array.from([0, 1, 2, 3, 0, 1]) },
  ],
);

describe("viz expert load", () => {
  it("bars per layer with the balanced line and MaxVio", () => {
    const f = expertLoadFigure(r);
    assert.deepEqual(
      f.spec.data.map((t) => t.y),
      [
        [3, 2, 1, 0],
        [2, 2, 1, 1],
      ],
    );
    assert.deepEqual(f.spec.data[0].x, ["E0", "E1", "E2", "E3"]);
    assert.equal(f.spec.data[1].xaxis, "x2");
    const shapes = f.spec.layout.shapes as { y0: number; yref: string }[];
    assert.deepEqual(
      shapes.map((s) => [s.y0, s.yref]),
      [
        [1.5, "y"],
        [1.5, "y2"],
      ],
    );
    const lay = f.spec.layout as Record<string, { title?: { text: string } }>;
    assert.equal(lay.xaxis.title!.text, "blocks.1.moe: MaxVio 1");
    assert.equal(lay.xaxis2.title!.text, "blocks.2.moe: MaxVio 0.333");
    assert.match(
      f.summary,
      /balanced: 1.5 per expert\):\n {2}blocks.1.moe: MaxVio 1; tokens per expert 3 2 1 0\n {2}blocks.2.moe: MaxVio 0.333;/,
    );
  });

  it("the layer x expert heatmap shows load / balanced", () => {
    const f = loadHeatmapFigure(r);
    const t = f.spec.data[0];
    assert.deepEqual(t.z, [
      [2, 4 / 3, 2 / 3, 0],
      [4 / 3, 4 / 3, 2 / 3, 2 / 3],
    ]);
    assert.deepEqual(t.y, ["blocks.1.moe", "blocks.2.moe"]);
    assert.deepEqual(t.text, [
      ["3", "2", "1", "0"],
      ["2", "2", "1", "1"],
    ]);
    assert.match(f.summary, /blocks.1.moe: max 2, min 0, MaxVio 1/);
  });

  it("load and bias over steps from a History", () => {
    const step = (i: number, load: number[], bias: number[]) => ({
      step: i,
      loss: 1,
      main: 1,
      mtp: null,
      balance: 0,
      lr: 1e-3,
      gradNorm: 1,
      tokensPerSec: 1,
      ms: 1,
      elapsed: i,
      maxVio: [0],
      load: [load],
      bias: [bias],
    });
    const h = History.fromJSON({
      layers: ["blocks.1.moe"],
      mainLayers: 1,
      evals: [],
      steps: [
        step(1, [6, 2, 0, 0], [0, 0, 0, 0]),
        step(2, [2, 2, 2, 2], [-0.001, -0.001, 0.001, 0.001]),
      ],
    });
    const f = loadTrajectoryFigure(h);
    assert.equal(f.spec.data.length, 8);
    assert.deepEqual(f.spec.data[0].y, [3, 1], "E0's load / balanced");
    assert.deepEqual(f.spec.data[0].x, [1, 2]);
    assert.deepEqual(f.spec.data[1].y, [0, -0.001], "E0's bias");
    assert.equal(f.spec.data[1].xaxis, "x2");
    assert.match(
      f.summary,
      /blocks.1.moe: MaxVio 2 at step 1 -> 0 at step 2; bias from -0.001 to 0.001/,
    );
    assert.throws(() => loadTrajectoryFigure(new History()), /no steps yet/);
  });

  it("co-activation: tokens per expert pair, the load on the diagonal", () => {
    const f = coActivationFigure(r);
    assert.deepEqual(f.spec.data[0].z, [
      [3, 2, 1, 0],
      [2, 2, 0, 0],
      [1, 0, 1, 0],
      [0, 0, 0, 0],
    ]);
    assert.equal(f.spec.data[1].yaxis, "y2");
    assert.match(
      f.summary,
      /blocks.1.moe: E0 \+ E1 on 2 tokens\n {2}blocks.2.moe: E0 \+ E1 on 2 tokens/,
    );
  });
});
