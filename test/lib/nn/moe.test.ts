/** Gate routing rules on hand-made scores, and MoE's grouped dispatch against a per-token loop. */
import { strict as assert } from "node:assert";
import * as T from "../../../lib/tensor/index.js";
import { modelArgs, type ModelArgs } from "../../../lib/config/index.js";
import { Gate, Init, MoE, ModelContext, routeTokens } from "../../../lib/nn/index.js";

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
  const ctx = new ModelContext();
  const g = new Gate(ctx, new Init(0, 0.1), a, bias !== null);
  if (bias) T.noGrad(() => g.bias!.copy_(T.tensor(bias)));
  let biased: number[] = [];
  // A Gate on its own has its hook points at the root ("hook_router_scores").
  ctx.addHook("hook_router_scores", () => T.tensor(scores).reshape(1, 1, scores.length));
  ctx.addHook("hook_router_biased_scores", (t) => void (biased = Array.from(t.toArray())));
  const { weights, indices } = g.forward(T.zeros([1, 1, a.dim]));
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
});
