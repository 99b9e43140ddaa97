/**
 * lib/train's SFT and distillation: rows masked to the completion, the SFT loss equal to the
 * completion-only cross-entropy, the distillation loss equal to α·CE + (1−α)·T²·KL on a hand case
 * (and its gradient), a frozen teacher that keeps no gradients, sequence-level distillation on the
 * teacher's samples, and bad input refused before anything changes.
 */
import { strict as assert } from "node:assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as T from "../../../lib/tensor/index.js";
import { Transformer } from "../../../lib/model/index.js";
import {
  SFTTrainer,
  completionLoss,
  distillLoss,
  encodePairs,
  packPairs,
  sampleCompletions,
  postLine,
  sequenceDistill,
  type PostState,
} from "../../../lib/train/index.js";
import { byteModel, weights } from "./fixtures.js";

const model = byteModel;

const PAIRS = [
  { prompt: "Q: ab\nA: <think>", completion: "x</think> <answer>ba</answer>" },
  { prompt: "Q: abc\nA: <think>", completion: "y</think> <answer>cba</answer>" },
];

describe("train/SFT", function () {
  this.timeout(60000);

  it("packs rows: inputs shifted by one, targets only on the completion and its stop token", () => {
    const m = model();
    const rows = encodePairs(
      m,
      [
        { prompt: "ab", completion: "cd" },
        { prompt: "abc", completion: "e" },
      ],
      {
        stop: "\n",
        where: "test",
      },
    );
    assert.deepEqual(rows[0], { prompt: [97, 98], completion: [99, 100, 10] });
    const b = packPairs(rows);
    // Row 0: a b c d \n -> inputs a b c d, targets (b) c d \n with the prompt's b ignored.
    assert.deepEqual(b.inputs[0], [97, 98, 99, 100]);
    assert.deepEqual(b.targets[0], [-100, 99, 100, 10]);
    // Row 1: a b c e \n -> inputs a b c e, targets only e and \n.
    assert.deepEqual(b.inputs[1], [97, 98, 99, 101]);
    assert.deepEqual(b.targets[1], [-100, -100, 101, 10]);
    assert.deepEqual(b.lengths, [3, 2]);
  });

  it("the SFT loss is the cross-entropy of the completion tokens only", async () => {
    const m = model();
    const rows = encodePairs(m, PAIRS, { stop: "\n", where: "test" });
    const b = packPairs(rows);
    // By hand: log-softmax of each scored position, from the logits.
    const logits = T.noGrad(() => m.forward(b.inputs));
    const [B, L, V] = logits.shape;
    const d = logits.toArray() as Float32Array;
    let sum = 0;
    let n = 0;
    for (let r = 0; r < B; r++)
      for (let t = 0; t < L; t++) {
        const y = b.targets[r][t];
        if (y === -100) continue;
        const o = (r * L + t) * V;
        let mx = -Infinity;
        for (let v = 0; v < V; v++) mx = Math.max(mx, d[o + v]);
        let z = 0;
        for (let v = 0; v < V; v++) z += Math.exp(d[o + v] - mx);
        sum += Math.log(z) + mx - d[o + y];
        n++;
      }
    assert.equal(n, rows[0].completion.length + rows[1].completion.length);
    const want = sum / n;
    assert.ok(Math.abs(completionLoss(m, rows) - want) < 1e-4);
    const sft = new SFTTrainer(m, PAIRS, { batchSize: 2, lr: 1e-9, view: null });
    await sft.fit({ steps: 1 });
    assert.ok(
      Math.abs(sft.history.steps[0].ce - want) < 1e-4,
      `${sft.history.steps[0].ce} vs ${want}`,
    );
  });

  it("trains: the completion loss falls and greedy decoding reproduces the completions", async () => {
    const m = model(2);
    const states: PostState[] = [];
    const sft = new SFTTrainer(m, PAIRS, {
      batchSize: 2,
      lr: 1e-2,
      view: { update: (s) => states.push(s) },
    });
    const before = sft.evaluate();
    await sft.fit({ steps: 60 });
    const after = sft.evaluate();
    assert.ok(after < 0.1 && after < before / 10, `${before} -> ${after}`);
    const out = sampleCompletions(
      m,
      PAIRS.map((p) => p.prompt),
      { temperature: 0, maxNewTokens: 40 },
    );
    assert.deepEqual(
      out.map((g) => g[0].text),
      PAIRS.map((p) => p.completion),
    );
    assert.ok(out.every((g) => g[0].stopped));
    assert.equal(sft.history.steps.length, 60);
    const last = states[states.length - 1];
    assert.equal(last.status, "done");
    assert.deepEqual(
      last.metrics.map(([k]) => k),
      ["loss", "ce", "lr", "|g|", "tok/s"],
    );
  });

  it("distillLoss equals α·CE + (1−α)·T²·KL(p_t^T ‖ p_s^T) on a hand case, with the right gradient", () => {
    const s = [1, 2, 0.5, -1, 0, 3];
    const tch = [0.5, 1.5, 1, 2, -1, 0];
    const alpha = 0.3;
    const tau = 2;
    const student = T.tensor(new Float32Array(s), { shape: [1, 2, 3], requiresGrad: true });
    const teacher = T.tensor(new Float32Array(tch), { shape: [1, 2, 3] });
    const targets = T.tensor(new Int32Array([1, -100]), { shape: [1, 2] });
    const { loss, ce, kl } = distillLoss(student, teacher, targets, { alpha, temperature: tau });
    // By hand, position 0 only (position 1's target is ignored).
    const sm = (x: number[]): number[] => {
      const m = Math.max(...x);
      const e = x.map((v) => Math.exp(v - m));
      const z = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / z);
    };
    const ps = sm(s.slice(0, 3));
    const wantCe = -Math.log(ps[1]);
    const pt = sm(tch.slice(0, 3).map((v) => v / tau));
    const qs = sm(s.slice(0, 3).map((v) => v / tau));
    const wantKl = pt.reduce((a, p, i) => a + p * Math.log(p / qs[i]), 0);
    assert.ok(Math.abs(ce.item() - wantCe) < 1e-5);
    assert.ok(Math.abs(kl.item() - wantKl) < 1e-5);
    const want = alpha * wantCe + (1 - alpha) * tau * tau * wantKl;
    assert.ok(Math.abs(loss.item() - want) < 1e-5, `${loss.item()} vs ${want}`);
    loss.backward();
    // d/ds_v = α (p_s − onehot) + (1−α)·T·(q_s − p_t); ignored position: 0.
    const g = Array.from(student.grad!.toArray());
    for (let v = 0; v < 3; v++) {
      const w = alpha * (ps[v] - (v === 1 ? 1 : 0)) + (1 - alpha) * tau * (qs[v] - pt[v]);
      assert.ok(Math.abs(g[v] - w) < 1e-5, `grad ${v}: ${g[v]} vs ${w}`);
    }
    assert.deepEqual(g.slice(3), [0, 0, 0]);
  });

  it("logit distillation: the teacher stays frozen (no gradients, weights unchanged) and the student learns", async () => {
    const teacher = model(3);
    await new SFTTrainer(teacher, PAIRS, { batchSize: 2, lr: 1e-2, view: null }).fit({ steps: 40 });
    const tw = weights(teacher);
    const student = model(4, { dim: 16, kv_lora_rank: 8 });
    const d = new SFTTrainer(student, PAIRS, {
      batchSize: 2,
      lr: 1e-2,
      teacher,
      alpha: 0.5,
      temperature: 2,
      view: null,
    });
    await d.fit({ steps: 20 });
    assert.deepEqual(weights(teacher), tw);
    for (const p of teacher.namedParameters().values()) assert.equal(p.grad, null);
    const h = d.history.steps;
    assert.ok(h[h.length - 1].kl < h[0].kl, `KL ${h[0].kl} -> ${h[h.length - 1].kl}`);
    assert.ok(h[h.length - 1].loss < h[0].loss);
  });

  it("sequence-level distillation fine-tunes the student on the teacher's samples", async () => {
    const teacher = model(5);
    await new SFTTrainer(teacher, PAIRS, { batchSize: 2, lr: 1e-2, view: null }).fit({ steps: 60 });
    const student = model(6);
    const prompts = PAIRS.map((p) => p.prompt);
    const taught = sampleCompletions(teacher, prompts, { temperature: 0, maxNewTokens: 40 })
      .flat()
      .filter((s) => s.stopped)
      .map((s) => s.text);
    assert.ok(taught.length > 0);
    const r = await sequenceDistill(teacher, student, prompts, {
      steps: 60,
      batchSize: 2,
      lr: 1e-2,
      view: null,
      sampling: { temperature: 0, maxNewTokens: 40 },
    });
    // The pairs are the teacher's (stopped) greedy completions, and the student learns them.
    assert.deepEqual(
      r.pairs.map((p) => p.completion),
      taught,
    );
    assert.ok(r.sampling.tokens > 0 && r.sampling.seconds > 0);
    const out = sampleCompletions(
      student,
      r.pairs.map((p) => p.prompt),
      { temperature: 0, maxNewTokens: 40 },
    );
    assert.deepEqual(
      out.map((g) => g[0].text),
      taught,
    );
  });

  it("checkpoints the model and optimizer; an Interrupt stops at a step boundary with the run consistent", async () => {
    const m = model(11);
    const sft = new SFTTrainer(m, PAIRS, { batchSize: 2, lr: 1e-2, view: null });
    await sft.fit({ steps: 3 });
    const dir = mkdtempSync(join(tmpdir(), "moelab-sft-"));
    try {
      const path = sft.save(dir);
      assert.match(path, /step-0*3$/);
      const back = await Transformer.load(path);
      assert.deepEqual(weights(back), weights(m));
      const j = JSON.parse(readFileSync(join(path, "trainer.json"), "utf8"));
      assert.equal(j.method, "SFT");
      assert.equal(j.history.steps.length, 3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const key = Symbol.for("moelab.kernel");
    const g = globalThis as Record<symbol, unknown>;
    const flag = new Int32Array([0]);
    let raised = 0;
    g[key] = { interruptFlag: flag, checkInterrupt: () => raised++ };
    const states: PostState[] = [];
    const t = new SFTTrainer(m, PAIRS, { batchSize: 2, view: { update: (s) => states.push(s) } });
    try {
      let n = 0;
      const orig = t.history.steps.push.bind(t.history.steps);
      t.history.steps.push = (...r) => {
        if (++n === 2) Atomics.store(flag, 0, 1); // Interrupt pressed during step 2
        return orig(...r);
      };
      await assert.rejects(
        () => t.fit({ steps: 10 }),
        /interrupted at step 2: the model and optimizer are consistent/,
      );
      assert.equal(t.step, 2);
      assert.equal(t.optimizer.stepCount, 2);
      assert.equal(states[states.length - 1].status, "interrupted");
      assert.equal(raised, 1);
    } finally {
      delete g[key];
    }
  });

  it("fit by time: { seconds } stops after the budget, onStep sees every record, ONE view run", async () => {
    const m = model(12);
    const states: PostState[] = [];
    const t = new SFTTrainer(m, PAIRS, {
      batchSize: 2,
      schedule: "cosine",
      view: { update: (s) => states.push({ ...s }) },
    });
    const seen: number[] = [];
    const t0 = Date.now();
    await t.fit({ seconds: 0.4, onStep: (r) => seen.push(r.step) });
    const took = (Date.now() - t0) / 1000;
    const n = t.history.steps.length;
    assert.ok(n >= 1, "at least one step runs");
    assert.ok(took >= 0.4, `fit returned after ${took} s, before its 0.4 s budget`);
    assert.deepEqual(
      seen,
      t.history.steps.map((r) => r.step),
    );
    // one run of the view: every update but the last is running, the last one final and done
    assert.equal(states.filter((s) => s.status !== "running").length, 1);
    const last = states[states.length - 1];
    assert.equal(last.status, "done");
    assert.equal(last.totalSeconds, 0.4);
    assert.equal(last.step, n);
    assert.ok(last.runElapsed! >= 0.4);
    assert.match(postLine(last), new RegExp(`^SFT \\[#{20}\\] step ${n} \\(\\S+ of \\S+\\)`));
    // the cosine schedule runs against the budget: the lr falls from the first step to the last
    const lrs = t.history.column("lr");
    if (lrs.length >= 2)
      assert.ok(lrs[lrs.length - 1] < lrs[0], `lr ${lrs[0]} -> ${lrs[lrs.length - 1]}`);
    // both limits: whichever comes first (here the 2 steps)
    await t.fit({ steps: 2, seconds: 60 });
    assert.equal(t.history.steps.length, n + 2);
    // onStep's time counts in the budget, and its error stops the run with the step kept
    await assert.rejects(
      () =>
        t.fit({
          seconds: 30,
          onStep: () => {
            throw new Error("evaluation failed");
          },
        }),
      /evaluation failed/,
    );
    assert.equal(t.history.steps.length, n + 3);
  });

  it("fit's options: steps or seconds required, each checked, onStep a function", async () => {
    const t = new SFTTrainer(model(), PAIRS, { view: null });
    await assert.rejects(() => t.fit({}), /fit takes \{ steps: N \} or \{ seconds: S \}/);
    await assert.rejects(() => t.fit(null as never), /fit takes/);
    await assert.rejects(() => t.fit({ seconds: 0 }), /seconds must be a finite number > 0, got 0/);
    await assert.rejects(
      () => t.fit({ seconds: Infinity }),
      /seconds must be a finite number > 0, got Infinity/,
    );
    await assert.rejects(() => t.fit({ steps: 1.5 }), /steps must be an integer >= 1, got 1.5/);
    await assert.rejects(
      () => t.fit({ steps: 1, onStep: 3 } as never),
      /onStep must be a function \(record\) => void, got 3/,
    );
    await assert.rejects(() => t.fit({ step: 1 } as never), /unknown option "step"/);
    assert.equal(t.history.steps.length, 0);
  });

  it("bad input: another vocabulary, a pair longer than max_seq_len, bad options; nothing changes", async () => {
    const m = model();
    const w = weights(m);
    assert.throws(
      () => new SFTTrainer(m, PAIRS, { teacher: model(1, { vocab_size: 300 }), view: null }),
      /option teacher has another vocabulary \(vocab_size 300\)/,
    );
    assert.throws(
      () => new SFTTrainer(m, [{ prompt: "long one", completion: "z".repeat(80) }], { view: null }),
      /pair 0 \(prompt "long one"\) is 8 \+ 81 tokens, longer than the model's max_seq_len 64/,
    );
    assert.throws(() => new SFTTrainer(m, [], { view: null }), /non-empty array/);
    assert.throws(
      () => new SFTTrainer(m, PAIRS, { alpha: 2, view: null }),
      /alpha must be in \[0, 1\], got 2/,
    );
    assert.throws(
      () => new SFTTrainer(m, PAIRS, { stop: "ab", view: null }),
      /option stop "ab" must encode to one token/,
    );
    assert.throws(
      () => new SFTTrainer(m, PAIRS, { batchsize: 2 } as never),
      /unknown option "batchsize"/,
    );
    const t = new SFTTrainer(m, PAIRS, { view: null });
    await assert.rejects(() => t.fit({ steps: 0 }), /steps must be an integer >= 1/);
    assert.deepEqual(weights(m), w);
  });
});
