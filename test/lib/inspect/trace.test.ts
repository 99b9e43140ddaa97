/** Router traces, attention patterns and the latent c_kv of one sequence. */
import { strict as assert } from "node:assert";
import * as T from "../../../lib/tensor/index.js";
import {
  attentionPatterns,
  latentKV,
  principalDirections,
  routerTrace,
} from "../../../lib/inspect/index.js";
import { TOKS, model } from "./fixtures.js";

describe("inspect traces", () => {
  it("routerTrace: scores, biased scores, choices and weights per token; what the bias changed", () => {
    const m = model(1, { n_expert_groups: 1, n_limited_groups: 1 });
    T.noGrad(() => m.blocks[2].moe!.gate.bias!.copy_(T.tensor([0, 0, 0, 3])));
    const tr = routerTrace(m, TOKS, { batch: 1 });
    assert.deepEqual(tr.tokens.slice(0, 3), ["0: 6", "1: 2", "2: 11"]);
    assert.deepEqual(
      tr.layers.map((l) => l.name),
      ["blocks.1.moe", "blocks.2.moe"],
    );
    const { cache } = m.runWithCache(TOKS, {
      names: ["blocks.2.moe.hook_expert_indices", "blocks.2.moe.hook_router_scores"],
    });
    const idx = cache.get("blocks.2.moe.hook_expert_indices").toArray();
    const s = cache.get("blocks.2.moe.hook_router_scores").toArray();
    const l2 = tr.layers[1];
    for (let t = 0; t < 8; t++) {
      assert.deepEqual(l2.chosen[t], [idx[(8 + t) * 2], idx[(8 + t) * 2 + 1]]);
      assert.deepEqual(l2.scores[t], Array.from(s.subarray((8 + t) * 4, (8 + t + 1) * 4)));
      l2.biased[t].forEach((v, e) =>
        assert.equal(v, Math.fround(l2.scores[t][e] + [0, 0, 0, 3][e])),
      );
      assert.equal(l2.chosen[t][0], 3, "the bias of 3 puts expert 3 first");
    }
    assert.deepEqual(l2.bias, [0, 0, 0, 3]);
    const unbiasedTop = l2.scores.filter((r) =>
      [...r.keys()]
        .sort((a, b) => r[b] - r[a])
        .slice(0, 2)
        .includes(3),
    ).length;
    assert.equal(tr.biasChanged()[1], 8 - unbiasedTop);
    assert.equal(tr.biasChanged()[0], 0, "layer 1's bias is zero");
    assert.match(
      tr.toString(),
      /blocks.2.moe \(the bias changed \d of 8 choices\):\n {4}0: 6 {9}-> E3 /,
    );
    assert.throws(() => routerTrace(m, TOKS, { layers: [0] }), /layer 0 is dense/);
  });

  it("attentionPatterns: causal rows that sum to 1", () => {
    const m = model();
    const a = attentionPatterns(m, TOKS, { layers: [1] });
    const p = a.layers[0].pattern;
    assert.equal(p.length, 2);
    for (const h of p)
      h.forEach((row, t) => {
        assert.ok(Math.abs(row.reduce((x, y) => x + y, 0) - 1) < 1e-5);
        row.forEach((v, s) => s > t && assert.equal(v, 0));
      });
    assert.equal(a.entropy()[0][0] > 0, true);
  });

  it("latentKV: norms of c_kv, principal directions of a known spread", () => {
    const m = model();
    const v = latentKV(m, TOKS, { layers: [0, 2], components: 2 });
    const { cache } = m.runWithCache(TOKS, { names: ["blocks.2.attn.hook_kv_latent"] });
    const c = cache.get("blocks.2.attn.hook_kv_latent").toArray();
    v.layers[1].norms.forEach((n, t) =>
      assert.ok(Math.abs(n - Math.hypot(...c.subarray(t * 16, (t + 1) * 16))) < 1e-5),
    );
    assert.equal(v.layers[1].directions.length, 2);
    assert.ok(v.layers[1].explained[0] >= v.layers[1].explained[1]);
    // Points on a line along (3, 4)/5 plus a little spread along (-4, 3)/5.
    const pts = [-2, -1, 0, 1, 2].map((x, i) => [
      0.6 * x - 0.8 * 0.1 * (i % 2),
      0.8 * x + 0.6 * 0.1 * (i % 2),
    ]);
    const pca = principalDirections(pts, 2);
    assert.ok(
      Math.abs(pca.directions[0][0] - 0.6) < 1e-6 && Math.abs(pca.directions[0][1] - 0.8) < 1e-6,
    );
    assert.ok(pca.explained[0] > 0.99 && Math.abs(pca.explained[0] + pca.explained[1] - 1) < 1e-9);
    assert.ok(Math.abs(pca.projections[4][0] - pca.projections[0][0] - 4) < 0.01);
  });
});
