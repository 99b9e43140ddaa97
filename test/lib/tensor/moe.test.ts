/** The MoE dispatch ops: grouping by expert and the combine, with its gradient. */
import { strict as assert } from "node:assert";
import * as T from "../../../lib/tensor/index.js";
import { groupByExpert, moeCombine } from "../../../lib/tensor/ops/moe.js";

describe("tensor/ops/moe", () => {
  it("groupByExpert sorts (token, slot) pairs by expert, stably, with the inverse map", () => {
    // 3 tokens, k = 2, 4 experts; expert 1 unused.
    const g = groupByExpert(Int32Array.from([2, 0, 0, 3, 2, 3]), 3, 2, 4, "test");
    assert.deepEqual(Array.from(g.counts), [0, 2, 2, 4, 6]);
    assert.deepEqual(Array.from(g.tok.toArray()), [0, 1, 0, 2, 1, 2]);
    assert.deepEqual(Array.from(g.pos.toArray()), [1, 2, 0, 4, 3, 5]);
    assert.deepEqual(Array.from(g.inv.toArray()), [2, 0, 1, 4, 3, 5]);
    assert.deepEqual(Array.from(g.starts.toArray()), [0, 2, 4, 6]);
    assert.throws(
      () => groupByExpert(Int32Array.from([0, -1]), 1, 2, 4, "blocks.0.moe"),
      /-1 out of range/,
    );
  });

  it("moeCombine equals base + the weighted routed rows, with its gradient", () => {
    const idx = Int32Array.from([2, 0, 0, 3, 2, 3]);
    const g = groupByExpert(idx, 3, 2, 4, "test");
    const D = 5;
    const base = T.randn([3, D], { seed: 1, requiresGrad: true });
    const w = T.randn([6], { seed: 2, requiresGrad: true });
    const ys = [0, 2, 3].map((e, i) =>
      T.randn([g.counts[e + 1] - g.counts[e], D], { seed: 10 + i, requiresGrad: true }),
    );
    const out = moeCombine(base, w, g.tok, g.pos, g.inv, g.starts, ...ys);
    // Reference: for each slot i = t*k + j, row inv[i] of the concatenated expert outputs.
    const all = T.cat(ys, 0);
    const rows = T.indexSelect(all, 0, g.inv).mul(w.reshape(6, 1)).reshape(3, 2, D).sum(1);
    const ref = base.add(rows);
    const o = out.toArray();
    const r = ref.toArray();
    for (let i = 0; i < o.length; i++) assert.ok(Math.abs(o[i] - r[i]) < 1e-6, `out[${i}]`);
    const up = T.randn([3, D], { seed: 3 });
    const grads = (y: T.Tensor): number[][] => {
      for (const t of [base, w, ...ys]) t.grad = null;
      y.mul(up).sum().backward();
      return [base, w, ...ys].map((t) => Array.from(t.grad!.toArray()));
    };
    const gOut = grads(out);
    const gRef = grads(ref);
    gOut.forEach((gs, j) =>
      gs.forEach((v, i) => assert.ok(Math.abs(v - gRef[j][i]) < 1e-5, `grad ${j}[${i}]`)),
    );
  });
});
