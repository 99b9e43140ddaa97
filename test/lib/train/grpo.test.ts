/**
 * lib/train's GRPO and rejection sampling: group-normalised advantages, the k3 estimator, the
 * clipped objective's value and gradient, per-token averaging per completion, GRPO raising the
 * reward of a trivial task at test size with every metric recorded and shown, rejection
 * sampling's counts (verified, deduplicated, length-filtered), and bad input refused with the
 * prompt or option named and the model and optimizer unchanged.
 */
import { strict as assert } from "node:assert";
import * as T from "../../../lib/tensor/index.js";
import {
  GRPOTrainer,
  RejectionSampler,
  SFTTrainer,
  groupAdvantages,
  grpoLoss,
  k3,
  perRowMeanWeights,
  type PostState,
} from "../../../lib/train/index.js";
import { byteModel, weights } from "./fixtures.js";

const model = byteModel;

/** Fraction of the completion's characters that are ASCII letters: a dense reward a random policy scores ~0.2 on. */
const letters = (_p: string, c: string): number =>
  c.length === 0 ? 0 : [...c].filter((ch) => /[a-zA-Z]/.test(ch)).length / [...c].length;

const PROMPTS = ["Q: 1\nA:", "Q: 2\nA:", "Q: 3\nA:", "Q: 4\nA:"];

describe("train/GRPO", function () {
  this.timeout(60000);

  it("advantages are (r − mean)/(std + 1e-4) per group; G = 1 gives 0; an empty group is an error", () => {
    const a = groupAdvantages([1, 0, 0.5, 0.5, 2, 2], 2);
    const z = 0.5 / (0.5 + 1e-4);
    assert.deepEqual(
      a.map((x) => +x.toFixed(6)),
      [z, -z, 0, 0, 0, 0].map((x) => +x.toFixed(6)),
    );
    const g3 = groupAdvantages([3, 0, 0], 3);
    const m = 1;
    const sd = Math.sqrt((4 + 1 + 1) / 3);
    assert.ok(Math.abs(g3[0] - (3 - m) / (sd + 1e-4)) < 1e-12);
    assert.ok(Math.abs(g3.reduce((x, y) => x + y, 0)) < 1e-12, "advantages of a group sum to 0");
    assert.deepEqual(groupAdvantages([0.3, 0.9], 1), [0, 0]);
    assert.throws(() => groupAdvantages([], 4), /the group is empty/);
    assert.throws(() => groupAdvantages([1, 2, 3], 2), /do not split into groups of 2/);
    assert.throws(() => groupAdvantages([1], 0), /group size must be an integer >= 1/);
  });

  it("k3 is e^(ref−θ) − (ref−θ) − 1: zero at equality, positive otherwise, unbiased for KL(π‖ref)", () => {
    assert.equal(k3(-1.2, -1.2), 0);
    assert.ok(Math.abs(k3(Math.log(0.5), Math.log(0.25)) - (0.5 - Math.log(0.5) - 1)) < 1e-12);
    assert.ok(k3(-3, -1) > 0 && k3(-1, -3) > 0);
    // E_{x~π}[k3] = KL(π ‖ ref) exactly, over a discrete distribution.
    const pi = [0.5, 0.3, 0.2];
    const ref = [0.2, 0.2, 0.6];
    const expect = pi.reduce((a, p, i) => a + p * k3(Math.log(p), Math.log(ref[i])), 0);
    const kl = pi.reduce((a, p, i) => a + p * Math.log(p / ref[i]), 0);
    assert.ok(Math.abs(expect - kl) < 1e-12);
  });

  it("the clipped objective: value and gradient per token, averaged per completion then over completions", () => {
    // Two completions: row 0 has 2 tokens (A = +1), row 1 has 1 token (A = −1); one padded slot.
    const lp = [-1, -2, -0.5, 0];
    const old = [-1.5, -2, -0.5, 0]; // row 0, token 0: ρ = e^0.5 ≈ 1.65 > 1 + ε
    const ref = [-1, -2.5, -0.4, 0];
    const targets = [
      [5, 6],
      [7, -100],
    ];
    const logp = T.tensor(new Float32Array(lp), { shape: [2, 2], requiresGrad: true });
    const adv = T.tensor(new Float32Array([1, 1, -1, -1]), { shape: [2, 2] });
    const w = perRowMeanWeights(targets, [2, 1]);
    assert.deepEqual(Array.from(w.toArray()), [0.25, 0.25, 0.5, 0]);
    const eps = 0.2;
    const beta = 0.1;
    const loss = grpoLoss(
      logp,
      T.tensor(new Float32Array(old), { shape: [2, 2] }),
      T.tensor(new Float32Array(ref), { shape: [2, 2] }),
      adv,
      w,
      { epsilon: eps, beta },
    );
    const A = [1, 1, -1, -1];
    const W = [0.25, 0.25, 0.5, 0];
    let want = 0;
    for (let i = 0; i < 4; i++) {
      const rho = Math.exp(lp[i] - old[i]);
      const clipped = Math.min(Math.max(rho, 1 - eps), 1 + eps);
      want += W[i] * (-Math.min(rho * A[i], clipped * A[i]) + beta * k3(lp[i], ref[i]));
    }
    assert.ok(Math.abs(loss.item() - want) < 1e-5, `${loss.item()} vs ${want}`);
    loss.backward();
    const g = Array.from(logp.grad!.toArray());
    // Token 0: clipped (ρ > 1 + ε with A > 0) -> only the KL term's gradient, β(1 − e^(ref−θ)).
    const dk = (i: number): number => beta * (1 - Math.exp(ref[i] - lp[i]));
    assert.ok(Math.abs(g[0] - W[0] * dk(0)) < 1e-5, `clipped token: ${g[0]}`);
    // Token 1: ρ = 1, not clipped -> −A·ρ + KL.
    assert.ok(Math.abs(g[1] - W[1] * (-1 + dk(1))) < 1e-5);
    assert.ok(Math.abs(g[2] - W[2] * (1 + dk(2))) < 1e-5);
    assert.equal(g[3], 0, "padding has no gradient");
  });

  it("raises the reward of a trivial task; every metric is in the history and the live output", async () => {
    const m = model(7);
    const states: PostState[] = [];
    const g = new GRPOTrainer(m, PROMPTS, {
      reward: letters,
      accuracy: (p, c) => (letters(p, c) > 0.5 ? 1 : 0),
      format: (_p, c) => (c.length > 0 ? 1 : 0),
      groupSize: 8,
      promptsPerStep: 4,
      maxNewTokens: 8,
      lr: 2e-2,
      beta: 0.04,
      mu: 2,
      view: { update: (s) => states.push(s) },
    });
    await g.fit({ steps: 14 });
    const h = g.history.steps;
    assert.equal(h.length, 14);
    const first = (h[0].reward + h[1].reward + h[2].reward) / 3;
    const last = (h[11].reward + h[12].reward + h[13].reward) / 3;
    assert.ok(last > first + 0.15, `reward ${first.toFixed(3)} -> ${last.toFixed(3)}`);
    for (const r of h) {
      for (const k of [
        "reward",
        "accuracy",
        "format",
        "length",
        "kl",
        "clipFrac",
        "entropy",
        "loss",
        "gradNorm",
        "lr",
      ] as const)
        assert.ok(Number.isFinite(r[k]), `${k} is ${r[k]}`);
      assert.ok(r.length >= 1 && r.length <= 8);
      assert.ok(r.kl >= 0 && r.clipFrac >= 0 && r.clipFrac <= 1 && r.entropy > 0);
      assert.ok(r.sampleTokensPerSec > 0 && r.trainTokensPerSec > 0);
    }
    assert.ok(h[13].kl > 0, "the policy moved away from the reference");
    assert.ok(
      h.some((r) => r.clipFrac > 0),
      "μ = 2: the second update clips some ratios",
    );
    const last2 = states[states.length - 1];
    assert.equal(last2.status, "done");
    assert.deepEqual(
      last2.metrics.map(([k]) => k),
      ["reward", "acc", "format", "len", "KL", "clip", "entropy", "sample tok/s", "train tok/s"],
    );
    assert.match(g.history.table(["step", "reward", "kl"]), /step\s+reward\s+kl/);
  });

  it("bad input: a reward that throws or returns NaN, a reference with another vocabulary, too long a completion", async () => {
    const m = model(8);
    const w = weights(m);
    const base = { groupSize: 2, promptsPerStep: 2, maxNewTokens: 4, view: null };
    const nan = new GRPOTrainer(m, PROMPTS, { ...base, reward: () => NaN });
    await assert.rejects(() => nan.fit({ steps: 1 }), /returned NaN, not a finite number/);
    await assert.rejects(() => nan.fit({ steps: 1 }), /on prompt "Q: \d\\nA:"/);
    const boom = new GRPOTrainer(m, PROMPTS, {
      ...base,
      reward: () => {
        throw new Error("no parser");
      },
    });
    await assert.rejects(() => boom.fit({ steps: 1 }), /on prompt "Q: \d\\nA:" threw: no parser/);
    assert.deepEqual(weights(m), w, "nothing was updated");
    // A failed step consumes no prompts: the retry scores the same prompt first.
    const calls: string[] = [];
    let fail = true;
    const once = new GRPOTrainer(m, PROMPTS, {
      ...base,
      lr: 1e-3,
      reward: (p) => {
        calls.push(p);
        if (fail) throw new Error("flaky");
        return 0;
      },
    });
    await assert.rejects(() => once.fit({ steps: 1 }), /threw: flaky/);
    fail = false;
    await once.fit({ steps: 1 });
    assert.equal(calls[1], calls[0]);
    assert.equal(once.step, 1);
    assert.equal(nan.optimizer.stepCount, 0);
    assert.equal(nan.step, 0);
    assert.throws(
      () =>
        new GRPOTrainer(m, PROMPTS, {
          ...base,
          reward: letters,
          reference: model(1, { vocab_size: 300 }),
        }),
      /option reference has another vocabulary/,
    );
    assert.throws(
      () =>
        new GRPOTrainer(m, ["short", "x".repeat(60)], {
          ...base,
          reward: letters,
          maxNewTokens: 8,
        }),
      /prompt "xxxx.*" \(60 tokens\) \+ maxNewTokens 8 exceeds the model's max_seq_len 64/,
    );
    assert.throws(
      () => new GRPOTrainer(m, PROMPTS, { ...base, reward: letters, groupSize: 0 }),
      /groupSize must be an integer >= 1, got 0/,
    );
    assert.throws(
      () => new GRPOTrainer(m, [], { ...base, reward: letters }),
      /prompts must be a non-empty array/,
    );
    assert.throws(
      () => new GRPOTrainer(m, PROMPTS, { ...base } as never),
      /option reward must be a function/,
    );
    assert.throws(
      () => new GRPOTrainer(m, PROMPTS, { ...base, reward: letters, epsilon: 1 }),
      /epsilon must be in \(0, 1\)/,
    );
    assert.deepEqual(weights(m), w);
  });
});

describe("train/RejectionSampler", function () {
  this.timeout(60000);

  it("keeps verified completions, deduplicated and length-filtered, and reports the counts", async () => {
    const m = model(9);
    const pairs = [
      { prompt: "Q: ab\nA:", completion: "ba" },
      { prompt: "Q: cd\nA:", completion: "dc" },
    ];
    await new SFTTrainer(m, pairs, { batchSize: 2, lr: 1e-2, view: null }).fit({ steps: 60 });
    const prompts = pairs.map((p) => p.prompt);
    const seen: [string, string][] = [];
    const verify = (p: string, c: string): number => {
      seen.push([p, c]);
      return pairs.some((x) => x.prompt === p && x.completion === c) ? 1 : 0;
    };
    const rs = new RejectionSampler(m, prompts, {
      verify,
      k: 6,
      temperature: 0.5,
      maxNewTokens: 6,
      batchSize: 2,
      lr: 1e-3,
      view: null,
    });
    const [r] = await rs.fit({ rounds: 1, steps: 2 });
    assert.equal(r.round, 1);
    assert.equal(r.prompts, 2);
    assert.equal(r.sampled, 12);
    assert.ok(r.correct >= 2, `correct ${r.correct}`);
    // Every kept pair is distinct and verified; duplicates of a right answer are dropped.
    assert.equal(r.kept, r.unique);
    assert.ok(r.unique <= 2 && r.unique >= 1 && r.unique <= r.correct);
    assert.equal(r.kept, rs.kept.length);
    assert.equal(new Set(rs.kept.map((p) => p.prompt + p.completion)).size, rs.kept.length);
    for (const k of rs.kept) assert.equal(verify(k.prompt, k.completion), 1);
    assert.ok(seen.length > 0);
    assert.deepEqual(rs.history.rounds, [r]);
    assert.equal(rs.history.steps.length, r.kept > 0 ? 2 : 0);

    // A length limit of 1 token drops every kept completion ("ba" + stop is 3 tokens).
    const short = new RejectionSampler(m, prompts, {
      verify,
      k: 2,
      temperature: 0.5,
      maxNewTokens: 6,
      maxLength: 1,
      view: null,
    });
    const [s] = await short.fit({ steps: 1 });
    assert.ok(s.unique >= 1);
    assert.equal(s.kept, 0);
    assert.equal(short.history.steps.length, 0, "nothing kept, nothing trained");
  });

  it("bad input: a verifier that throws names the prompt; options are checked", async () => {
    const m = model(10);
    const w = weights(m);
    const rs = new RejectionSampler(m, ["Q: ab\nA:"], {
      verify: () => {
        throw new Error("bad verifier");
      },
      k: 2,
      maxNewTokens: 4,
      view: null,
    });
    await assert.rejects(() => rs.fit({ steps: 1 }), /on prompt "Q: ab\\nA:" threw: bad verifier/);
    assert.deepEqual(weights(m), w);
    assert.throws(
      () => new RejectionSampler(m, ["x"], {} as never),
      /option verify must be a function/,
    );
    assert.throws(
      () => new RejectionSampler(m, ["x"], { verify: () => 1, k: 0 }),
      /k must be an integer >= 1/,
    );
  });
});
