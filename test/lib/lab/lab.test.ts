/** lib/lab: the training benchmark's experiment set-up, Loss-Free Balancing arms, distillation. */
import { strict as assert } from "node:assert";
import { History, Transformer, data, lab, type StepRecord } from "../../../lib/index.js";

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
  it("textPairs: seeded windows of the stream, first byte as prompt, the rest as completion", () => {
    const text = "the quick brown fox jumps over the lazy dog, again and again and again.";
    const tokens = Int32Array.from(Buffer.from(text, "latin1"));
    const a = lab.textPairs(tokens, 5, { length: 12, seed: 3 });
    assert.deepEqual(a, lab.textPairs(tokens, 5, { length: 12, seed: 3 }));
    assert.notDeepEqual(a, lab.textPairs(tokens, 5, { length: 12, seed: 4 }));
    for (const p of a) {
      assert.equal(p.prompt.length, 1);
      assert.equal(p.completion.length, 11);
      assert.ok(text.includes(p.prompt + p.completion));
    }
    assert.throws(() => lab.textPairs(tokens, 0), /n must be >= 1/);
    assert.throws(() => lab.textPairs(tokens, 2, { length: 1000 }), /length must be an integer/);
  });

  it("distillation arms: same batches alone and distilled; a teacher with another vocabulary is an error", async function () {
    this.timeout(60_000);
    const tokens = Int32Array.from(Buffer.from("abcdefgh ".repeat(40), "latin1"));
    const train = lab.textPairs(tokens, 8, { length: 16, seed: 1 });
    const valid = lab.textPairs(tokens, 4, { length: 16, seed: 2 });
    const small = { ...lab.DISTILL_STUDENT, dim: 32, q_lora_rank: 16, kv_lora_rank: 8 };
    const teacher = lab.byteModel(small, 9);
    const opts = { steps: 3, seed: 0, config: small };
    const a = await lab.logitArm(null, train, valid, opts);
    const d = await lab.logitArm(teacher, train, valid, opts);
    assert.equal(a.trainer.history.steps.length, 3);
    assert.ok(a.trainer.history.steps.every((r) => r.kl === 0));
    assert.ok(d.trainer.history.steps.every((r) => r.kl > 0));
    // Same student init and batches: the first step's CE is the same in both arms.
    assert.equal(a.trainer.history.steps[0].ce, d.trainer.history.steps[0].ce);
    assert.ok(Number.isFinite(a.val) && Number.isFinite(d.val));
    const other = Transformer.create({ ...small, vocab_size: 300 }, { seed: 0 });
    await assert.rejects(
      lab.logitArm(other, train, valid, opts),
      /option teacher has another vocabulary \(vocab_size 300\)/,
    );
    await assert.rejects(
      lab.sequenceArm(null, { prompts: ["x"] }, opts),
      /without a teacher, give \{ labelled \}/,
    );
    await assert.rejects(
      lab.sequenceArm(teacher, { labelled: train }, opts),
      /with a teacher, give \{ prompts \}/,
    );
  });

  it("sequenceArm and taskAccuracy: a student on a taught teacher's greedy completions", async function () {
    this.timeout(60_000);
    const task = data.sorting({ length: 1, max: 3 });
    const small = { ...lab.DISTILL_STUDENT, dim: 32, q_lora_rank: 16, kv_lora_rank: 8 };
    const ex = task.examples(4, { seed: 0, instruction: false });
    const t = await lab.taskTeacher(ex, { steps: 150, config: small });
    const teacherAcc = lab.taskAccuracy(t.model, task, ex);
    const prompts = ex.map((e) => e.prompt);
    const r = await lab.sequenceArm(t.model, { prompts }, { steps: 2, seed: 0, config: small });
    assert.ok(r.pairs.length > 0 && r.pairs.every((p) => prompts.includes(p.prompt)));
    assert.equal(r.trainer.history.steps.length, 2);
    // Each pair is the teacher's own greedy completion: its accuracy on them is its accuracy.
    const right = r.pairs.filter((p) =>
      task.check(p.prompt, data.parseCompletion(p.completion).answer ?? ""),
    ).length;
    assert.ok(right <= Math.round(teacherAcc * ex.length));
  });
});
