/** lib/viz: comparing runs, the model summary and the FP8 figures. */
import { strict as assert } from "node:assert";
import { countParams, preset } from "../../../lib/config/index.js";
import { Transformer } from "../../../lib/model/index.js";
import { randn } from "../../../lib/tensor/index.js";
import {
  compareRuns,
  fp8CodeGrid,
  fp8ErrorFigure,
  fp8ErrorStats,
  modelSummary,
  type FigureSpec,
} from "../../../lib/viz/index.js";
import { syntheticHistory } from "./runs.js";
import { parseXml } from "./xml.js";

const texts = (svg: string) =>
  parseXml(svg)
    .filter((e) => e.name === "text")
    .map((e) => e.text);

describe("lib/viz comparing runs", () => {
  it("draws several histories on one figure, one colour per run", () => {
    const runs = { bias: syntheticHistory(120, 2, 8), aux: syntheticHistory(80, 2, 8) };
    const fig = compareRuns(runs);
    const spec = fig.spec as FigureSpec;
    const groups = new Map<string, Set<string>>();
    for (const t of spec.data) {
      const g = String(t.legendgroup);
      if (!groups.has(g)) groups.set(g, new Set());
      groups.get(g)!.add((t.line as { color: string }).color);
    }
    assert.deepEqual([...groups.keys()], ["bias", "aux"]);
    assert.equal(groups.get("bias")!.size, 1);
    assert.notDeepEqual([...groups.get("bias")!], [...groups.get("aux")!]);
    // Train loss, validation loss, MaxVio_batch and MaxVio_global per run.
    assert.equal(spec.data.length, 8);
    const val = spec.data.find((t) => t.legendgroup === "aux" && t.xaxis === "x2")!;
    assert.deepEqual(val.x, [50]);
    assert.match(fig.summary, /bias: 120 steps, train \d\.\d{4}, validation/);
    assert.match(fig.summary, /aux: 80 steps/);
    const t = texts(fig.toSVG());
    assert.ok(t.includes("bias") && t.includes("aux") && t.includes("MaxVio_global"));
  });

  it("takes trainers too, and names a bad run", () => {
    const h = syntheticHistory(10, 0);
    assert.equal(compareRuns({ a: { history: h } }).spec.data.length, 1);
    assert.throws(
      () => compareRuns({ a: [1, 2] as never }),
      /run "a" is not a History or a Trainer/,
    );
    assert.throws(() => compareRuns({}), /no runs given/);
    assert.throws(() => compareRuns([] as never), /expected \{ name: history/);
  });
});

describe("lib/viz model summary", () => {
  it("counts modules, total and activated per token, for a preset", () => {
    const s = modelSummary("671B");
    const c = countParams(preset("671B").args, preset("671B").settings);
    assert.equal(s.counts.total, c.total);
    assert.match(String(s), /671\.\d\dB parameters .* 3\d\.\d\dB activated per token/);
    const bars = s.figure.spec.data;
    assert.equal(bars.length, 2);
    assert.deepEqual(
      bars[0].x,
      c.rows.map((r) => r.total),
    );
    const b = (s as unknown as Record<symbol, () => Record<string, unknown>>)[
      Symbol.for("Jupyter.display")
    ]();
    assert.ok(String(b["text/html"]).includes("moe.experts (routed)"));
    assert.ok(String(b["image/svg+xml"]).startsWith("<svg"));
  });

  it("checks the count against a model's own parameters", () => {
    const model = Transformer.create("tiny", { seed: 0 });
    const s = modelSummary(model);
    assert.equal(s.allocated, model.numParams());
    assert.equal(s.allocated, s.counts.totalWithMtp);
    assert.throws(() => modelSummary(null as never), /expected a Transformer/);
    assert.throws(() => modelSummary("huge" as never), /huge/);
  });
});

describe("lib/viz FP8 figures", () => {
  it("counts underflowed, subnormal and saturated values", () => {
    // One 1x128 tile with amax 1: scale 1/448.
    const x = new Float32Array(128).fill(0.5);
    x[0] = 1;
    x[1] = 1e-9; // 4.5e-7 after scaling: below E4M3's smallest subnormal
    x[2] = 1e-5; // 0.0045: subnormal
    const st = fp8ErrorStats(x);
    assert.equal(st.underflowed, 1);
    assert.equal(st.subnormal, 1);
    assert.equal(st.saturated, 0);
    assert.equal(st.scales.length, 1);
    assert.ok(Math.abs(st.scales[0] - 1 / 448) < 1e-9);
    // A stale fixed scale clamps what lies beyond 448 (+ half an ulp).
    const fixed = fp8ErrorStats(new Float32Array([1000, 460, 470, 1]), { scale: 1 });
    assert.equal(fixed.saturated, 2);
    assert.equal(fixed.scaling, "fixed");
    const e5 = fp8ErrorStats(new Float32Array([1000, 70000]), { scale: 1, format: "e5m2" });
    assert.equal(e5.saturated, 1);
  });

  it("draws the error histogram, the scales and the counts of a tensor", () => {
    const x = randn([8, 256], { seed: 3 });
    const fig = fp8ErrorFigure(x, { name: "x", scaling: "tile" });
    const st = fp8ErrorStats(x);
    assert.equal(st.scales.length, 16);
    const [err, scales, counts] = fig.spec.data;
    const sum = (v: unknown) => (v as number[]).reduce((a, b) => a + b, 0);
    assert.equal(sum(err.y), 8 * 256 - st.exact - st.underflowed);
    assert.equal(sum(scales.y), 16);
    assert.deepEqual(counts.y, [st.exact, st.subnormal, st.underflowed, 0, 0]);
    assert.match(fig.summary, /FP8 E4M3 with 1x128 tiles, 2048 values: relative Frobenius error/);
    parseXml(fig.toSVG());
    const block = fp8ErrorStats(randn([256, 256], { seed: 1 }), { scaling: "block" });
    assert.equal(block.scales.length, 4);
    assert.throws(
      () => fp8ErrorFigure(x, { format: "e3m4" as never }),
      /format must be "e4m3" or "e5m2"/,
    );
    assert.throws(
      () => fp8ErrorFigure(new Float32Array(6), { shape: [4, 2] }),
      /does not hold 6 values/,
    );
    assert.throws(() => fp8ErrorFigure(x, { scale: -1 }), /scale must be a positive number/);
  });

  it("draws E4M3 and E5M2 code grids, blank where a code is zero, NaN or infinite", () => {
    const fig = fp8CodeGrid();
    const [e4, e5] = fig.spec.data.map((t) => t.z as (number | null)[][]);
    assert.equal(e4[0][0], null); // +0
    assert.equal(e4[7][15], null); // 0x7F: NaN
    assert.equal(e4[7][14], +Math.log2(448).toFixed(3)); // 0x7E: max
    assert.equal(e5[7][11], +Math.log2(57344).toFixed(3)); // 0x7B: max
    assert.equal(e5[7][12], null); // 0x7C: +Inf
    assert.equal(e4[0][1], -9); // smallest subnormal 2^-9
    assert.equal(e5[0][1], -16);
    assert.match(fig.summary, /E4M3: 4 exponent \/ 3 mantissa bits, max 448/);
  });
});

describe("lib/viz plotly.js spec", () => {
  it("marks axes with string labels as category (plotly.js would read '0'..'9' as numbers)", () => {
    const fig = compareRuns({ a: syntheticHistory(5, 0) });
    assert.equal(fig.spec.data.length, 1, "no validation or MaxVio panels without their data");
    assert.deepEqual((fig.spec.layout.grid as { rows: number; columns: number }).columns, 1);
    const grid = fp8CodeGrid().plotly().layout;
    assert.equal((grid.xaxis as { type: string }).type, "category");
    assert.equal((grid.yaxis2 as { type: string; autorange: string }).type, "category");
    assert.equal((grid.yaxis2 as { type: string; autorange: string }).autorange, "reversed");
    assert.deepEqual(grid.xaxis2, { title: { text: "low nibble (E5M2)" }, type: "category" });
  });
});
