/** lib/lab: the training benchmark's experiment set-up and Loss-Free Balancing arms. */
import { strict as assert } from "node:assert";
import { History, Transformer, lab, type StepRecord } from "../../../lib/index.js";

function step(i: number, maxVio: number[]): StepRecord {
  return {
    step: i,
    loss: 1,
    main: 1,
    mtp: null,
    balance: 0,
    lr: 1e-3,
    gradNorm: 1,
    tokensPerSec: 1,
    ms: 1,
    elapsed: i,
    maxVio,
    load: [],
    bias: [],
  };
}

describe("lib/lab", () => {
  it("balanceArms: one bias arm per γ (the first named bias), then aux and none", () => {
    const arms = lab.balanceArms([0.01, 0.001]);
    assert.deepEqual(
      arms.map((a) => a.name),
      ["bias", "bias γ 0.001", "aux", "none"],
    );
    assert.deepEqual(arms[0].opts, { balance: "bias", biasUpdateSpeed: 0.01 });
    assert.deepEqual(arms[2].opts, { balance: "aux", auxAlpha: 0.001 });
    assert.equal(lab.balanceArms()[0].opts.biasUpdateSpeed, 0.001);
  });

  it("balanceMetrics: the last evaluation, averaged over the main MoE layers only", () => {
    const h = new History();
    h.layers = ["blocks.1.moe", "blocks.2.moe", "mtp.0.moe"];
    h.mainLayers = 2;
    for (let i = 1; i <= 10; i++) h.steps.push(step(i, [i, 3 * i, 100]));
    h.evals.push({ step: 5, valLoss: 3, maxVio: [9, 9, 9] });
    h.evals.push({ step: 10, valLoss: 2, maxVio: [0.1, 0.3, 50] });
    const m = lab.balanceMetrics(h, 10, [0.5, 1]);
    assert.equal(m.val, 2);
    assert.ok(Math.abs(m.maxVioGlobal - 0.2) < 1e-12);
    // The window is the 10% of steps before each point (1 step here): step 5 -> (5 + 15) / 2.
    assert.deepEqual(m.maxVioBatch, [10, 20]);
    assert.throws(() => lab.balanceMetrics(new History(), 10), /no evaluation/);
  });

  it("benchTrainerOptions: the benchmark's optimizer, overridable; BENCH_CONFIG builds", () => {
    const o = lab.benchTrainerOptions(5, { batchSize: 8, balance: "bias" });
    assert.equal(o.batchSize, 8);
    assert.equal(o.seqLen, lab.BENCH_OPTIMIZER.seqLen);
    assert.equal(o.balance, "bias");
    assert.deepEqual(o.betas, [0.9, 0.95]);
    const m = Transformer.create({ ...lab.BENCH_CONFIG, routing: "noaux_tc" }, { seed: 0 });
    assert.equal(m.args.n_routed_experts, 8);
    assert.ok(Object.isFrozen(lab.BENCH_CONFIG));
  });

  it("mean and std", () => {
    assert.equal(lab.mean([1, 2, 3]), 2);
    assert.ok(Number.isNaN(lab.mean([])));
    assert.equal(lab.std([5]), 0);
    assert.equal(lab.std([1, 3]), Math.SQRT2);
  });
});
