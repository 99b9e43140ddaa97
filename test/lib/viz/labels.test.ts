/** Routing-by-label heatmaps: each label's share of choices per expert, MI and p in the titles. */
import { strict as assert } from "node:assert";
import { Routing } from "../../../lib/inspect/index.js";
import { routingByLabelFigure } from "../../../lib/viz/index.js";

describe("viz routing by label", () => {
  it("label x expert shares with MI and p", () => {
    const labels = [...Array(10).keys()].map((i) => (i % 2 ? "B" : "A"));
    const ch = new Int32Array(10 * 2);
    labels.forEach((l, s) => ch.set(l === "A" ? [0, 1] : [2, 1], s * 2));
    const by = Routing.fromChoices(3, 2, new Array(10).fill(1), [{ layer: 1, choices: ch }]).by(
      labels,
    );
    const f = routingByLabelFigure(by);
    const t = f.spec.data[0];
    assert.deepEqual(t.z, [
      [0.5, 0.5, 0],
      [0, 0.5, 0.5],
    ]);
    assert.deepEqual(t.y, ["A", "B"]);
    assert.deepEqual(t.x, ["E0", "E1", "E2"]);
    assert.equal(t.zmin, 0);
    assert.equal(t.zmax, 0.5);
    assert.equal(by.layers[0].mi, 0.5);
    const lay = f.spec.layout as Record<string, { title?: { text: string } }>;
    assert.equal(
      lay.xaxis.title!.text,
      `blocks.1.moe: MI 0.5 bits, p ${Number(by.layers[0].p.toPrecision(3))}`,
    );
    assert.ok(by.layers[0].p < 0.05);
    assert.match(
      f.summary,
      /blocks.1.moe: MI 0.5000 bits, p 0.0\d\d\n {2}blocks.1.moe: "A" uses E0 2x as often as the labels' mean/,
    );
  });

  it("leaves room for long labels (Brown's genres) on the left", () => {
    const labels = ["science_fiction", "news", "science_fiction", "news"];
    const ch = new Int32Array([0, 1, 1, 2, 0, 2, 1, 2]);
    const by = Routing.fromChoices(3, 2, [1, 1, 1, 1], [{ layer: 1, choices: ch }]).by(labels);
    const margin = (routingByLabelFigure(by).spec.layout as { margin?: { l: number } }).margin;
    assert.ok(margin && margin.l >= 7 * "science_fiction".length + 24, JSON.stringify(margin));
    const short = Routing.fromChoices(3, 2, [1, 1], [{ layer: 1, choices: ch.slice(0, 4) }]).by([
      "A",
      "B",
    ]);
    assert.equal(
      (routingByLabelFigure(short).spec.layout as { margin: { l: number } }).margin.l,
      80,
    );
  });
});
