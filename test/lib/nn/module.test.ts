/** Module base: parameter names and counts, hook points, tree display, ModuleList. */
import { strict as assert } from "node:assert";
import * as T from "../../../lib/tensor/index.js";
import { modelArgs } from "../../../lib/config/index.js";
import { Init, MLP, ModelContext, ModuleList, MoE } from "../../../lib/nn/index.js";

describe("nn/Module", () => {
  it("names parameters with their prefixes, counts them, lists hook points, displays a tree", () => {
    const ctx = new ModelContext();
    const m = new MLP(ctx, new Init(0, 0.02), 8, 16);
    m.setPaths("layers.0.ffn", "blocks.0.mlp");
    assert.deepEqual(
      [...m.namedParameters().keys()],
      ["layers.0.ffn.w1.weight", "layers.0.ffn.w2.weight", "layers.0.ffn.w3.weight"],
    );
    assert.equal(m.numParams(), 3 * 8 * 16);
    assert.deepEqual(m.hookPoints(), ["blocks.0.mlp.hook_post"]);
    assert.match(m.toString(), /w1: Linear\(8 -> 16\)/);
    assert.match(m.toString(), /weight \[16, 8\]/);
  });

  it("a hook replacing an activation with another shape is a clear error", () => {
    const ctx = new ModelContext();
    const m = new MLP(ctx, new Init(0, 0.02), 8, 16);
    ctx.addHook("hook_post", () => T.zeros([1]));
    assert.throws(
      () => m.forward(T.ones([2, 8])),
      /hook on "hook_post" returned shape \[1\], expected \[2, 16\]/,
    );
  });

  it('ModuleList numbers its items; a child registered with hook name "" shares its parent\'s hook path', () => {
    const ctx = new ModelContext();
    const init = new Init(0, 0.02);
    const list = new ModuleList(ctx, [new MLP(ctx, init, 4, 8), new MLP(ctx, init, 4, 8)]);
    list.setPaths("layers.2.ffn.experts", "blocks.2.moe.experts");
    assert.deepEqual([...list.childModules().keys()], ["0", "1"]);
    assert.equal(list.items[1].w2.path, "layers.2.ffn.experts.1.w2");
    assert.deepEqual(list.hookPoints(), [
      "blocks.2.moe.experts.0.hook_post",
      "blocks.2.moe.experts.1.hook_post",
    ]);
    assert.match(list.describe(), /ModuleList\(2 x MLP/);
    const a = modelArgs({ ...SMALL_MOE });
    const moe = new MoE(ctx, init, a, true);
    moe.setPaths("layers.1.ffn", "blocks.1.moe");
    assert.equal(moe.gate.path, "layers.1.ffn.gate");
    assert.equal(moe.gate.hookPath, "blocks.1.moe");
    assert.deepEqual(moe.hookPoints(), [
      "blocks.1.moe.hook_router_scores",
      "blocks.1.moe.hook_router_biased_scores",
      "blocks.1.moe.hook_expert_indices",
      "blocks.1.moe.hook_expert_weights",
      "blocks.1.moe.shared_experts.hook_post",
    ]);
    // The gate fires its hook points on the layer's path.
    const seen: string[] = [];
    ctx.addHook("blocks.1.moe.hook_expert_indices", (_t, name) => void seen.push(name));
    moe.forward(T.randn([1, 3, a.dim], { seed: 1 }));
    assert.deepEqual(seen, ["blocks.1.moe.hook_expert_indices"]);
  });
});

const SMALL_MOE = {
  dim: 8,
  inter_dim: 16,
  moe_inter_dim: 8,
  n_layers: 2,
  n_dense_layers: 1,
  n_heads: 2,
  n_routed_experts: 4,
  n_activated_experts: 2,
  n_shared_experts: 1,
  kv_lora_rank: 8,
  qk_nope_head_dim: 4,
  qk_rope_head_dim: 4,
  v_head_dim: 4,
  vocab_size: 16,
  max_seq_len: 32,
};
