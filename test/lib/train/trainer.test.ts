/** The Trainer: a step's parts, balancing arms, evaluation, interrupt, checkpoints, bad input. */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as T from "../../../lib/tensor/index.js";
import { Transformer } from "../../../lib/model/index.js";
import type { ConfigFields } from "../../../lib/config/index.js";
import { SMALL, datasets } from "./fixtures.js";
import {
  NonFiniteError,
  ProgressView,
  Trainer,
  type TrainerOptions,
  type TrainerView,
} from "../../../lib/train/index.js";

function trainer(opts: TrainerOptions = {}, cfg: ConfigFields = SMALL): Trainer {
  const model = Transformer.create(cfg, { seed: 1 });
  return new Trainer(model, datasets(), { batchSize: 4, seqLen: 32, view: null, ...opts });
}

describe("train/Trainer", function () {
  this.timeout(120000);

  it("trains: the loss falls, every metric is recorded, evaluation measures loss and MaxVio_global", async () => {
    const tr = trainer({ lr: 3e-3 });
    const h = await tr.fit({ steps: 40, evalEvery: 20 });
    assert.equal(tr.step, 40);
    assert.equal(h.steps.length, 40);
    const first = h.steps[0];
    const last = h.steps[39];
    assert.ok(last.main < first.main - 0.5, `main loss ${first.main} -> ${last.main}`);
    assert.ok(first.mtp !== null && last.mtp! < first.mtp!, "the MTP loss falls too");
    assert.deepEqual(h.layers, ["blocks.1.moe", "mtp.0.moe"]);
    assert.equal(h.mainLayers, 1);
    // Loads: every routed slot of the batch counted (MTP module: one position fewer per row).
    assert.equal(
      last.load[0].reduce((a, b) => a + b, 0),
      4 * 32 * 2,
    );
    assert.equal(
      last.load[1].reduce((a, b) => a + b, 0),
      4 * 31 * 2,
    );
    for (const r of h.steps) {
      assert.ok(r.lr > 0 && Number.isFinite(r.gradNorm) && r.tokensPerSec > 0);
      assert.equal(r.maxVio.length, 2);
    }
    // Warm-up then cosine decay to 10%.
    assert.ok(h.steps[0].lr < h.steps[1].lr);
    assert.ok(Math.abs(last.lr - 3e-4) < 2e-5, `last lr ${last.lr}`);
    assert.deepEqual(
      h.evals.map((e) => e.step),
      [20, 40],
    );
    assert.ok(h.evals[1].valLoss < h.evals[0].valLoss);
    assert.ok(h.evals[1].maxVio[0] >= 0 && Number.isNaN(h.evals[1].maxVio[1]));
    assert.match(String(h), /History: 40 steps, 2 evaluations/);
    assert.match(String(tr), /balance bias \(γ 0\.001\), sequence-wise α 0\.0001/);
  });

  it('"bias": each step moves each expert\'s bias by exactly ±γ or 0 toward balance; gradients never move it', async () => {
    const tr = trainer({ biasUpdateSpeed: 0.01 });
    const gate = tr.model.layers[1].ffn as unknown as { gate: { bias: T.Tensor } };
    const h = await tr.fit({ steps: 6 });
    let prev = new Array(8).fill(0);
    for (const r of h.steps) {
      const mean = r.load[0].reduce((a, b) => a + b, 0) / 8;
      r.bias[0].forEach((b, e) => {
        const want = prev[e] + 0.01 * Math.sign(mean - r.load[0][e]);
        assert.ok(Math.abs(b - want) < 1e-6, `step ${r.step} expert ${e}: ${b} vs ${want}`);
      });
      prev = r.bias[0];
    }
    assert.deepEqual(Array.from(gate.gate.bias.toArray()), Array.from(Float32Array.from(prev)));
    assert.equal(gate.gate.bias.requiresGrad, false);
    assert.ok(
      h.steps.every((r) => r.balance > 0),
      "the sequence-wise loss is on",
    );
  });

  for (const balance of ["aux", "none"] as const)
    it(`"${balance}": the bias stays 0${balance === "aux" ? "; the auxiliary loss is added" : ""}`, async () => {
      const tr = trainer({ balance });
      const h = await tr.fit({ steps: 4 });
      for (const r of h.steps) {
        assert.ok(r.bias[0].every((b) => b === 0));
        if (balance === "aux") assert.ok(r.balance > 0);
        else assert.equal(r.balance, 0);
      }
    });

  it("gradient accumulation: 2 micro-batches of 4 rows give the step of one batch of 8", async () => {
    const a = trainer({ batchSize: 8, balance: "none", clip: 0 });
    const b = trainer({ batchSize: 4, accumulate: 2, balance: "none", clip: 0 });
    await a.fit({ steps: 1 });
    await b.fit({ steps: 1 });
    assert.ok(Math.abs(a.history.steps[0].loss - b.history.steps[0].loss) < 1e-5);
    const pa = a.model.namedParameters();
    // The two sum the same gradients in another order (and the GEMM's depth blocks follow this
    // CPU's L1), and AdamW's m/√v turns a rounding-sized gradient into a step of up to lr
    // (2e-3): 1% of one step is the bar; a wrong accumulation (a sum, one micro-batch) moves
    // weights by the whole step.
    for (const [n, p] of b.model.namedParameters()) {
      const x = p.toArray() as Float32Array;
      const y = pa.get(n)!.toArray() as Float32Array;
      for (let i = 0; i < x.length; i++)
        assert.ok(Math.abs(x[i] - y[i]) < 2e-5, `${n}[${i}] ${x[i]} vs ${y[i]}`);
    }
  });

  it("a time budget runs the schedule against elapsed time and ends at the budget", async () => {
    const tr = trainer({ warmup: 2 });
    const h = await tr.fit({ seconds: 1.5 });
    assert.ok(tr.elapsed >= 1.5 && tr.elapsed < 1.5 + 1);
    const last = h.steps[h.steps.length - 1];
    assert.ok(last.lr < 2e-3 * 0.25, `the last lr ${last.lr} is near the end of the decay`);
    await assert.doesNotReject(tr.fit({ seconds: 2 }));
    assert.ok(tr.elapsed >= 2);
  });

  it("bf16 precision trains too", async () => {
    const tr = trainer({ precision: "bf16" });
    const h = await tr.fit({ steps: 5 });
    assert.equal(tr.model.precision, "bf16");
    assert.ok(h.steps.every((r) => Number.isFinite(r.loss)));
  });

  it("an interrupt stops fit at a step boundary; a later fit continues to the target", async () => {
    const flag = new Int32Array(new SharedArrayBuffer(8));
    const holds: number[] = [];
    const g = globalThis as Record<symbol, unknown>;
    g[Symbol.for("moelab.kernel")] = {
      interruptFlag: flag,
      holdInterrupt: (ms: number) => (holds.push(ms), () => void holds.pop()),
      checkInterrupt: () => {
        if (Atomics.load(flag, 0) === 1) throw new Error("Interrupted");
      },
    };
    try {
      const tr = trainer();
      tr.on("step", (r: { step: number }) => {
        if (r.step === 3) Atomics.store(flag, 0, 1);
      });
      await assert.rejects(tr.fit({ steps: 8 }), /Interrupted/);
      assert.equal(tr.step, 3);
      assert.equal(tr.optimizer.stepCount, 3);
      assert.ok(holds.length === 0, "every hold is released");
      Atomics.store(flag, 0, 0);
      await tr.fit();
      assert.equal(tr.step, 8);
      assert.deepEqual(
        tr.history.steps.map((r) => r.step),
        [1, 2, 3, 4, 5, 6, 7, 8],
      );
    } finally {
      delete g[Symbol.for("moelab.kernel")];
    }
  });

  it("the live output is one display id, updated in place, the last update final", async () => {
    const calls: { id?: string; update?: boolean; text: string }[] = [];
    const g = globalThis as Record<symbol, unknown>;
    g[Symbol.for("moelab.kernel")] = {
      newDisplayId: () => "d1",
      display: (
        v: Record<symbol, () => Record<string, string>>,
        o: { displayId?: string; update?: boolean },
      ) =>
        calls.push({
          id: o.displayId,
          update: o.update,
          text: v[Symbol.for("Jupyter.display")]()["text/plain"],
        }),
    };
    try {
      const tr = trainer({ view: new ProgressView({ intervalMs: 0 }) });
      await tr.fit({ steps: 4, evalEvery: 2 });
      assert.ok(calls.length >= 2);
      assert.ok(calls.every((c) => c.id === "d1"));
      assert.equal(calls[0].update, undefined);
      assert.ok(calls.slice(1).every((c) => c.update === true));
      assert.match(
        calls[calls.length - 1].text,
        /\[#+\] step 4\/4 {2}loss \d\.\d{3} {2}mtp \d\.\d{3} {2}val \d\.\d{3}/,
      );
    } finally {
      delete g[Symbol.for("moelab.kernel")];
    }
  });

  it("a NaN stops training before any update, naming the step and the first non-finite tensor", async () => {
    const tr = trainer();
    await tr.fit({ steps: 2 });
    const before = tr.model.namedParameters().get("layers.0.attn.wo.weight")!.toArray().slice();
    const rm = tr.model.addHook("blocks.1.attn.hook_pattern", (t) => t.mul(NaN));
    try {
      await assert.rejects(tr.fit({ steps: 5 }), (e: unknown) => {
        assert.ok(e instanceof NonFiniteError);
        assert.equal(e.step, 3);
        assert.equal(e.tensor, "blocks.1.attn.hook_pattern");
        assert.match(
          e.message,
          /step 3: the loss is NaN; the first non-finite activation is blocks\.1\.attn\.hook_pattern/,
        );
        return true;
      });
    } finally {
      rm();
    }
    assert.equal(tr.step, 2);
    assert.deepEqual(tr.model.namedParameters().get("layers.0.attn.wo.weight")!.toArray(), before);
  });

  it("refuses bad options and data with errors that name them", () => {
    assert.throws(() => trainer({ lr: -1 }), /lr must be a finite number > 0, got -1/);
    assert.throws(
      () => trainer({ biasUpdateSpeed: -0.1 }),
      /biasUpdateSpeed must be a finite number >= 0/,
    );
    assert.throws(() => trainer({ batchSize: 1000 }), /a batch of 1000 x 33 tokens is larger than/);
    assert.throws(() => trainer({ seqLen: 100 }), /seqLen 100 exceeds the model's max_seq_len 64/);
    assert.throws(
      () => trainer({ balance: "bias" }, { ...SMALL, routing: "plain" }),
      /needs gates with a bias/,
    );
    assert.throws(
      () => trainer({ lr: 1e-3, learningRate: 1 } as TrainerOptions),
      /unknown option "learningRate"/,
    );
    assert.throws(
      () => trainer({ balance: "loss" as "aux" }),
      /balance must be "bias" or "aux" or "none", got "loss"/,
    );
    assert.throws(
      () => trainer({ view: "none" as unknown as null }),
      /view must be an object with update\(state, final\).*or null for no live output; got "none"/,
    );
    assert.throws(() => trainer({ view: {} as TrainerView }), /view must be .* got object/);
    const model = Transformer.create({ ...SMALL, vocab_size: 128 });
    assert.throws(
      () => new Trainer(model, datasets(), { view: null }),
      /token ids up to 255 but the model's vocab_size is 128/,
    );
    const tr = trainer();
    assert.rejects(tr.fit({ steps: 2, seconds: 3 }), /steps or seconds, not both/);
    assert.rejects(tr.fit({}), /give a target/);
    assert.rejects(tr.fit({ steps: 2, checkpointEvery: 1 }), /checkpointEvery needs a dir/);
  });
});

describe("train/Trainer checkpoints", function () {
  this.timeout(180000);
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "moelab-run-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const SCRIPT = resolve(__dirname, "resume-child.js");

  function child(args: string[]): {
    losses: number[];
    status: number | null;
    signal: string | null;
  } {
    const r = spawnSync(process.execPath, [SCRIPT, ...args], {
      encoding: "utf8",
      env: { ...process.env, MOELAB_NUM_THREADS: "2" },
    });
    const line = r.stdout.split("\n").find((l) => l.startsWith("LOSSES "));
    if (!line && r.status !== null && r.status !== 0) throw new Error(r.stderr);
    return { losses: line ? JSON.parse(line.slice(7)) : [], status: r.status, signal: r.signal };
  }

  it("N steps straight equal N/2, checkpoint, kill, resume, N/2: the same losses bit for bit", () => {
    const straight = child(["straight", dir, "8"]);
    const first = child(["first", join(dir, "run"), "8"]);
    assert.equal(first.signal, "SIGKILL", "the first process is killed after its checkpoint");
    const second = child(["resume", join(dir, "run"), "8"]);
    assert.equal(straight.losses.length, 8);
    assert.deepEqual([...first.losses, ...second.losses], straight.losses);
  });

  it("saves step-N directories and an atomic latest pointer; keeps the newest", async () => {
    const tr = trainer();
    await tr.fit({ steps: 6, checkpointEvery: 2, dir, keep: 2 });
    assert.equal(readFileSync(join(dir, "latest"), "utf8").trim(), "step-6");
    const { checkpointSteps } = await import("../../../lib/train/index.js");
    assert.deepEqual(checkpointSteps(dir), [4, 6]);
    const again = await Trainer.resume(dir, datasets(), { view: null });
    assert.equal(again.step, 6);
    assert.equal(again.history.steps.length, 6);
    assert.equal(again.model.tokenizer?.kind, "byte");
  });

  it("a corrupt checkpoint or one of another config is a clear error and changes nothing", async () => {
    const tr = trainer();
    await tr.fit({ steps: 2, dir });
    const other = trainer({}, { ...SMALL, dim: 48 });
    const w = other.model.namedParameters().get("embed.weight")!.toArray().slice();
    await assert.rejects(other.load(dir), /another model config; nothing was changed/);
    await assert.rejects(other.fit({ steps: 2, dir }), /another model config/);
    assert.deepEqual(other.model.namedParameters().get("embed.weight")!.toArray(), w);
    assert.equal(other.step, 0);
    // Truncate the optimizer's file: loading fails before anything is applied.
    const same = trainer({ seed: 3 });
    const before = same.model.namedParameters().get("embed.weight")!.toArray().slice();
    truncateSync(join(dir, "step-2", "optimizer.safetensors"), 100);
    await assert.rejects(same.load(dir));
    assert.deepEqual(same.model.namedParameters().get("embed.weight")!.toArray(), before);
    assert.equal(same.step, 0);
    writeFileSync(join(dir, "latest"), "nonsense\n");
    await assert.rejects(same.load(dir), /expected "step-N"/);
  });
});
