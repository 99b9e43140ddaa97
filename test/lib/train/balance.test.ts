/** Load balancing: MaxVio, DeepSeek-V3's bias rule, and the balance losses with their gradient. */
import { strict as assert } from "node:assert";
import * as T from "../../../lib/tensor/index.js";
import {
  balanceLoss,
  countLoad,
  maxVio,
  topkOfScores,
  updateBias,
} from "../../../lib/train/index.js";

describe("train/balance", () => {
  it("MaxVio = (max load − mean load) / mean load", () => {
    assert.equal(maxVio([4, 4, 4, 4]), 0);
    assert.equal(maxVio([8, 0, 4, 4]), 1);
    assert.equal(maxVio([0, 0, 0, 0]), 0);
    const c = new Float64Array(4);
    countLoad(Int32Array.from([0, 1, 1, 3, 3, 3]), c);
    assert.deepEqual(Array.from(c), [1, 2, 0, 3]);
  });

  it("the bias rule: b_i += γ · sign(mean − load_i), nothing where the load is the mean", () => {
    const b = new Float32Array([0, 0.5, 0, 0]);
    assert.equal(updateBias(b, [6, 2, 4, 4], 0.25), 2);
    assert.deepEqual(Array.from(b), [-0.25, 0.75, 0, 0]);
    assert.equal(updateBias(b, [0, 0, 0, 0], 0.25), 0);
    assert.throws(() => updateBias(b, [1, 2], 0.1), /4 biases for 2 experts/);
  });

  it("top-k of the scores: descending, ties to the lower expert", () => {
    const s = Float32Array.from([0.1, 0.9, 0.5, 0.9, 0.3, 0.2, 0.2, 0.1]);
    assert.deepEqual(Array.from(topkOfScores(s, 2, 4, 2)), [1, 3, 0, 1]);
  });

  it("equals α · mean over groups of Σ f_i P_i computed with tensor ops, and so does its gradient", () => {
    const n = 6;
    const E = 4;
    const k = 2;
    const group = 3;
    const alpha = 0.01;
    const s0 = T.sigmoid(T.randn([n, E], { seed: 4 }));
    const chosen = topkOfScores(s0.toArray() as Float32Array, n, E, k);
    // Reference: f from the counts, P from the normalised scores, by tensor ops.
    const f = new Float32Array((n / group) * E);
    for (let t = 0; t < n; t++)
      for (let j = 0; j < k; j++)
        f[Math.floor(t / group) * E + chosen[t * k + j]] += E / (k * group);
    const a = s0.detach().clone();
    a.requiresGrad = true;
    const sn = a.div(a.sum(-1, true)).reshape(n / group, group, E);
    const P = sn.mean(1);
    const ref = T.tensor(f, { shape: [n / group, E] })
      .mul(P)
      .sum()
      .mul(alpha / (n / group));
    ref.backward();
    const b = s0.detach().clone();
    b.requiresGrad = true;
    const got = balanceLoss(b, chosen, k, group, alpha);
    got.backward();
    assert.ok(Math.abs(got.item() - ref.item()) < 1e-7, `${got.item()} vs ${ref.item()}`);
    const ga = a.grad!.toArray();
    const gb = b.grad!.toArray();
    for (let i = 0; i < ga.length; i++) assert.ok(Math.abs(ga[i] - gb[i]) < 1e-7, `grad[${i}]`);
    assert.throws(
      () => balanceLoss(b, chosen.subarray(2), k, group, alpha),
      /choices for 6 tokens/,
    );
    assert.throws(() => balanceLoss(b, chosen, k, 4, alpha), /do not split into groups of 4/);
  });
});
