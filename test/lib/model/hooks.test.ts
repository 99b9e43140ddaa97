/** Temporary hooks, gradients at hook points, the hook scheme reachable as objects. */
import { strict as assert } from "node:assert";
import * as T from "../../../lib/tensor/index.js";
import { Transformer } from "../../../lib/model/index.js";
import { MoE, MLP } from "../../../lib/nn/index.js";

const CFG = {
  vocab_size: 64,
  dim: 32,
  inter_dim: 64,
  moe_inter_dim: 16,
  n_layers: 2,
  n_dense_layers: 1,
  n_heads: 2,
  n_routed_experts: 4,
  n_activated_experts: 2,
  kv_lora_rank: 16,
  qk_nope_head_dim: 8,
  qk_rope_head_dim: 8,
  v_head_dim: 8,
  max_seq_len: 32,
  mtp_depth: 1,
};
const TOKS = [[1, 5, 9, 3, 7, 2, 8, 4]];

describe("model hooks", () => {
  it("tensor.registerHook reads and replaces a gradient; the remover removes it", () => {
    const x = T.tensor([1, 2, 3], { requiresGrad: true });
    const y = x.mul(2);
    const seen: number[][] = [];
    const rm = y.registerHook((g) => {
      seen.push(Array.from(g.toArray()));
      return g.mul(10);
    });
    y.sum().backward();
    assert.deepEqual(seen, [[1, 1, 1]]);
    assert.deepEqual(Array.from(x.grad!.toArray()), [20, 20, 20]);
    rm();
    x.grad = null;
    x.mul(2).sum().backward();
    assert.deepEqual(Array.from(x.grad!.toArray()), [2, 2, 2]);
    const z = x.mul(1);
    z.registerHook(() => T.zeros([2]));
    assert.throws(
      () => z.sum().backward(),
      /a gradient hook returned float32 \[2\]; expected float32 \[3\]/,
    );
    assert.throws(() => T.tensor([1]).registerHook(() => undefined), /does not require grad/);
  });

  it("runWithHooks: fwd hooks by name and by predicate, gone after the call even when it throws", () => {
    const m = Transformer.create(CFG, { seed: 1 });
    const plain = T.noGrad(() => m.forward(TOKS)).toArray();
    const seen: string[] = [];
    const zeroed = T.noGrad(() =>
      m.runWithHooks(TOKS, {
        fwd: [
          ["blocks.1.hook_attn_out", (t) => T.zerosLike(t)],
          [(n) => n.endsWith("hook_resid_post"), (_t, name) => void seen.push(name)],
        ],
      }),
    ).toArray();
    assert.deepEqual(seen, ["blocks.0.hook_resid_post", "blocks.1.hook_resid_post"]);
    assert.notDeepEqual(zeroed, plain);
    assert.deepEqual(T.noGrad(() => m.forward(TOKS)).toArray(), plain, "no hook outlives the call");
    assert.throws(
      () =>
        T.noGrad(() =>
          m.runWithHooks(TOKS, {
            fwd: [
              [
                "blocks.0.hook_resid_mid",
                () => {
                  throw new Error("boom");
                },
              ],
            ],
          }),
        ),
      /boom/,
    );
    assert.deepEqual(T.noGrad(() => m.forward(TOKS)).toArray(), plain, "not after a throw either");
  });

  it("runWithHooks: bwd hooks see and replace gradients of this call's activations only", () => {
    const m = Transformer.create(CFG, { seed: 1 });
    const grads: string[] = [];
    const logits = m.runWithHooks(TOKS, {
      bwd: [["blocks.1.hook_resid_pre", (g, name) => (grads.push(name), T.zerosLike(g))]],
    });
    logits.sum().backward();
    assert.deepEqual(grads, ["blocks.1.hook_resid_pre"]);
    // The zeroed gradient stops everything below layer 1 from learning through it.
    const g0 = m.layers[0].attn.wo.weight.grad;
    assert.ok(g0 === null || (g0.toArray() as Float32Array).every((v) => v === 0));
    assert.ok((m.head.weight.grad!.toArray() as Float32Array).some((v) => v !== 0));
    m.zeroGrad();
    m.loss(TOKS, TOKS).backward();
    assert.equal(grads.length, 1, "a later backward through another call runs no hook");
  });

  it("runWithCache({ grads }) records d loss / d activation and leaves the weights' .grad alone", () => {
    const m = Transformer.create(CFG, { seed: 2 });
    const name = "blocks.1.hook_resid_mid";
    const mark = T.tensor([7]);
    m.head.weight.grad = null;
    m.embed.weight.grad = mark.expand([...m.embed.weight.shape]).contiguous();
    const before = m.embed.weight.grad;
    const { cache } = m.runWithCache(TOKS, {
      names: [name, "blocks.1.moe.hook_expert_weights"],
      grads: true,
    });
    assert.equal(m.embed.weight.grad, before);
    assert.equal(m.head.weight.grad, null);
    const g = cache.grad(name);
    assert.deepEqual(g.shape, cache.get(name).shape);
    // Against retainGrad on the same activation in a plain run with the same loss.
    let live: T.Tensor | null = null;
    const logits = m.runWithHooks(TOKS, { fwd: [[name, (t) => void (live = t.retainGrad())]] });
    T.crossEntropy(
      logits.narrow(1, 0, 7),
      T.tensor([TOKS[0].slice(1)], { dtype: "int32" }),
    ).backward();
    const want = live!.grad!.toArray() as Float32Array;
    const got = g.toArray() as Float32Array;
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(want[i] - got[i]) < 1e-6);
    assert.ok(cache.grads.has("blocks.1.moe.hook_expert_weights"));
    assert.throws(
      () => cache.grad("blocks.0.hook_resid_pre"),
      /no gradient of "blocks.0.hook_resid_pre"/,
    );
    m.zeroGrad();
  });

  it("unknown hook names get the closest names; a wrong dtype or shape names the hook", () => {
    const m = Transformer.create(CFG, { seed: 1 });
    assert.throws(
      () => m.runWithHooks(TOKS, { fwd: [["blocks.1.attn.hook_patern", () => undefined]] }),
      /unknown hook point "blocks.1.attn.hook_patern"; the closest: blocks.1.attn.hook_pattern/,
    );
    assert.throws(
      () =>
        T.noGrad(() =>
          m.runWithHooks(TOKS, {
            fwd: [["blocks.1.attn.hook_pattern", (t) => t.narrow(-1, 0, 1)]],
          }),
        ),
      /hook on "blocks.1.attn.hook_pattern" returned shape/,
    );
    assert.throws(
      () =>
        T.noGrad(() =>
          m.runWithHooks(TOKS, { fwd: [["blocks.1.moe.hook_expert_indices", (t) => t.float()]] }),
        ),
      /hook on "blocks.1.moe.hook_expert_indices" returned float32, expected int32/,
    );
  });

  it("the hook scheme is reachable as objects: model.blocks[1].moe is model.layers[1].ffn", () => {
    const m = Transformer.create(CFG, { seed: 1 });
    assert.equal(m.blocks[1], m.layers[1]);
    assert.ok(m.blocks[1].moe instanceof MoE);
    assert.equal(m.blocks[1].moe, m.layers[1].ffn);
    assert.equal(m.blocks[1].mlp, null);
    assert.ok(m.blocks[0].mlp instanceof MLP);
    assert.equal(m.blocks[0].moe, null);
    assert.equal(m.blocks[1].moe!.hookPath, "blocks.1.moe");
    assert.equal(m.blocks[1].moe!.path, "layers.1.ffn");
    assert.equal(m.mtp[0].moe!.hookPath, "mtp.0.moe");
  });
});
