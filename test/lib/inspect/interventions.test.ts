/** Ready-made interventions: forced experts, ablated experts and heads, a scaled gate bias. */
import { strict as assert } from "node:assert";
import * as T from "../../../lib/tensor/index.js";
import { topkOfScores } from "../../../lib/train/index.js";
import {
  ablateExpert,
  ablateHead,
  excludeExpert,
  forceExpert,
  runWithInterventions,
  scaleGateBias,
  withInterventions,
  type Intervention,
} from "../../../lib/inspect/index.js";
import { TOKS, logitsOf, model, snapshot } from "./fixtures.js";

const cacheOf = (m: ReturnType<typeof model>, names: string[], ivs: Intervention[] = []) =>
  withInterventions(m, ivs, () => m.runWithCache(TOKS, { names }).cache);

function unchanged(
  m: ReturnType<typeof model>,
  before: Map<string, Float32Array>,
  logits: Float32Array,
): void {
  for (const [n, p] of m.namedParameters())
    assert.deepEqual(Float32Array.from(p.toArray()), before.get(n), `parameter ${n} changed`);
  assert.deepEqual(logitsOf(m), logits, "logits changed");
  assert.equal(m.ctx.hookCount(), 0, "a hook outlived the call");
}

describe("inspect interventions", () => {
  it("forceExpert puts the expert in the first slot at the chosen positions only", () => {
    const m = model();
    const before = snapshot(m);
    const plain = logitsOf(m);
    const name = "blocks.1.moe.hook_expert_indices";
    const idx0 = cacheOf(m, [name]).get(name).toArray();
    const x = [0, 1, 2, 3].find((e) => idx0[4] !== e && idx0[5] !== e)!;
    const iv = forceExpert(m, { layer: 1, expert: x, position: [2, -1], batch: 0 });
    const idx1 = cacheOf(m, [name], [iv]).get(name).toArray();
    const k = 2;
    for (let t = 0; t < 16; t++) {
      const row0 = [idx0[t * k], idx0[t * k + 1]];
      const row1 = [idx1[t * k], idx1[t * k + 1]];
      if (t === 2 || t === 7) {
        if (row0.includes(x)) assert.deepEqual(row1, row0);
        else assert.deepEqual(row1, [x, row0[0]], `token ${t}`);
      } else assert.deepEqual(row1, row0, `token ${t} was not to change`);
    }
    assert.notDeepEqual(runWithInterventions(m, TOKS, iv).toArray(), plain);
    // The same hooks work inside runWithHooks.
    assert.deepEqual(
      T.noGrad(() => m.runWithHooks(TOKS, { fwd: iv.hooks })).toArray(),
      runWithInterventions(m, TOKS, iv).toArray(),
    );
    unchanged(m, before, plain);
    assert.throws(
      () => forceExpert(m, { layer: 0, expert: 1 }),
      /layer 0 is dense .* MoE layers are 1, 2/,
    );
    assert.throws(
      () => forceExpert(m, { layer: 1, expert: 4 }),
      /expert must be an integer in \[0, 4\), got 4/,
    );
    const far = forceExpert(m, { layer: 1, expert: 0, position: 8 });
    assert.throws(() => runWithInterventions(m, TOKS, far), /position 8 is outside the 8 tokens/);
    unchanged(m, before, plain);
  });

  it("ablateExpert zeroes the expert's routing weight, renormalised or not", () => {
    const m = model();
    const plain = logitsOf(m);
    const names = ["blocks.2.moe.hook_expert_indices", "blocks.2.moe.hook_expert_weights"];
    const c0 = cacheOf(m, names);
    const idx = c0.get(names[0]).toArray();
    const w0 = c0.get(names[1]).toArray();
    const e = idx[0];
    for (const renormalise of [false, true]) {
      const c1 = cacheOf(m, names, [ablateExpert(m, { layer: 2, expert: e, renormalise })]);
      assert.deepEqual(c1.get(names[0]).toArray(), idx, "ablation keeps the choices");
      const w1 = c1.get(names[1]).toArray();
      let hit = 0;
      for (let t = 0; t < 16; t++) {
        const a = idx[2 * t] === e ? 0 : idx[2 * t + 1] === e ? 1 : -1;
        if (a < 0) {
          assert.deepEqual([w1[2 * t], w1[2 * t + 1]], [w0[2 * t], w0[2 * t + 1]]);
          continue;
        }
        hit++;
        assert.equal(w1[2 * t + a], 0);
        const other = w1[2 * t + 1 - a];
        const want = renormalise ? w0[2 * t] + w0[2 * t + 1] : w0[2 * t + 1 - a];
        assert.ok(Math.abs(other - want) < 1e-6, `token ${t}: ${other} vs ${want}`);
      }
      assert.ok(hit > 0);
    }
    // An expert nobody chose: nothing changes, bit for bit.
    const counts = [0, 1, 2, 3].map((x) => idx.filter((v) => v === x).length);
    const unused = counts.indexOf(0);
    if (unused >= 0)
      assert.deepEqual(
        runWithInterventions(m, TOKS, ablateExpert(m, { layer: 2, expert: unused })).toArray(),
        plain,
      );
    assert.notDeepEqual(
      runWithInterventions(m, TOKS, ablateExpert(m, { layer: 2, expert: e })).toArray(),
      plain,
    );
  });

  it("excludeExpert: tokens that chose the expert take their next best, the others keep theirs", () => {
    const m = model(1, { n_expert_groups: 1, n_limited_groups: 1 });
    const plain = logitsOf(m);
    const names = ["blocks.1.moe.hook_expert_indices", "blocks.1.moe.hook_router_scores"];
    const c0 = cacheOf(m, names);
    const idx = c0.get(names[0]).toArray();
    const s = c0.get(names[1]).toArray();
    const e = idx[0];
    const idx1 = cacheOf(m, names, [excludeExpert(m, { layer: 1, expert: e })])
      .get(names[0])
      .toArray();
    for (let t = 0; t < 16; t++) {
      const row0 = [idx[2 * t], idx[2 * t + 1]];
      const row1 = [idx1[2 * t], idx1[2 * t + 1]];
      assert.ok(!row1.includes(e));
      if (!row0.includes(e)) assert.deepEqual(row1, row0);
      else {
        // The best expert not yet chosen, by the scores (the bias is zero).
        const sc = [0, 1, 2, 3].filter((x) => x !== e).sort((a, b) => s[t * 4 + b] - s[t * 4 + a]);
        assert.deepEqual(row1, sc.slice(0, 2), `token ${t}`);
      }
    }
    assert.deepEqual(logitsOf(m), plain);
    assert.throws(
      () => excludeExpert(m, { layer: 1, expert: [0, 1, 2] }),
      /1 experts left for top-2/,
    );
  });

  it("ablateHead zeroes or mean-ablates one head's z", () => {
    const m = model();
    const name = "blocks.1.attn.hook_z";
    const z0 = cacheOf(m, [name]).get(name).toArray();
    const zz = cacheOf(m, [name], [ablateHead(m, { layer: 1, head: 1 })])
      .get(name)
      .toArray();
    const zm = cacheOf(m, [name], [ablateHead(m, { layer: 1, head: 1, mode: "mean" })])
      .get(name)
      .toArray();
    // [B=2, T=8, H=2, dv=8]
    const mean = new Float64Array(8);
    for (let bt = 0; bt < 16; bt++)
      for (let d = 0; d < 8; d++) mean[d] += z0[(bt * 2 + 1) * 8 + d] / 16;
    for (let bt = 0; bt < 16; bt++)
      for (let d = 0; d < 8; d++) {
        assert.equal(zz[bt * 2 * 8 + d], z0[bt * 2 * 8 + d]);
        assert.equal(zm[bt * 2 * 8 + d], z0[bt * 2 * 8 + d]);
        assert.ok(zz[(bt * 2 + 1) * 8 + d] === 0);
        assert.ok(Math.abs(zm[(bt * 2 + 1) * 8 + d] - mean[d]) < 1e-5);
      }
    assert.throws(
      () => ablateHead(m, { layer: 1, head: 2 }),
      /head must be an integer in \[0, 2\), got 2/,
    );
    assert.throws(
      () => ablateHead(m, { layer: 1, head: 0, reference: T.zeros([1, 1, 3, 8]) }),
      /reference .*mode "mean"/,
    );
  });

  it("scaleGateBias re-routes with factor · bias and leaves the bias as it was", () => {
    const m = model(1, { n_expert_groups: 1, n_limited_groups: 1 });
    const bias = m.blocks[1].moe!.gate.bias!;
    T.noGrad(() => bias.copy_(T.tensor([0, 0, 0, 5])));
    const before = snapshot(m);
    const plain = logitsOf(m);
    const names = ["blocks.1.moe.hook_expert_indices", "blocks.1.moe.hook_router_scores"];
    const c0 = cacheOf(m, names);
    const idx = c0.get(names[0]).toArray();
    for (let t = 0; t < 16; t++) assert.equal(idx[2 * t], 3, "the bias of 5 wins every token");
    assert.deepEqual(
      runWithInterventions(m, TOKS, scaleGateBias(m, { layer: 1, factor: 1 })).toArray(),
      plain,
    );
    const c1 = cacheOf(m, names, [scaleGateBias(m, { layer: 1, factor: 0 })]);
    const s = c1.get(names[1]).toArray() as Float32Array;
    assert.deepEqual(Array.from(c1.get(names[0]).toArray()), Array.from(topkOfScores(s, 16, 4, 2)));
    assert.notDeepEqual(Array.from(c1.get(names[0]).toArray()), Array.from(idx));
    unchanged(m, before, plain);
    const plainModel = model(1, { routing: "plain" });
    assert.throws(
      () => scaleGateBias(plainModel, { layer: 1, factor: 2 }),
      /layer 1's gate has no bias \(routing "plain"/,
    );
  });

  it("withInterventions restores the model after a throw, an unknown hook or a wrong shape", () => {
    const m = model();
    const before = snapshot(m);
    const plain = logitsOf(m);
    assert.throws(
      () =>
        withInterventions(m, [forceExpert(m, { layer: 1, expert: 0 })], () => {
          T.noGrad(() => m.forward(TOKS));
          throw new Error("boom");
        }),
      /boom/,
    );
    unchanged(m, before, plain);
    const bad: Intervention = {
      description: "typo",
      hooks: [["blocks.1.attn.hook_patern", () => undefined]],
    };
    assert.throws(
      () => runWithInterventions(m, TOKS, [ablateHead(m, { layer: 1, head: 0 }), bad]),
      /unknown hook point "blocks.1.attn.hook_patern"; the closest: blocks.1.attn.hook_pattern/,
    );
    unchanged(m, before, plain);
    const wrong: Intervention = {
      description: "wrong",
      hooks: [["blocks.2.hook_resid_mid", (t) => t.narrow(1, 0, 2)]],
    };
    assert.throws(
      () => runWithInterventions(m, TOKS, wrong),
      /hook on "blocks.2.hook_resid_mid" returned shape \[2, 2, 32\], expected \[2, 8, 32\]/,
    );
    unchanged(m, before, plain);
    const int: Intervention = {
      description: "int",
      hooks: [["blocks.1.attn.hook_z", (t) => t.int()]],
    };
    assert.throws(
      () => runWithInterventions(m, TOKS, int),
      /hook on "blocks.1.attn.hook_z" returned int32, expected float32/,
    );
    unchanged(m, before, plain);
  });

  it("withInterventions keeps the hooks until an async fn settles", async () => {
    const m = model();
    const plain = logitsOf(m);
    const iv = ablateExpert(m, { layer: [1, 2], expert: [0, 1, 2, 3] });
    const inside = await withInterventions(m, iv, async () => {
      await new Promise((r) => setTimeout(r, 1));
      return logitsOf(m);
    });
    assert.notDeepEqual(inside, plain);
    assert.equal(m.ctx.hookCount(), 0);
    assert.deepEqual(logitsOf(m), plain);
  });
});
