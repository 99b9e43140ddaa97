/** MLA: naive == absorb, and latent-cache decoding equals the full pass. */
import { strict as assert } from "node:assert";
import * as T from "../../../lib/tensor/index.js";
import { modelArgs, presets } from "../../../lib/config/index.js";
import { Init, MLA, ModelContext, RopeTables, LatentKV } from "../../../lib/nn/index.js";

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
