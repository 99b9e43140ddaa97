/** Gate routing rules on hand-made scores, and MoE's grouped dispatch against a per-token loop. */
import { strict as assert } from "node:assert";
import * as T from "../../../lib/tensor/index.js";
import { modelArgs, type ModelArgs } from "../../../lib/model/index.js";
import { Gate, Init, MoE, ModelContext, routeTokens } from "../../../lib/nn/index.js";
import { groupByExpert, moeCombine, routeTokensJs } from "../../../lib/nn/moe.js";
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
  const { weights, indices } = g.forward(T.zeros([1, 1, a.dim]), {
    fire: (name, t) => {
      if (name === "hook_router_scores") return T.tensor(scores).reshape(1, 1, scores.length);
      if (name === "hook_router_biased_scores") biased = Array.from(t.toArray());
      return t;
    },
    listening: () => true,
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

  for (const f of [
    { score_func: "sigmoid", route_scale: 2.5 },
    { score_func: "softmax", route_scale: 1.5 },
  ] as const)
    it(`the routing weights and their gradient equal gather / normalise / scale by tensor ops (${f.score_func})`, () => {
      const a = args({ n_routed_experts: 6, n_activated_experts: 3, ...f });
      const gate = new Gate(new ModelContext(), new Init(5, 0.5), a, false);
      const x = T.randn([2, 5, 8], { seed: 6 });
      const up = T.randn([2, 5, 3], { seed: 8 });
      const { weights, indices } = gate.forward(x);
      weights.mul(up).sum().backward();
      const gFused = gate.weight.grad!.toArray();
      gate.zeroGrad();
      // The same weights from autograd's own ops, on the indices the gate chose.
      const l = T.linear(x, gate.weight);
      const sc = f.score_func === "softmax" ? T.softmax(l, -1) : T.sigmoid(l);
      let w = T.gather(sc, 2, indices);
      if (f.score_func === "sigmoid") w = w.div(w.sum(-1, true));
      w = w.mul(a.route_scale);
      w.mul(up).sum().backward();
      const gRef = gate.weight.grad!.toArray();
      const wf = weights.toArray();
      const wr = w.toArray();
      for (let i = 0; i < wf.length; i++) assert.ok(Math.abs(wf[i] - wr[i]) < 1e-6, `w[${i}]`);
      for (let i = 0; i < gFused.length; i++)
        assert.ok(Math.abs(gFused[i] - gRef[i]) < 1e-5, `grad[${i}] ${gFused[i]} vs ${gRef[i]}`);
      assert.ok(gRef.some((v) => v !== 0));
    });

  it("builds the biased scores only when a hook or a cache run asks for them", () => {
    const a = args({ n_routed_experts: 4, n_activated_experts: 2 });
    const ctx = new ModelContext();
    const moe = new MoE(ctx, new Init(3, 0.3), a, true);
    moe.setPaths("layers.1.ffn", "blocks.1.moe");
    const fired: string[] = [];
    const off = ["hook_router_scores", "hook_expert_indices", "hook_router_biased_scores"].map(
      (h) => ctx.addHook(`blocks.1.moe.${h}`, (_t, name) => void fired.push(name)),
    );
    const x = T.randn([1, 3, 8], { seed: 2 });
    moe.forward(x);
    assert.deepEqual(fired, [
      "blocks.1.moe.hook_router_scores",
      "blocks.1.moe.hook_router_biased_scores",
      "blocks.1.moe.hook_expert_indices",
    ]);
    off[2]();
    fired.length = 0;
    moe.forward(x);
    assert.deepEqual(fired, [
      "blocks.1.moe.hook_router_scores",
      "blocks.1.moe.hook_expert_indices",
    ]);
    assert.equal(ctx.listening("blocks.1.moe.hook_router_biased_scores"), false);
    const rec = ctx.startRecording(["blocks.1.moe.hook_router_biased_scores"]);
    assert.equal(ctx.listening("blocks.1.moe.hook_router_biased_scores"), true);
    moe.forward(x);
    ctx.stopRecording();
    assert.deepEqual(rec.get("blocks.1.moe.hook_router_biased_scores")!.shape, [1, 3, 4]);
  });

  it("a hook's out-of-range expert index is a clear error naming the hook point", () => {
    const a = args({ n_routed_experts: 4, n_activated_experts: 2 });
    const ctx = new ModelContext();
    const moe = new MoE(ctx, new Init(3, 0.3), a, true);
    moe.setPaths("layers.1.ffn", "blocks.1.moe");
    ctx.addHook("blocks.1.moe.hook_expert_indices", (t) =>
      T.full([...t.shape], 4, { dtype: "int32" }),
    );
    assert.throws(
      () => moe.forward(T.randn([1, 3, 8], { seed: 2 })),
      /expert index 4 out of range \[0, 4\) in blocks\.1\.moe/,
    );
  });

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
    if (!addon || typeof addon.moeRoute !== "function") this.skip();
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
