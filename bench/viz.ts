/**
 * Budgets of the figures (issue 11), printed as a table against their targets:
 *  - bytes per training-dashboard update (target < 20 kB), for runs of 10 to 10,000 steps with 4
 *    MoE layers of 16 experts and MTP, and the final update (it carries the SVG);
 *  - the growth of a saved notebook over a real 1,000-step fit() (the Trainer with the dashboard,
 *    every step sent, nbformat's update semantics), beyond plotly.js itself (target < 2 MB);
 *  - the time to build one update and to render a figure's SVG.
 * Usage: node bench/run.js viz
 */
import { Transformer } from "../lib/model/index.js";
import { History, Trainer } from "../lib/train/index.js";
import { Dashboard, Figure, resetPlotlySession } from "../lib/viz/index.js";
import { plotlyScript } from "../lib/viz/plotly.js";
import { SMALL, datasets } from "../test/lib/train/fixtures.js";
import { fakeKernel, savedOutputs, stateOf, syntheticHistory } from "../test/lib/viz/runs.js";

const kB = (n: number): string => `${(n / 1000).toFixed(1)} kB`;
const rows: [string, string, string, string][] = [];
const row = (what: string, value: string, target: string, ok: boolean | null) =>
  rows.push([what, value, target, ok === null ? "" : ok ? "ok" : "OVER"]);

function time(f: () => void, reps = 5): number {
  f();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) f();
  return (performance.now() - t0) / reps;
}

async function main(): Promise<void> {
  // 1. One update's bytes, by run length.
  const view = new Dashboard();
  for (const n of [10, 100, 1000, 10000]) {
    const h = syntheticHistory(n);
    const running = JSON.stringify(view.bundle(stateOf(h, 2 * n), false)).length;
    row(`dashboard update, ${n} steps`, kB(running), "< 20 kB", running < 20_000);
    if (n === 1000 || n === 10000) {
      const final = JSON.stringify(view.bundle(stateOf(h, n), true)).length;
      row(`  final update (with SVG), ${n} steps`, kB(final), "-", null);
    }
  }
  for (const [layers, experts, name] of [
    [26, 64, "16B"],
    [58, 256, "671B"],
  ] as const) {
    const h = syntheticHistory(1000, layers, experts);
    const running = JSON.stringify(view.bundle(stateOf(h, 2000), false)).length;
    row(
      `  1,000 steps, ${layers} MoE layers x ${experts} experts (${name})`,
      kB(running),
      "< 20 kB",
      running < 20_000,
    );
  }
  const h1k = syntheticHistory(1000);
  row(
    "  time to build an update, 1,000 steps",
    `${time(() => view.bundle(stateOf(h1k, 2000), false)).toFixed(1)} ms`,
    "-",
    null,
  );
  row(
    "  time to build the final update",
    `${time(() => view.bundle(stateOf(h1k, 1000), true)).toFixed(1)} ms`,
    "-",
    null,
  );

  // 2. A real 1,000-step fit, every step sent (the worst case of the throttle).
  resetPlotlySession();
  const k = fakeKernel();
  const t0 = performance.now();
  let shownAt1s: number;
  try {
    const trainer = new Trainer(Transformer.create(SMALL, { seed: 0 }), datasets(), {
      batchSize: 2,
      seqLen: 16,
      view: new Dashboard({ intervalMs: 0 }),
    });
    await trainer.fit({ steps: 1000, evalEvery: 100 });
    // The default throttle (1 s) on the same run: how many updates it would have sent.
    shownAt1s = Math.ceil((performance.now() - t0) / 1000) + 1;
  } finally {
    k.remove();
  }
  const fitMs = performance.now() - t0;
  const sizes = k.shown.slice(1).map((s) => JSON.stringify(s.bundle).length);
  const sorted = [...sizes].sort((a, b) => a - b);
  const saved = savedOutputs(k.shown).length;
  const lib = plotlyScript().length;
  row(
    "real fit: 1,000 steps (SMALL model, batch 2x16)",
    `${(fitMs / 1000).toFixed(1)} s`,
    "-",
    null,
  );
  row("  updates sent (every step)", String(sizes.length), "-", null);
  row(
    "  median / largest update while fit runs",
    `${kB(sorted[sorted.length >> 1])} / ${kB(sorted[sorted.length - 2])}`,
    "< 20 kB",
    sorted[sorted.length - 2] < 20_000,
  );
  row(
    "  the final update (static SVG for the saved notebook)",
    kB(sizes[sizes.length - 1]),
    "-",
    null,
  );
  row("  bytes over the wire, all updates", kB(sizes.reduce((a, b) => a + b, 0)), "-", null);
  row("  updates at the default 1 s throttle (about)", String(shownAt1s), "-", null);
  row("  plotly.js (sent once)", kB(lib), "-", null);
  row(
    "  saved notebook growth beyond plotly.js",
    kB(saved - lib),
    "< 2 MB",
    saved - lib < 2_000_000,
  );

  // 3. SVG rendering of figures the library draws.
  const z = Array.from({ length: 32 }, (_, i) =>
    Array.from({ length: 64 }, (_, j) => Math.sin(i * j)),
  );
  const heat = new Figure({ data: [{ type: "heatmap", z }], layout: {} }, "heatmap");
  row(
    "SVG of a 32x64 heatmap",
    `${time(() => heat.toSVG()).toFixed(1)} ms, ${kB(heat.toSVG().length)}`,
    "-",
    null,
  );
  const h = History.fromJSON(h1k.toJSON());
  const dash = view.bundle(stateOf(h, 1000), true);
  row("SVG of the dashboard, 1,000 steps", kB(String(dash["image/svg+xml"]).length), "-", null);

  const w = [0, 1, 2, 3].map((c) =>
    Math.max(...[["measure", "value", "budget", ""], ...rows].map((r) => r[c].length)),
  );
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join("  ");
  console.log(line(["measure", "value", "budget", ""]));
  for (const r of rows) console.log(line(r));
  if (rows.some((r) => r[3] === "OVER")) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
