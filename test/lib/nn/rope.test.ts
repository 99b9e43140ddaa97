/** RoPE frequencies and YaRN's correction. */
import { strict as assert } from "node:assert";
import { modelArgs } from "../../../lib/config/index.js";
import { RopeTables, ropeFrequencies } from "../../../lib/nn/index.js";

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
