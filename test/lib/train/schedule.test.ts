/**
 * Learning-rate schedules: values at the points that define them (warm-up ramp, peak, plateau,
 * decay, floor), the same curve over steps or over a time budget, display, and bad arguments.
 */
import { strict as assert } from "node:assert";
import { Schedule, constant, cosine, fromFunction, wsd } from "../../../lib/train/schedule.js";

function close(a: number, b: number, what: string): void {
  assert.ok(Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
}

/** nanoGPT's get_lr with (step + 1) / warmup warm-up: the curve the PyTorch peer uses. */
function nanoCosine(step: number, lr: number, warmup: number, total: number, min: number) {
  if (step < warmup) return (lr * (step + 1)) / warmup;
  const r = (step - warmup) / (total - warmup);
  return min + 0.5 * (1 + Math.cos(Math.PI * r)) * (lr - min);
}

describe("train: learning-rate schedules", () => {
  it("constant: a linear warm-up, then the lr", () => {
    const s = constant({ lr: 1e-3, warmup: 4 });
    assert.deepEqual(
      [0, 1, 2, 3, 4, 100].map((k) => s.at(k, k / 200)),
      [2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3],
    );
    assert.equal(constant({ lr: 3e-4 }).at(0, 0), 3e-4);
  });

  it("cosine over steps: warm-up ramp, peak at the end of warm-up, lr·minRatio at the end", () => {
    const s = cosine({ lr: 2e-3, warmup: 100, minRatio: 0.1 });
    const N = 1000;
    close(s.at(0, 0), 2e-5, "first step");
    close(s.at(49, 49 / N), 1e-3, "half-way up");
    close(s.at(99, 99 / N), 2e-3, "last warm-up step");
    close(s.at(100, 100 / N), 2e-3, "peak");
    close(s.at(550, 550 / N), 1.1e-3, "half-way down: the mid value");
    close(s.at(N, 1), 2e-4, "end: lr·minRatio");
    for (let k = 0; k < N; k += 37)
      close(s.at(k, k / N), nanoCosine(k, 2e-3, 100, N, 2e-4), `step ${k}`);
    // Monotone decay after the warm-up.
    const v = s.values(N);
    for (let k = 101; k < N; k++) assert.ok(v[k] <= v[k - 1], `step ${k} rises`);
    assert.equal(cosine({ lr: 1 }).at(10, 1), 0.1, "minRatio defaults to 0.1");
  });

  it("cosine over a time budget: the same curve when steps take the same time", () => {
    const s = cosine({ lr: 1e-3, warmup: 10, minRatio: 0.2 });
    // 50 steps in 5 s at 0.1 s each, progress = elapsed / budget: the step curve exactly.
    for (let k = 0; k <= 50; k++) close(s.at(k, (k * 0.1) / 5), s.at(k, k / 50), `step ${k}`);
    // Past the budget the floor holds; a faster machine (more steps) ends at the floor too.
    close(s.at(60, 1.2), 2e-4, "overrun");
    close(s.at(400, 1), 2e-4, "more steps");
  });

  it("wsd: warm-up, a plateau at lr, then the decay over the last decayFraction", () => {
    const s = wsd({ lr: 1e-3, warmup: 10, decayFraction: 0.2, minRatio: 0.1 });
    const N = 100;
    close(s.at(0, 0), 1e-4, "warm-up start");
    close(s.at(9, 0.09), 1e-3, "warm-up end");
    for (const k of [10, 40, 79, 80]) close(s.at(k, k / N), 1e-3, `plateau at ${k}`);
    close(s.at(90, 0.9), 5.5e-4, "half-way down (linear)");
    close(s.at(N, 1), 1e-4, "end: lr·minRatio");
    const c = wsd({ lr: 1e-3, warmup: 0, shape: "cosine" });
    close(c.at(90, 0.9), 5e-4, "cosine decay, half-way");
    close(c.at(100, 1), 0, "minRatio defaults to 0");
    close(wsd({ lr: 1, decayFraction: 0 }).at(99, 0.99), 1, "no decay phase");
  });

  it("a plain function, checked when asked", () => {
    const s = fromFunction((step, p) => 1e-3 * (1 - p) + step * 0, "linear to zero");
    close(s.at(5, 0.5), 5e-4, "value");
    assert.match(s.describe(), /function: linear to zero/);
    const bad = fromFunction(() => NaN);
    assert.throws(() => bad.at(3, 0.1), /returned NaN at step 3 \(progress 0.1\)/);
  });

  it("describes and displays itself", () => {
    const s = cosine({ lr: 2e-3, warmup: 100, minRatio: 0.1 });
    assert.equal(
      s.describe(),
      "cosine: linear warm-up over 100 steps, then cosine decay from 0.002 to 0.0002 (10%) at the end of the run",
    );
    const d = (s as unknown as Record<symbol, () => Record<string, string>>)[
      Symbol.for("Jupyter.display")
    ].call(s);
    assert.equal(d["text/plain"], s.describe());
    assert.match(
      wsd({ lr: 1e-3, warmup: 5, minRatio: 0.1 }).describe(),
      /wsd: linear warm-up over 5 steps, then stable at 0.001 until 80% of the run, then linear decay to 0.0001 \(10%\)/,
    );
    assert.equal(constant({ lr: 1e-3 }).describe(), "constant: lr 0.001");
    assert.ok(constant({ lr: 1 }) instanceof Schedule);
  });

  it("refuses bad arguments, naming them", () => {
    const bad: [() => unknown, RegExp][] = [
      [() => cosine({ lr: -1 }), /cosine: lr must be a finite number >= 0, got -1/],
      [() => cosine({ lr: NaN }), /lr must be a finite number >= 0, got NaN/],
      [() => cosine({} as never), /lr must be a finite number >= 0, got undefined/],
      [() => cosine({ lr: 1, warmup: 2.5 }), /warmup must be a non-negative integer, got 2.5/],
      [() => cosine({ lr: 1, minRatio: 1.5 }), /minRatio must be in \[0, 1\], got 1.5/],
      [
        () => cosine({ lr: 1, warm: 3 } as never),
        /unknown option "warm" \(known: lr, warmup, minRatio\)/,
      ],
      [() => wsd({ lr: 1, decayFraction: -0.1 }), /decayFraction must be in \[0, 1\]/],
      [() => wsd({ lr: 1, shape: "exp" as never }), /shape must be "linear" or "cosine"/],
      [() => constant(3 as never), /constant: expected options \{ lr, ... \}, got 3/],
      [() => fromFunction(5 as never), /expected \(step, progress\) => lr/],
      [() => constant({ lr: 1 }).at(-1, 0), /step must be a non-negative integer, got -1/],
      [() => constant({ lr: 1 }).at(1.5, 0), /step must be a non-negative integer/],
      [() => constant({ lr: 1 }).at(1, NaN), /progress must be a finite number >= 0, got NaN/],
      [() => constant({ lr: 1 }).at(1, -0.5), /progress must be a finite number >= 0/],
      [() => constant({ lr: 1 }).values(-3), /totalSteps must be a non-negative integer/],
    ];
    for (const [f, re] of bad) assert.throws(f, re);
  });
});
