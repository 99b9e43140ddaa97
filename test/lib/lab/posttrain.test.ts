/** lib/lab's post-training experiments: the addition splits, the cold start, GRPO and rejection runs. */
import { strict as assert } from "node:assert";
import { lab, setNumThreads } from "../../../lib/index.js";

describe("lib/lab posttrain", () => {
  before(() => setNumThreads(1));

  it("additionSplits: held-out carry sums disjoint from the GRPO prompts, fixed seeds, bad sizes", () => {
    const s = lab.additionSplits({ heldOut: 20, trainPrompts: 50, easyHeldOut: 5 });
    assert.equal(s.heldOut.length, 20);
    assert.equal(s.trainPrompts.length, 50);
    assert.equal(s.easyHeldOut.length, 5);
    assert.equal(s.easy.length, 4);
    const held = new Set(s.heldOut.map((e) => e.prompt));
    assert.ok(
      s.trainPrompts.every((p) => !held.has(p)),
      "a GRPO prompt is held out",
    );
    // The benchmark's level: the units carry into tens that stay below 10.
    const carries = (q: string): boolean => {
      const m = /^(\d)(\d)\+(\d)(\d)$/.exec(q);
      if (!m) return false;
      const [a1, a0, b1, b0] = m.slice(1).map(Number);
      return a0 + b0 >= 10 && a1 + b1 + 1 <= 9;
    };
    assert.ok(
      s.heldOut.every((e) => carries(e.question)),
      "a held-out question is not of the level",
    );
    const again = lab.additionSplits({ heldOut: 20, trainPrompts: 50, easyHeldOut: 5 });
    assert.deepEqual(again.trainPrompts, s.trainPrompts);
    assert.throws(
      () => lab.additionSplits({ heldOut: 0, trainPrompts: 5, easyHeldOut: 5 }),
      /heldOut must be an integer >= 1/,
    );
    assert.throws(
      () => lab.additionSplits({ heldOut: 300, trainPrompts: 1000, easyHeldOut: 5 }),
      /heldOut \+ trainPrompts must be at most the level's 1260 questions, got 1300/,
    );
    // The cold start never sees the benchmark's level: 100 + 300 + 300 + 400 easier pairs, the
    // 2+2 ones without a carry into the tens.
    const pairs = lab.coldStartPairs(s.easy, 0);
    assert.equal(pairs.length, 1100);
    assert.ok(
      pairs.every((p) => !carries(p.question)),
      "a cold-start pair is of the benchmark's level",
    );
    assert.equal(pairs.filter((p) => /^\d\d\+\d\d$/.test(p.question)).length, 400);
    assert.throws(() => lab.coldStartPairs([s.task], 0), /four easy levels/);
  });

  it("postModel and greedyAccuracy: bytes, no MTP; an empty example list is an error", () => {
    const m = lab.postModel(0);
    assert.equal(m.args.vocab_size, 256);
    assert.equal(m.config.settings.mtp_depth, 0);
    const s = lab.additionSplits({ heldOut: 2, trainPrompts: 2, easyHeldOut: 2 });
    const a = lab.greedyAccuracy(m, s.task, s.heldOut, 8);
    assert.ok(a >= 0 && a <= 1);
    assert.throws(() => lab.greedyAccuracy(m, s.task, []), /at least one example/);
  });

  it("grpoRun: steps or seconds required; G = 1 leaves the model unchanged (no baseline)", async () => {
    const s = lab.additionSplits({ heldOut: 2, trainPrompts: 4, easyHeldOut: 2 });
    const m = lab.postModel(1);
    await assert.rejects(lab.grpoRun(m, s, { groupSize: 2, beta: 0, seed: 0 }), /steps or seconds/);
    await assert.rejects(
      lab.grpoRun(m, s, { groupSize: 2, beta: 0, seed: 0, steps: 0 }),
      /steps must be an integer >= 1/,
    );
    await assert.rejects(
      lab.grpoRun(m, s, { groupSize: 2, beta: 0, seed: 0, steps: 1, before: 2 }),
      /before must be an accuracy/,
    );
    const w0 = Float32Array.from(m.namedParameters().get("embed.weight")!.toArray());
    const r = await lab.grpoRun(m, s, {
      groupSize: 1,
      beta: 0.04,
      seed: 0,
      steps: 2,
      promptsPerStep: 2,
      view: null,
    });
    assert.equal(r.records.length, 2);
    assert.deepEqual(
      r.records.map((x) => [x.kl, x.loss]),
      [
        [0, 0],
        [0, 0],
      ],
    );
    assert.deepEqual(m.namedParameters().get("embed.weight")!.toArray(), w0);
    assert.equal(r.curve.length, 2);
    assert.equal(r.curve[0].accuracy, r.before);
    // A held-out accuracy the caller measured is taken as given.
    const given = await lab.grpoRun(m, s, {
      groupSize: 1,
      beta: 0,
      seed: 0,
      steps: 1,
      promptsPerStep: 1,
      view: null,
      before: 0.5,
    });
    assert.deepEqual([given.before, given.curve[0].accuracy], [0.5, 0.5]);
  });

  it("grpoRun by time: the held-out curve every evalEverySeconds, in ONE live output", async () => {
    const s = lab.additionSplits({ heldOut: 2, trainPrompts: 4, easyHeldOut: 2 });
    const finals: string[] = [];
    const r = await lab.grpoRun(lab.postModel(2), s, {
      groupSize: 2,
      beta: 0.04,
      seed: 0,
      promptsPerStep: 2,
      seconds: 1.5,
      evalEverySeconds: 0.3,
      view: { update: (st, final) => void (final && finals.push(st.status)) },
    });
    assert.deepEqual(finals, ["done"]);
    assert.ok(r.seconds >= 1.5, `stopped after ${r.seconds} s`);
    assert.ok(r.records.length >= 1);
    // before, at least one evaluation on the way, after; times increasing
    assert.ok(r.curve.length >= 3, `curve ${JSON.stringify(r.curve)}`);
    for (let i = 1; i < r.curve.length; i++)
      assert.ok(r.curve[i].seconds >= r.curve[i - 1].seconds);
    assert.equal(r.curve[r.curve.length - 1].accuracy, r.after);
  });

  it("rejectionRun: one round's counts, kept ≤ distinct ≤ correct ≤ sampled", async () => {
    const s = lab.additionSplits({ heldOut: 2, trainPrompts: 2, easyHeldOut: 2 });
    const r = await lab.rejectionRun({
      task: s.easy[1],
      heldOut: s.easyHeldOut,
      seed: 0,
      baseSteps: 1,
      prompts: 2,
      steps: 1,
      view: null,
    });
    assert.equal(r.round.prompts, 2);
    assert.equal(r.round.sampled, 16);
    assert.ok(r.round.kept <= r.round.unique && r.round.unique <= r.round.correct);
    assert.ok(r.before >= 0 && r.after <= 1);
  });
});
