/** Gate routing rules on hand-made scores, and MoE's grouped dispatch against a per-token loop. */
import { strict as assert } from "node:assert";
import * as T from "../../../lib/tensor/index.js";
import { modelArgs, type ModelArgs } from "../../../lib/model/index.js";
import { Gate, Init, MoE, ModelContext, routeTokens } from "../../../lib/nn/index.js";
import { routeTokensJs } from "../../../lib/nn/moe.js";
import { loadAddon } from "../../../lib/tensor/addon.js";

function args(f: Partial<ModelArgs>): ModelArgs {
  return modelArgs({
    dim: 8,
    inter_dim: 16,
    moe_inter_dim: 8,
    n_layers: 2,
    n_dense_layers: 1,
    n_heads: 2,
    q_lora_rank: 0,
    kv_lora_rank: 8,
    qk_nope_head_dim: 4,
    qk_rope_head_dim: 4,
    v_head_dim: 4,
    vocab_size: 16,
    max_seq_len: 32,
    ...f,
  });
}

/** Runs a Gate whose scores are replaced by `scores` [1, 1, E] through its hook. */
function route(
  a: ModelArgs,
  scores: number[],
  bias: number[] | null,
): { indices: number[]; weights: number[]; biased: number[] } {
  const g = new Gate(new ModelContext(), new Init(0, 0.1), a, bias !== null);
  if (bias) T.noGrad(() => g.bias!.copy_(T.tensor(bias)));
  let biased: number[] = [];
  const { weights, indices } = g.forward(T.zeros([1, 1, a.dim]), (name, t) => {
    if (name === "hook_router_scores") return T.tensor(scores).reshape(1, 1, scores.length);
    if (name === "hook_router_biased_scores") biased = Array.from(t.toArray());
    return t;
  });
  return { indices: Array.from(indices.toArray()), weights: Array.from(weights.toArray()), biased };
}

function close(a: number[], b: number[], tol = 1e-6): void {
  assert.equal(a.length, b.length);
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) < tol, `[${i}] ${v} vs ${b[i]} (${a} vs ${b})`));
}

describe("nn/Gate routing", () => {
  it("the bias chooses experts but the weights are the unbiased scores (sigmoid: normalised)", () => {
    const a = args({
      n_routed_experts: 4,
      n_activated_experts: 2,
      score_func: "sigmoid",
      route_scale: 2.5,
    });
    const r = route(a, [0.1, 0.2, 0.3, 0.4], [1, 0, 0, 0]);
    assert.deepEqual(r.indices, [0, 3]);
    close(r.weights, [(0.1 / 0.5) * 2.5, (0.4 / 0.5) * 2.5]);
    close(r.biased, [1.1, 0.2, 0.3, 0.4]);
    const nob = route(a, [0.1, 0.2, 0.3, 0.4], [0, 0, 0, 0]);
    assert.deepEqual(nob.indices, [3, 2]);
  });

  it("softmax weights are not renormalised; route_scale multiplies", () => {
    const a = args({
      n_routed_experts: 4,
      n_activated_experts: 2,
      score_func: "softmax",
      route_scale: 16,
    });
    const r = route(a, [0.1, 0.2, 0.3, 0.4], null);
    assert.deepEqual(r.indices, [3, 2]);
    close(r.weights, [0.4 * 16, 0.3 * 16], 1e-5);
  });

  it("group score = sum of the top-2 biased scores with a bias, the max without; n_limited_groups kept", () => {
    const a = args({
      n_routed_experts: 8,
      n_activated_experts: 2,
      n_expert_groups: 4,
      n_limited_groups: 2,
      score_func: "sigmoid",
    });
    // groups: A [.9, 0] (sum .9, max .9), B [.5, .5] (sum 1, max .5), C [.6, .35] (sum .95, max .6), D [.1, .1]
    const s = [0.9, 0.0, 0.5, 0.5, 0.6, 0.35, 0.1, 0.1];
    const withBias = route(a, s, [0, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(withBias.indices, [4, 2]); // groups B and C kept
    assert.equal(withBias.biased[0], -Infinity);
    assert.equal(withBias.biased[6], -Infinity);
    const plain = route(a, s, null);
    assert.deepEqual(plain.indices, [0, 4]); // groups A and C kept (by max)
    close(plain.weights, [0.9 / 1.5, 0.6 / 1.5]);
  });

  it("routeTokens handles many tokens and never picks a dropped group", () => {
    const a = args({
      n_routed_experts: 16,
      n_activated_experts: 3,
      n_expert_groups: 4,
      n_limited_groups: 2,
    });
    const n = 50;
    const sc = T.rand([n, 16], { seed: 3 }).toArray() as Float32Array;
    const { indices, biased } = routeTokens(sc, null, n, a);
    for (let t = 0; t < n; t++) {
      const groups = new Set<number>();
      for (let j = 0; j < 3; j++) {
        const e = indices[t * 3 + j];
        assert.ok(biased[t * 16 + e] > -Infinity);
        groups.add(Math.floor(e / 4));
      }
      assert.ok(groups.size <= 2);
    }
  });
});

describe("nn/MoE", () => {
  for (const [label, f] of [
    [
      "sigmoid + bias + groups",
      { score_func: "sigmoid", n_expert_groups: 2, n_limited_groups: 1, route_scale: 2.5 },
    ],
    ["softmax, 2 shared", { score_func: "softmax", n_shared_experts: 2 }],
  ] as const) {
    it(`grouped dispatch equals a per-token reference loop, values and gradients (${label})`, () => {
      const a = args({ n_routed_experts: 6, n_activated_experts: 2, ...f });
      const moe = new MoE(new ModelContext(), new Init(2, 0.3), a, true);
      T.noGrad(() => moe.gate.bias!.copy_(T.randn([6], { seed: 9, std: 0.2 })));
      const x1 = T.randn([2, 7, 8], { seed: 4, requiresGrad: true });
      const x2 = T.randn([2, 7, 8], { seed: 4, requiresGrad: true });
      const y1 = moe.forward(x1);
      const y2 = moe.forwardPerToken(x2);
      assert.deepEqual(y1.shape, [2, 7, 8]);
      const a1 = y1.toArray();
      const a2 = y2.toArray();
      for (let i = 0; i < a1.length; i++) assert.ok(Math.abs(a1[i] - a2[i]) < 1e-5, `${i}`);
      y1.square().sum().backward();
      y2.square().sum().backward();
      const g1 = x1.grad!.toArray();
      const g2 = x2.grad!.toArray();
      for (let i = 0; i < g1.length; i++) assert.ok(Math.abs(g1[i] - g2[i]) < 1e-4, `grad ${i}`);
      const w = moe.gate.weight.grad!.toArray();
      assert.ok(
        w.some((v) => v !== 0),
        "the gate weight gets gradients through the expert weights",
      );
    });
  }
});

describe("nn/MoE native router", () => {
  const addon = loadAddon();

  it("chooses exactly what the TypeScript router chooses, ties and dropped groups included", function () {
    if (!addon || typeof addon.moeRoute !== "function") this.skip();
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
      }
    }
  });

  it("rejects inconsistent sizes and wrong arrays with a clear error", function () {
    if (!addon || typeof addon.moeRoute !== "function") this.skip();
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
