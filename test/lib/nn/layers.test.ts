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
  LatentKV,
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
      const cache = new LatentKV();
      const r0 = tab.range(0, 4);
      const m4 = T.tensor(
        causal.filter((_, i) => i % 6 < 4 && i < 24),
        { shape: [1, 1, 4, 4] },
      );
      assert.throws(
        () => attn.forward(x.narrow(1, 0, 4), { ...r0, mask: m4, cache }),
        /latent KV cache is for inference; run cached steps under noGrad/,
      );
      assert.equal(cache.length, 0, "a refused step leaves the cache empty");
      const first = T.noGrad(() =>
        attn.forward(x.narrow(1, 0, 4), { ...r0, mask: m4, cache }).toArray(),
      );
      assert.deepEqual(cache.kv!.shape, [2, 4, a.kv_lora_rank]);
      assert.deepEqual(cache.pe!.shape, [2, 4, a.qk_rope_head_dim]);
      const rows: Float32Array[] = [first as Float32Array];
      for (let t = 4; t < 6; t++) {
        const r = tab.range(t, 1);
        rows.push(
          T.noGrad(() =>
            attn.forward(x.narrow(1, t, 1), { ...r, mask: null, cache }).toArray(),
          ) as Float32Array,
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

describe("nn/LatentKV (the latent cache's buffers)", () => {
  const rows = (B: number, n: number, w: number, seed: number): T.Tensor =>
    T.randn([B, n, w], { seed });

  it("appends in place past its first capacity, truncates, and frees its buffers", () => {
    const c = new LatentKV();
    assert.equal(c.kv, null);
    const parts = [rows(2, 5, 3, 1), rows(2, 1, 3, 2), rows(2, 20, 3, 3)];
    const pes = [rows(2, 5, 2, 4), rows(2, 1, 2, 5), rows(2, 20, 2, 6)];
    T.noGrad(() => parts.forEach((p, i) => c.append(p, pes[i])));
    assert.equal(c.length, 26);
    assert.ok(c.capacity >= 26);
    assert.deepEqual(Array.from(c.kv!.toArray()), Array.from(T.cat(parts, 1).toArray()));
    assert.deepEqual(Array.from(c.pe!.toArray()), Array.from(T.cat(pes, 1).toArray()));
    assert.equal(c.elements, 2 * 26 * 5);
    c.truncate(6);
    assert.deepEqual(
      Array.from(c.kv!.toArray()),
      Array.from(T.cat(parts.slice(0, 2), 1).toArray()),
    );
    // What follows a truncation overwrites the dropped positions.
    T.noGrad(() => c.append(parts[0], pes[0]));
    assert.deepEqual(
      Array.from(c.kv!.toArray()),
      Array.from(T.cat([parts[0], parts[1], parts[0]], 1).toArray()),
    );
    assert.throws(() => c.truncate(12), /cannot truncate 11 positions to 12/);
    const before = T.memory().liveTensors;
    c.dispose();
    assert.equal(T.memory().liveTensors, before - 2, "both buffers are freed");
    assert.equal(c.length, 0);
    assert.equal(c.kv, null);
  });

  it("survives tidy scopes (its buffers are its own)", () => {
    const c = new LatentKV();
    T.tidy(() => T.noGrad(() => void c.append(rows(1, 3, 4, 1), rows(1, 3, 2, 2))));
    T.tidy(() => T.noGrad(() => void c.append(rows(1, 2, 4, 3), rows(1, 2, 2, 4))));
    assert.deepEqual(c.kv!.shape, [1, 5, 4]);
    assert.ok(Number.isFinite(c.kv!.sum().item()));
    c.dispose();
  });

  it("refuses rows of another batch or width, naming both shapes", () => {
    const c = new LatentKV();
    T.noGrad(() => c.append(rows(2, 3, 4, 1), rows(2, 3, 2, 2)));
    assert.throws(
      () => T.noGrad(() => c.append(rows(3, 1, 4, 1), rows(3, 1, 2, 2))),
      /latent cache holds \[2, 3, 4\] \+ rope 2; cannot append \[3, 1, 4\] \+ rope 2/,
    );
    assert.throws(
      () => T.noGrad(() => c.append(rows(2, 1, 4, 1), rows(2, 2, 2, 2))),
      /does not match c_kv/,
    );
    assert.equal(c.length, 3);
    c.dispose();
  });
});
