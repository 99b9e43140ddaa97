/** Module base, RoPE/YaRN tables, MLA naive == absorb and latent-cache decoding. */
import { strict as assert } from "node:assert";
import * as T from "../../../lib/tensor/index.js";
import { modelArgs, presets } from "../../../lib/model/index.js";
import {
  Init,
  MLA,
  MLP,
  ModelContext,
  RMSNorm,
  RopeTables,
  ropeFrequencies,
  type LatentKV,
} from "../../../lib/nn/index.js";

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

  it("RMSNorm is w * x / sqrt(mean(x^2) + 1e-6)", () => {
    const n = new RMSNorm(new ModelContext(), 2);
    const y = n.forward(T.tensor([[3, 4]])).toArray();
    const r = Math.sqrt(12.5 + 1e-6);
    assert.ok(Math.abs(y[0] - 3 / r) < 1e-6 && Math.abs(y[1] - 4 / r) < 1e-6);
  });
});

describe("nn/RoPE", () => {
  it("without YaRN the frequencies are theta^(-2i/d)", () => {
    const a = modelArgs({ max_seq_len: 4096, original_seq_len: 4096 });
    const f = ropeFrequencies(a);
    assert.equal(f.length, 32);
    for (let i = 0; i < 32; i++)
      assert.ok(Math.abs(f[i] / Math.pow(10000, (-2 * i) / 64) - 1) < 1e-6);
  });

  it("YaRN (V3: factor 40, beta 32/1) keeps pairs below 10, divides those from 23 by 40", () => {
    const a = modelArgs({ max_seq_len: 16384 });
    const f = ropeFrequencies(a);
    const raw = (i: number): number => Math.pow(10000, (-2 * i) / 64);
    for (let i = 0; i <= 10; i++) assert.ok(Math.abs(f[i] / raw(i) - 1) < 1e-6, `${i}`);
    for (let i = 23; i < 32; i++) assert.ok(Math.abs((f[i] * 40) / raw(i) - 1) < 1e-6, `${i}`);
    const mid = f[16] / raw(16);
    assert.ok(mid < 1 && mid > 1 / 40);
    const tab = new RopeTables(a, 8);
    assert.deepEqual(tab.cos.shape, [8, 32]);
    assert.ok(Math.abs(tab.cos.toArray()[3 * 32 + 5] - Math.cos(3 * f[5])) < 1e-6);
    assert.throws(() => tab.range(6, 3), /exceed max_seq_len/);
  });
});

describe("nn/MLA", () => {
  const cfgs = {
    "q_lora_rank > 0": presets.tiny.args,
    "q_lora_rank 0": modelArgs({ ...presets.tiny.args, q_lora_rank: 0 }),
  };
  for (const [label, a0] of Object.entries(cfgs)) {
    it(`naive == absorb, and cached absorb decoding equals the full pass (${label})`, () => {
      const a = a0;
      const attn = new MLA(new ModelContext(), new Init(1, 0.1), a);
      const tab = new RopeTables(a, 16);
      const x = T.randn([2, 6, a.dim], { seed: 2 });
      const causal = new Float32Array(36);
      for (let t = 0; t < 6; t++) for (let s = t + 1; s < 6; s++) causal[t * 6 + s] = -1e30;
      const mask = T.tensor(causal, { shape: [1, 1, 6, 6] });
      const { cos, sin } = tab.range(0, 6);
      const naive = attn.forward(x, { cos, sin, mask }, "naive").toArray();
      const absorb = attn.forward(x, { cos, sin, mask }, "absorb").toArray();
      let d = 0;
      let n = 0;
      for (let i = 0; i < naive.length; i++) {
        d += (naive[i] - absorb[i]) ** 2;
        n += naive[i] ** 2;
      }
      assert.ok(Math.sqrt(d / n) < 1e-5, `naive vs absorb ${Math.sqrt(d / n)}`);
      const cache: LatentKV = { kv: null, pe: null };
      const r0 = tab.range(0, 4);
      const m4 = T.tensor(
        causal.filter((_, i) => i % 6 < 4 && i < 24),
        { shape: [1, 1, 4, 4] },
      );
      const first = attn.forward(x.narrow(1, 0, 4), { ...r0, mask: m4, cache }).toArray();
      assert.deepEqual(cache.kv!.shape, [2, 4, a.kv_lora_rank]);
      assert.deepEqual(cache.pe!.shape, [2, 4, a.qk_rope_head_dim]);
      const rows: Float32Array[] = [first as Float32Array];
      for (let t = 4; t < 6; t++) {
        const r = tab.range(t, 1);
        rows.push(
          attn.forward(x.narrow(1, t, 1), { ...r, mask: null, cache }).toArray() as Float32Array,
        );
      }
      const D = a.dim;
      for (let b = 0; b < 2; b++)
        for (let t = 0; t < 6; t++)
          for (let j = 0; j < D; j++) {
            const got = t < 4 ? rows[0][(b * 4 + t) * D + j] : rows[t - 3][b * D + j];
            const want = naive[(b * 6 + t) * D + j];
            assert.ok(
              Math.abs(got - want) < 1e-4 * (1 + Math.abs(want)),
              `b${b} t${t} j${j}: ${got} vs ${want}`,
            );
          }
    });
  }
});
