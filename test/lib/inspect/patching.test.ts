/** Activation patching over layer x position, layer x head, layer x expert. */
import { strict as assert } from "node:assert";
import * as T from "../../../lib/tensor/index.js";
import { activationPatching, logitDiff } from "../../../lib/inspect/index.js";
import { logitsOf, model, snapshot } from "./fixtures.js";

const CLEAN = [[1, 5, 9, 3, 7, 2, 8, 4]];
const CORRUPT = [[1, 5, 20, 3, 7, 2, 8, 4]]; // position 2 differs
const metric = logitDiff(4, 9);

describe("inspect activation patching", () => {
  it("layer x position: the differing token at layer 0 restores the clean metric, others leave the corrupted one", () => {
    const m = model();
    const before = snapshot(m);
    const plain = logitsOf(m);
    const r = activationPatching(m, {
      clean: CLEAN,
      corrupted: CORRUPT,
      metric,
      grid: "layer_pos",
    });
    assert.deepEqual(r.values.shape, [3, 8]);
    assert.deepEqual(r.rows, ["L0", "L1", "L2"]);
    assert.equal(r.clean, metric(T.noGrad(() => m.forward(CLEAN))));
    assert.equal(r.corrupted, metric(T.noGrad(() => m.forward(CORRUPT))));
    assert.notEqual(r.clean, r.corrupted);
    const v = r.toRows();
    // Layer 0's residual is the embedding: patching position 2 makes the input clean.
    v[0].forEach((x, p) =>
      assert.equal(Math.fround(x), Math.fround(p === 2 ? r.clean : r.corrupted), `L0 pos ${p}`),
    );
    // Positions before the change see the same context in both runs: nothing to restore (up to
    // the rounding of expert GEMMs that group different tokens).
    for (let L = 0; L < 3; L++)
      for (const p of [0, 1]) assert.ok(Math.abs(v[L][p] - r.corrupted) < 1e-5);
    const n = r.normalised().toArray();
    assert.ok(Math.abs(n[2] - 1) < 1e-6 && Math.abs(n[0]) < 1e-6);
    // The last block's output at the read position decides the logits there.
    const post = activationPatching(m, {
      clean: CLEAN,
      corrupted: CORRUPT,
      metric,
      grid: "layer_pos",
      hook: "hook_resid_post",
      layers: [2],
      positions: [-1],
    });
    assert.deepEqual(post.columns, ["7"]);
    assert.ok(Math.abs(post.toRows()[0][0] - r.clean) < 1e-5);
    const text = r.toString().split("\n");
    const s = r.strongest();
    assert.equal(
      text[0],
      `Activation patching (layer_pos, blocks.{L}.hook_resid_pre): clean ${r.clean.toFixed(4)}, corrupted ${r.corrupted.toFixed(4)}; strongest ${s.row} x ${s.column} = ${s.value.toFixed(4)}`,
    );
    assert.equal(text[2].split(/\s+/)[3], r.clean.toFixed(4), "L0 x 2 in the table");
    for (const [n2, p] of m.namedParameters())
      assert.deepEqual(Float32Array.from(p.toArray()), before.get(n2));
    assert.deepEqual(logitsOf(m), plain);
  });

  it("layer x head and layer x expert match hand-made patches", () => {
    const m = model();
    const heads = activationPatching(m, {
      clean: CLEAN,
      corrupted: CORRUPT,
      metric,
      grid: "layer_head",
    });
    assert.deepEqual(heads.columns, ["H0", "H1"]);
    const experts = activationPatching(m, {
      clean: CLEAN,
      corrupted: CORRUPT,
      metric,
      grid: "layer_expert",
    });
    assert.deepEqual(experts.rows, ["L1", "L2"]);
    assert.deepEqual(experts.columns, ["E0", "E1", "E2", "E3"]);
    // By hand: layer 1's head 1 / layer 2's expert 3 from the clean cache, with where().
    const zName = "blocks.1.attn.hook_z";
    const sName = "blocks.2.moe.hook_router_scores";
    const { cache } = m.runWithCache(CLEAN, { names: [zName, sName] });
    const headMask = T.tensor([0, 1], { shape: [1, 1, 2, 1] })
      .expand(1, 8, 2, 8)
      .gt(0);
    const expMask = T.tensor([0, 0, 0, 1], { shape: [1, 1, 4] })
      .expand(1, 8, 4)
      .gt(0);
    const byHand = (name: string, mask: T.Tensor) =>
      metric(
        T.noGrad(() =>
          m.runWithHooks(CORRUPT, { fwd: [[name, (t) => T.where(mask, cache.get(name), t)]] }),
        ),
      );
    assert.ok(Math.abs(heads.toRows()[1][1] - byHand(zName, headMask)) < 1e-6);
    assert.ok(Math.abs(experts.toRows()[1][3] - byHand(sName, expMask)) < 1e-6);
    // Same input twice: every patch is a no-op.
    const same = activationPatching(m, {
      clean: CLEAN,
      corrupted: CLEAN,
      metric,
      grid: "layer_expert",
    });
    for (const x of same.values.toArray()) assert.equal(x, Math.fround(same.clean));
  });

  it("names what does not fit: shapes, positions, hooks, dense layers, metrics", () => {
    const m = model();
    const base = { clean: CLEAN, corrupted: CORRUPT, metric };
    assert.throws(
      () => activationPatching(m, { ...base, corrupted: [[1, 2, 3]], grid: "layer_pos" }),
      /clean \[1, 8\] and corrupted \[1, 3\] tokens must have the same shape/,
    );
    assert.throws(
      () => activationPatching(m, { ...base, grid: "layer_pos", positions: [8] }),
      /the grid does not fit the input: position 8 is outside the 8 tokens/,
    );
    assert.throws(
      () => activationPatching(m, { ...base, grid: "layer_pos", hook: "hook_resid_pree" }),
      /unknown hook point "blocks.0.hook_resid_pree"; the closest: blocks.0.hook_resid_pre/,
    );
    assert.throws(
      () => activationPatching(m, { ...base, grid: "layer_pos", hook: "attn.hook_pattern" }),
      /blocks.0.attn.hook_pattern has shape \[1, 2, 8, 8\]; the layer_pos grid patches activations \[B, T, ...\]/,
    );
    assert.throws(
      () => activationPatching(m, { ...base, grid: "layer_expert", layers: [0] }),
      /layer 0 is dense \(no router\)/,
    );
    assert.throws(
      () => activationPatching(m, { ...base, grid: "layer_head", layers: [3] }),
      /layer must be an integer in \[0, 3\), got 3/,
    );
    assert.throws(
      () =>
        activationPatching(m, {
          ...base,
          metric: () => "x" as unknown as number,
          grid: "layer_head",
        }),
      /metric returned string on the clean run, expected a number/,
    );
    assert.equal(m.ctx.hookCount(), 0);
  });
});
