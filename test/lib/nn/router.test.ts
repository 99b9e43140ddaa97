/** The group-limited top-k router: native against TypeScript, NaN scores, bad sizes. */
import { strict as assert } from "node:assert";
import { routeTokens } from "../../../lib/nn/index.js";
import { routeTokensJs } from "../../../lib/nn/router.js";
import { loadAddon } from "../../../lib/tensor/addon.js";
import { NO_ADDON, skipBecause } from "../../helpers/env.js";

describe("nn/router: the native router", () => {
  const addon = loadAddon();

  it("chooses exactly what the TypeScript router chooses, ties and dropped groups included", function () {
    if (!addon || typeof addon.moeRoute !== "function") skipBecause(this, NO_ADDON);
    const configs = [
      { n_routed_experts: 16, n_activated_experts: 2, n_expert_groups: 4, n_limited_groups: 2 },
      { n_routed_experts: 8, n_activated_experts: 3, n_expert_groups: 1, n_limited_groups: 1 },
      { n_routed_experts: 64, n_activated_experts: 6, n_expert_groups: 8, n_limited_groups: 3 },
    ];
    let seed = 7;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (const a of configs) {
      const E = a.n_routed_experts;
      const n = 300;
      // Coarse values make exact ties (scores and group sums) frequent.
      const scores = Float32Array.from({ length: n * E }, () => Math.round(rand() * 8) / 8);
      for (const bias of [
        null,
        Float32Array.from({ length: E }, () => Math.round(rand() * 4) / 16),
      ]) {
        const native = routeTokens(scores, bias, n, a);
        const idx = new Int32Array(n * a.n_activated_experts);
        const biased = new Float32Array(n * E);
        routeTokensJs(scores, bias, n, a, idx, biased);
        assert.deepEqual(
          Array.from(native.indices),
          Array.from(idx),
          `indices, E=${E}, bias ${!!bias}`,
        );
        assert.deepEqual(Array.from(native.biased), Array.from(biased), `biased scores, E=${E}`);
        // Without the biased scores written out, the same choice.
        const idx2 = new Int32Array(n * a.n_activated_experts);
        const k = a.n_activated_experts;
        const G = a.n_expert_groups;
        (addon!.moeRoute as (...x: unknown[]) => void)(
          scores,
          bias,
          n,
          E,
          k,
          G,
          a.n_limited_groups,
          idx2,
          null,
        );
        assert.deepEqual(Array.from(idx2), Array.from(idx), `indices without biased, E=${E}`);
      }
    }
  });

  it("routes NaN scores as -inf, the same in both routers", function () {
    if (!addon || typeof addon.moeRoute !== "function") skipBecause(this, NO_ADDON);
    const a = {
      n_routed_experts: 8,
      n_activated_experts: 2,
      n_expert_groups: 2,
      n_limited_groups: 1,
    };
    const rows = [
      [NaN, 0.1, 0.2, 0.3, 0.9, NaN, 0.5, 0.4],
      [NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN],
      [0.5, NaN, -Infinity, 0.5, NaN, Infinity, 0.1, 0.2],
    ];
    const scores = Float32Array.from(rows.flat());
    for (const bias of [null, Float32Array.from([0, 0.1, 0, 0, 0, 0, 0.2, 0])]) {
      const nat = routeTokens(scores, bias, 3, a);
      const idx = new Int32Array(6);
      const biased = new Float32Array(24);
      routeTokensJs(scores, bias, 3, a, idx, biased);
      assert.deepEqual(Array.from(nat.indices), Array.from(idx));
      assert.deepEqual(Array.from(nat.biased), Array.from(biased));
      assert.ok(!Array.from(biased).some(Number.isNaN), "no NaN in the biased scores");
    }
    const { indices } = routeTokens(scores, null, 3, a);
    // Token 0: group 1 (0.9) wins, its NaN ranks last. Token 1: all -inf: the lowest indices.
    // Token 2: group 1 holds +inf, so it wins; then 0.2 beats 0.1 and the NaN.
    assert.deepEqual(Array.from(indices), [4, 6, 0, 1, 5, 7]);
  });

  it("rejects inconsistent sizes and wrong arrays with a clear error", function () {
    if (!addon || typeof addon.moeRoute !== "function") skipBecause(this, NO_ADDON);
    const route = addon.moeRoute as (...args: unknown[]) => void;
    const s = new Float32Array(32);
    assert.throws(
      () => route(s, null, 2, 16, 2, 3, 1, new Int32Array(4), new Float32Array(32)),
      /groups dividing E/,
    );
    assert.throws(
      () => route(s, null, 4, 16, 2, 1, 1, new Int32Array(8), new Float32Array(64)),
      /scores/,
    );
    assert.throws(
      () => route(s, null, 2, 16, 2, 1, 1, new Float32Array(4), new Float32Array(32)),
      /indices must be an Int32Array/,
    );
  });
});
