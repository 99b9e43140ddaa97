/**
 * lib/viz's training dashboard: one output updated in place while fit() runs, plotly.js sent once
 * in an output of its own, throttled updates under the byte budget, a static SVG at the end.
 */
import { strict as assert } from "node:assert";
import { Transformer } from "../../../lib/model/index.js";
import { History, Trainer } from "../../../lib/train/index.js";
import {
  Dashboard,
  dashboardFigure,
  resetPlotlySession,
  type FigureSpec,
} from "../../../lib/viz/index.js";
import { bucketed } from "../../../lib/viz/dashboard.js";
import { SMALL, datasets } from "../train/fixtures.js";
import { parseXml } from "./xml.js";
import { fakeKernel, savedOutputs, stateOf, syntheticHistory, type Shown } from "./runs.js";
import { plotlyScript } from "../../../lib/viz/plotly.js";

let kernel: ReturnType<typeof realFake> | null = null;
const realFake = fakeKernel;
function fake(): Shown[] {
  kernel = realFake();
  return kernel.shown;
}

describe("lib/viz training dashboard", function () {
  this.timeout(120000);
  afterEach(() => kernel?.remove());

  it("is the Trainer's default view once moelab is imported", async () => {
    await import("../../../lib/index.js");
    const t = new Trainer(Transformer.create(SMALL, { seed: 0 }), datasets(), {
      batchSize: 2,
      seqLen: 16,
    });
    assert.ok(t.view instanceof Dashboard);
  });

  it("updates one output in place during fit() and ends as a static figure", async () => {
    resetPlotlySession();
    const shown = fake();
    const t = new Trainer(Transformer.create(SMALL, { seed: 0 }), datasets(), {
      batchSize: 2,
      seqLen: 16,
      view: new Dashboard({ intervalMs: 0 }),
    });
    await t.fit({ steps: 6, evalEvery: 3 });
    // The library, then the dashboard and its updates under one display id.
    assert.ok(String(shown[0].bundle["text/html"]).includes("data-moelab-plotly"));
    assert.equal(shown[0].displayId, undefined);
    const dash = shown.slice(1);
    assert.ok(dash.length >= 6, `${dash.length} outputs`);
    assert.ok(dash[0].displayId && !dash[0].update);
    for (const d of dash.slice(1)) {
      assert.equal(d.displayId, dash[0].displayId);
      assert.equal(d.update, true);
    }
    for (const d of dash) assert.ok(!String(d.bundle["text/html"]).includes("data-moelab-plotly"));
    for (const d of dash.slice(0, -1)) assert.equal(d.bundle["image/svg+xml"], undefined);
    const final = dash[dash.length - 1].bundle;
    parseXml(String(final["image/svg+xml"]));
    assert.match(String(final["text/plain"]), /step 6\/6/);
    const spec = final["application/vnd.plotly.v1+json"] as FigureSpec;
    const byName = (n: string) => spec.data.find((d) => d.name === n)!;
    assert.deepEqual(
      byName("train").y,
      t.history.steps.map((r) => +r.main.toPrecision(4)),
    );
    assert.deepEqual(byName("validation").x, [3, 6]);
    assert.ok(byName("MTP"));
    assert.ok(byName("MaxVio blocks.1.moe"));
    const heat = spec.data.find((d) => d.type === "heatmap")!;
    assert.equal((heat.z as number[][])[0].length, 8);
    // The load heatmap is relative to the balanced load: its mean is 1.
    const row = (heat.z as number[][])[0];
    assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) / row.length - 1) < 0.01);
    // A second fit gets a new output; the library is not sent again.
    const before = shown.length;
    await t.fit({ steps: 8 });
    const again = shown.slice(before);
    assert.ok(again[0].displayId && again[0].displayId !== dash[0].displayId);
    assert.ok(again.every((d) => !String(d.bundle["text/html"]).includes("data-moelab-plotly")));
  });

  it("throttles updates to one per interval (and always draws the last)", () => {
    resetPlotlySession();
    const shown = fake();
    const view = new Dashboard({ intervalMs: 60_000 });
    const h = syntheticHistory(50, 2, 8);
    for (let n = 1; n <= 50; n++) {
      const part = History.fromJSON({ ...h.toJSON(), steps: h.steps.slice(0, n), evals: [] });
      view.update(stateOf(part, 50), n === 50);
    }
    // Library, first draw, final draw.
    assert.equal(shown.length, 3);
    assert.equal(shown[2].update, true);
  });

  it("keeps an update of a 1,000-step run with 4 MoE layers under 20 kB", () => {
    const view = new Dashboard();
    const h = syntheticHistory(1000);
    const running = JSON.stringify(view.bundle(stateOf(h, 2000), false)).length;
    assert.ok(running < 20_000, `${running} bytes`);
    const final = JSON.stringify(view.bundle(stateOf(h, 1000), true)).length;
    assert.ok(final < 200_000, `${final} bytes`);
  });

  it("grows a saved notebook by the last update only (200 updates of a 1,000-step run)", () => {
    resetPlotlySession();
    const shown = fake();
    const view = new Dashboard({ intervalMs: 0 });
    const h = syntheticHistory(1000);
    for (let n = 5; n <= 1000; n += 5) {
      const part = History.fromJSON({ ...h.toJSON(), steps: h.steps.slice(0, n) });
      view.update(stateOf(part, 1000), n === 1000);
    }
    assert.equal(shown.length, 201);
    const saved = savedOutputs(shown).length;
    const beyond = saved - plotlyScript().length;
    assert.ok(beyond > 0 && beyond < 2_000_000, `${beyond} bytes beyond plotly.js`);
    assert.ok(beyond < 400_000, `${beyond} bytes beyond plotly.js`);
  });

  it("averages steps into equal buckets placed at x0 + k·dx", () => {
    const b = bucketed([1, 2, 3, 4, 5, 6, 7], [1, 3, 5, 7, 9, 11, 13], 3);
    assert.deepEqual(b, { x0: 1, dx: 3, y: [3, 9, 13] });
    const fig = dashboardFigure(syntheticHistory(10, 0));
    assert.equal(fig.spec.layout.grid && (fig.spec.layout.grid as { rows: number }).rows, 1);
  });

  it("names a bad option or history", () => {
    assert.throws(() => new Dashboard({ intervalMs: -1 }), /intervalMs must be a number >= 0/);
    assert.throws(() => dashboardFigure({} as History), /history must be a trainer's History/);
  });
});
