/**
 * lib/train's AdamW and gradient clipping: against torch.optim.AdamW and clip_grad_norm_
 * (test/oracle/adamw_ref.py), the native kernel against the TypeScript fallback bit for bit,
 * the default no-decay rule, the state dict (safetensors + JSON) continuing a run bit for bit,
 * and every bad option or state refused with an error that leaves the optimizer unchanged.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import * as T from "../../../lib/tensor/index.js";
import { deserialize, serialize } from "../../../lib/io/safetensors.js";
import {
  AdamW,
  AdamWOptions,
  AdamWState,
  AdamWScalars,
  MomentTensor,
} from "../../../lib/train/optim.js";
import { clipGradNorm, clipGradScale, gradNorm } from "../../../lib/train/clip.js";
import { adamwUpdate, hasNativeOptim, sumSquares } from "../../../lib/train/kernels.js";
import { needs, NO_ADDON, skipBecause } from "../../helpers/env.js";
import {
  OracleJob,
  OracleResult,
  assertBits,
  assertRel,
  normals,
  relErr,
  runTorch,
} from "./helpers.js";

/** A matrix and a 3-D tensor (decayed by default), a norm weight and a bias (not decayed). */
const SHAPES: [string, number[]][] = [
  ["layers.0.attn.wq.weight", [37, 29]],
  ["layers.0.attn_norm.weight", [29]],
  ["layers.0.ffn.bias", [29]],
  ["layers.0.ffn.experts.w1", [3, 5, 7]],
];
const STEPS = 6;
const LRS = [1e-2, 2e-2, 5e-3, 1e-2, 3e-3, 8e-3];

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function makeParams(seed: number): Map<string, T.Tensor> {
  return new Map(
    SHAPES.map(([name, shape], i) => [
      name,
      T.tensor(normals(numel(shape), seed * 100 + i, 0.5), { shape }).requiresGrad_(),
    ]),
  );
}

/** Gradients of step s for parameter i: mixed scales, so that eps and clipping both matter. */
function grad(shape: number[], i: number, s: number): Float32Array {
  const g = normals(numel(shape), 1000 + 17 * s + i, [1, 0.01, 3, 1e-4][i % 4]);
  if (i === 0 && s === 2) g.fill(0, 0, 40); // a stretch of exact zeros
  return g;
}

/** Whether parameter i has a gradient at step s (the bias skips step 3, as an unused expert). */
function hasGrad(i: number, s: number): boolean {
  return !(i === 2 && s === 3);
}

function setGrads(ps: Map<string, T.Tensor>, s: number): void {
  [...ps.values()].forEach((t, i) => {
    t.zeroGrad();
    if (hasGrad(i, s)) t.grad = T.tensor(grad([...t.shape], i, s), { shape: [...t.shape] });
  });
}

function values(ps: Map<string, T.Tensor>): Float32Array[] {
  return [...ps.values()].map((t) => t.toArray() as Float32Array);
}

function job(
  opts: { weightDecay: number; moments: "float32" | "bfloat16"; clip?: number },
  decay: (i: number) => boolean,
): OracleJob {
  const ps = makeParams(1);
  return {
    params: [...ps].map(([name, t], i) => ({
      name,
      shape: [...t.shape],
      data: [...t.toArray()],
      decay: decay(i),
    })),
    steps: Array.from({ length: STEPS }, (_, s) => ({
      grads: SHAPES.map(([, shape], i) => (hasGrad(i, s) ? [...grad(shape, i, s)] : null)),
      lr: LRS[s],
      clip: opts.clip ?? null,
    })),
    betas: [0.9, 0.95],
    eps: 1e-8,
    weight_decay: opts.weightDecay,
    moments: opts.moments,
  };
}

/** Runs our AdamW on the job's data; clip: "fused" passes the scale to step(), "apply" clips first. */
function runOurs(
  opts: AdamWOptions,
  clip?: { maxNorm: number; how: "fused" | "apply" },
  impl?: "native" | "ts",
): { ps: Map<string, T.Tensor>; opt: AdamW; norms: number[] } {
  const ps = makeParams(1);
  const opt = new AdamW(ps, opts);
  if (impl) opt._impl = impl;
  const norms: number[] = [];
  for (let s = 0; s < STEPS; s++) {
    setGrads(ps, s);
    if (clip === undefined) opt.step({ lr: LRS[s] });
    else if (clip.how === "apply") {
      norms.push(clipGradNorm(ps, clip.maxNorm, impl));
      opt.step({ lr: LRS[s] });
    } else {
      const { norm, scale } = clipGradScale(ps, clip.maxNorm, impl);
      norms.push(norm);
      opt.step({ lr: LRS[s], gradScale: scale });
    }
  }
  return { ps, opt, norms };
}

function moment(opt: AdamW, name: string, which: "exp_avg" | "exp_avg_sq"): Float32Array {
  const e = opt.stateDict().tensors.get(`${name}.${which}`)!;
  return e.data instanceof Float32Array ? e.data : Float32Array.from(e.data, T.bf16ToF32);
}

function compare(ours: ReturnType<typeof runOurs>, ref: OracleResult, tol: number, what: string) {
  const names = [...ours.ps.keys()];
  values(ours.ps).forEach((p, i) => assertRel(p, ref.params[i], tol, `${what}: ${names[i]}`));
  names.forEach((n, i) => {
    assertRel(moment(ours.opt, n, "exp_avg"), ref.exp_avg[i]!, tol, `${what}: ${n} exp_avg`);
    assertRel(
      moment(ours.opt, n, "exp_avg_sq"),
      ref.exp_avg_sq[i]!,
      tol,
      `${what}: ${n} exp_avg_sq`,
    );
  });
}

const DEFAULT_DECAY = (i: number): boolean => SHAPES[i][1].length >= 2;

describe("train: AdamW against torch.optim.AdamW", function () {
  before(function () {
    needs(this, "torch");
    const keys = Object.keys(JOBS) as (keyof typeof JOBS)[];
    const results = runTorch(keys.map((k) => JOBS[k]()));
    keys.forEach((k, i) => refs.set(k, results[i]));
  });
  const JOBS = {
    wd: () => job({ weightDecay: 0.1, moments: "float32" }, DEFAULT_DECAY),
    noWd: () => job({ weightDecay: 0, moments: "float32" }, DEFAULT_DECAY),
    allDecayed: () => job({ weightDecay: 0.3, moments: "float32" }, () => true),
    clip: () => job({ weightDecay: 0.1, moments: "float32", clip: 1.0 }, DEFAULT_DECAY),
    bigClip: () => job({ weightDecay: 0.1, moments: "float32", clip: 1e6 }, DEFAULT_DECAY),
    bf16: () => job({ weightDecay: 0.1, moments: "bfloat16" }, DEFAULT_DECAY),
  };
  const refs = new Map<keyof typeof JOBS, OracleResult>();
  const runRef = (k: keyof typeof JOBS): OracleResult => refs.get(k)!;

  // torch's add_(alpha) uses a fused multiply-add in its vector loop, ours rounds the product
  // first (to stay bit-identical with the TypeScript path): a few float32 ulps apart.
  const TIGHT = 1e-6;

  for (const weightDecay of [0.1, 0]) {
    it(`float32 moments, ${STEPS} steps, per-step lr, weight decay ${weightDecay}, a skipped grad`, () => {
      const ref = runRef(weightDecay === 0 ? "noWd" : "wd");
      compare(runOurs({ weightDecay }), ref, TIGHT, `wd ${weightDecay}`);
    });
  }

  it("every parameter decayed when decay says so (torch: one group)", () => {
    const ref = runRef("allDecayed");
    compare(runOurs({ weightDecay: 0.3, decay: () => true }), ref, TIGHT, "all decayed");
  });

  it("gradScale fused into the step = clip_grad_norm_ then step; clipGradNorm = clip_grad_norm_", () => {
    const ref = runRef("clip");
    const fused = runOurs({ weightDecay: 0.1 }, { maxNorm: 1.0, how: "fused" });
    const applied = runOurs({ weightDecay: 0.1 }, { maxNorm: 1.0, how: "apply" });
    compare(fused, ref, TIGHT, "fused");
    compare(applied, ref, TIGHT, "applied");
    ref.norms.forEach((n, s) => {
      assert.ok(n! > 1, `step ${s}: the norm (${n}) should be clipped`);
      assert.ok(
        Math.abs(fused.norms[s] - n!) <= 1e-6 * n!,
        `norm at step ${s}: ${fused.norms[s]} vs ${n}`,
      );
    });
    // Fused and applied clipping round the same way: identical bits.
    values(fused.ps).forEach((p, i) => assertBits(p, values(applied.ps)[i], `param ${i}`));
  });

  it("bfloat16 moments: tight against the same formula in torch with bf16 moment storage", () => {
    // Both sides compute each step in float32 and round the moments to bf16 (nearest even) on
    // store; torch's fused multiply-add can flip a rounding, so a moment may differ by one bf16
    // ulp (2^-8 relative) now and then: tight on the weights, looser on the moments.
    const ref = runRef("bf16");
    const ours = runOurs({ weightDecay: 0.1, moments: "bfloat16" });
    const names = [...ours.ps.keys()];
    values(ours.ps).forEach((p, i) => assertRel(p, ref.params[i], 1e-6, `bf16: ${names[i]}`));
    names.forEach((n, i) => {
      assertRel(moment(ours.opt, n, "exp_avg"), ref.exp_avg[i]!, 1e-3, `bf16: ${n} exp_avg`);
      assertRel(
        moment(ours.opt, n, "exp_avg_sq"),
        ref.exp_avg_sq[i]!,
        1e-3,
        `bf16: ${n} exp_avg_sq`,
      );
    });
  });

  it("bfloat16 moments: within 0.5% of torch's float32 AdamW on the updates themselves", () => {
    // Stored moments carry 8 significant bits (relative error <= 2^-9 each), which moves
    // m̂/sqrt(v̂), and each update, by a few tenths of a percent at most (about 0.1% here). The
    // weights differ by that share of the total update, so the check is on p_final − p_initial.
    const ref = runRef("wd");
    const ours = runOurs({ weightDecay: 0.1, moments: "bfloat16" });
    const init = values(makeParams(1));
    values(ours.ps).forEach((p, i) => {
      const du = p.map((x, j) => x - init[i][j]);
      const dr = ref.params[i].map((x, j) => x - init[i][j]);
      const e = relErr(du, dr);
      assert.ok(e < 5e-3 && e > 0, `update ${i}: relative error ${e.toExponential(2)}`);
    });
  });

  it("clipGradNorm leaves small gradients alone and returns the norm (torch's total_norm)", () => {
    const ref = runRef("bigClip");
    const ours = runOurs({ weightDecay: 0.1 }, { maxNorm: 1e6, how: "apply" });
    compare(ours, ref, TIGHT, "unclipped");
    ref.norms.forEach((n, s) => assert.ok(Math.abs(ours.norms[s] - n!) <= 1e-6 * n!));
  });
});

describe("train: AdamW native and TypeScript paths", () => {
  before(function () {
    if (!hasNativeOptim) skipBecause(this, NO_ADDON);
  });

  for (const moments of ["float32", "bfloat16"] as const) {
    it(`the same bits for ${moments} moments, with decay, gradScale and skipped grads`, () => {
      const a = runOurs({ weightDecay: 0.1, moments }, { maxNorm: 1, how: "fused" }, "native");
      const b = runOurs({ weightDecay: 0.1, moments }, { maxNorm: 1, how: "fused" }, "ts");
      values(a.ps).forEach((p, i) => assertBits(p, values(b.ps)[i], `${moments} param ${i}`));
      const sa = a.opt.stateDict().tensors;
      const sb = b.opt.stateDict().tensors;
      assert.deepEqual([...sa.keys()], [...sb.keys()]);
      for (const [k, e] of sa) assertBits(e.data, sb.get(k)!.data, `${moments} ${k}`);
      assert.deepEqual(a.norms, b.norms);
    });
  }

  it("the kernels agree on odd lengths, extreme values and special hyper-parameters", () => {
    for (const [n, seed] of [
      [1, 1],
      [15, 2],
      [17, 3],
      [16384 * 2 + 31, 4],
      [100_003, 5],
    ]) {
      const g = normals(n, seed, 2);
      g[0] = 1e-30; // subnormal squares
      if (n > 3) g[3] = 3e19; // squares beyond float32
      for (const moments of ["f32", "bf16"]) {
        const mk = (): Float32Array | Uint16Array =>
          moments === "f32" ? new Float32Array(n) : new Uint16Array(n);
        const run = (impl: "native" | "ts") => {
          const p = normals(n, seed + 7);
          const m = mk();
          const v = mk();
          for (let step = 1; step <= 3; step++)
            adamwUpdate(
              p,
              g,
              m,
              v,
              {
                step,
                lr: 0.3,
                beta1: step === 2 ? 0 : 0.9,
                beta2: 0.999,
                eps: 1e-6,
                weightDecay: 0.5,
                gradScale: 0.37,
              },
              impl,
            );
          return [p, m, v];
        };
        const a = run("native");
        const b = run("ts");
        a.forEach((x, i) => assertBits(x, b[i], `n ${n} ${moments} array ${i}`));
      }
      assert.equal(sumSquares(g, "native"), sumSquares(g, "ts"), `sumSquares n ${n}`);
    }
  });

  it("MOELAB_NO_NATIVE=1 uses the TypeScript kernels and gets the native bits", () => {
    const dir = resolve(__dirname, "..", "..", "..", "lib");
    const script = `
      const T = require(${JSON.stringify(resolve(dir, "tensor", "index.js"))});
      const { AdamW } = require(${JSON.stringify(resolve(dir, "train", "optim.js"))});
      const p = T.tensor(new Float32Array(5000).map((_, i) => Math.sin(i)), { shape: [50, 100] });
      const opt = new AdamW([p], { moments: "bfloat16" });
      for (let s = 1; s <= 4; s++) {
        p.grad = T.tensor(new Float32Array(5000).map((_, i) => Math.cos(i * s)), { shape: [50, 100] });
        opt.step({ gradScale: 0.5 });
      }
      console.log(JSON.stringify({ d: opt.describe(), p: Array.from(new Uint32Array(p.toArray().buffer)) }));`;
    const run = (noNative: string) => {
      const r = spawnSync(process.execPath, ["-e", script], {
        encoding: "utf8",
        env: { ...process.env, MOELAB_NO_NATIVE: noNative },
      });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as { d: string; p: number[] };
    };
    const ts = run("1");
    const nat = run("");
    assert.match(ts.d, /TypeScript kernel/);
    assert.match(nat.d, /native kernel/);
    assert.deepEqual(ts.p, nat.p);
  });
});

describe("train: AdamW behaviour", () => {
  it("decays matrices only by default: 1-D parameters (norms, biases) are left alone", () => {
    const ps = makeParams(2);
    const opt = new AdamW(ps, { lr: 0.1, weightDecay: 0.5 });
    assert.deepEqual(
      opt.paramNames.map((n) => opt.decays(n)),
      [true, false, false, true],
    );
    const before = values(ps);
    for (const t of ps.values()) t.grad = T.zeros([...t.shape]);
    opt.step();
    const after = values(ps);
    // A zero gradient moves nothing but the decay: 2-D / 3-D shrink by 1 − lr·wd, 1-D stay.
    assertBits(after[1], before[1], "norm weight");
    assertBits(after[2], before[2], "bias");
    const f = Math.fround(1 - 0.1 * 0.5);
    assertBits(
      after[0],
      before[0].map((x) => x * f),
      "matrix",
    );
    assertBits(
      after[3],
      before[3].map((x) => x * f),
      "3-D",
    );
    assert.equal(opt.stepCount, 1);
  });

  it("a Tensor[] is named by position; decay sees each name and tensor", () => {
    const a = T.zeros([2, 2]);
    const b = T.zeros([3]);
    const seen: string[] = [];
    const opt = new AdamW([a, b], {
      decay: (name, t) => {
        seen.push(`${name}:${t.ndim}`);
        return name === "1";
      },
    });
    assert.deepEqual(seen, ["0:2", "1:1"]);
    assert.deepEqual(opt.paramNames, ["0", "1"]);
    assert.equal(opt.decays("1"), true);
  });

  it("skips parameters without a gradient, their moments and step counts untouched", () => {
    const ps = makeParams(3);
    const opt = new AdamW(ps);
    const [w, n] = [...ps.values()];
    w.grad = T.ones([...w.shape]);
    opt.step();
    const nBefore = n.toArray();
    w.grad = T.ones([...w.shape]);
    opt.step();
    assertBits(n.toArray() as Float32Array, nBefore as Float32Array, "no grad, no change");
    const sc = opt.stateDict().scalars;
    assert.equal(sc.params[SHAPES[0][0]].step, 2);
    assert.equal(sc.params[SHAPES[1][0]].step, 0);
    assert.equal(opt.stepCount, 2);
    assert.ok(!opt.stateDict().tensors.has(`${SHAPES[1][0]}.exp_avg`));
  });

  it("moments survive tidy(): they are the optimizer's own arrays", () => {
    const ps = makeParams(4);
    const opt = new AdamW(ps);
    T.tidy(() => {
      setGrads(ps, 0);
      opt.step();
    });
    const m0 = opt.stateDict().tensors.get(`${SHAPES[0][0]}.exp_avg`)!.data.slice();
    T.tidy(() => T.randn([64, 64]).sum());
    assertBits(opt.stateDict().tensors.get(`${SHAPES[0][0]}.exp_avg`)!.data, m0, "moment");
    setGrads(ps, 1);
    opt.step();
    assert.equal(opt.stepCount, 2);
  });

  it("zeroGrad clears every gradient", () => {
    const ps = makeParams(5);
    const opt = new AdamW(ps);
    setGrads(ps, 0);
    opt.zeroGrad();
    for (const t of ps.values()) assert.equal(t.grad, null);
  });

  it("displays itself: hyper-parameters, sizes, state, kernel", () => {
    const opt = new AdamW(makeParams(6), { lr: 2e-3, moments: "bfloat16" });
    const show = opt as unknown as Record<symbol, () => Record<string, string>>;
    const text = show[Symbol.for("Jupyter.display")]()["text/plain"];
    assert.match(text, /^AdamW\(lr=0\.002, betas=\(0\.9, 0\.95\), eps=1e-8, weight_decay=0\.1\)/);
    assert.match(
      text,
      /4 tensors, 1.24K parameters \(1.18K decayed\); moments bfloat16, 0 B; 0 steps/,
    );
    assert.equal(opt.describe(), text);
  });
});

/** A state dict through the bytes a checkpoint holds: safetensors for tensors, JSON for scalars. */
function throughFiles(s: AdamWState): AdamWState {
  const bytes = serialize(s.tensors);
  const back = deserialize(bytes);
  const tensors = new Map<string, MomentTensor>();
  for (const [k, e] of back.tensors)
    tensors.set(k, {
      dtype: e.dtype as "F32" | "BF16",
      shape: e.shape,
      data: e.data as Float32Array | Uint16Array,
    });
  return { tensors, scalars: JSON.parse(JSON.stringify(s.scalars)) as AdamWScalars };
}

describe("train: AdamW state dict", () => {
  for (const moments of ["float32", "bfloat16"] as const) {
    it(`${moments}: 3 steps, save, restore into fresh objects, 3 steps = 6 steps straight, bit for bit`, () => {
      const straight = runOurs({ weightDecay: 0.1, moments }, { maxNorm: 1, how: "fused" });
      const ps = makeParams(1);
      const opt = new AdamW(ps, { weightDecay: 0.1, moments });
      const half = STEPS / 2;
      for (let s = 0; s < half; s++) {
        setGrads(ps, s);
        opt.step({ lr: LRS[s], gradScale: clipGradScale(ps, 1).scale });
      }
      const saved = throughFiles(opt.stateDict());
      const weights = values(ps);
      // A new process would rebuild both from files: fresh tensors, a fresh optimizer.
      const ps2 = new Map(
        [...ps.keys()].map((n, i) => [n, T.tensor(weights[i], { shape: [...ps.get(n)!.shape] })]),
      );
      const opt2 = new AdamW(ps2, { lr: 0.5, weightDecay: 0.2, moments });
      opt2.loadStateDict(saved);
      assert.equal(opt2.stepCount, half);
      assert.equal(opt2.weightDecay, 0.1, "hyper-parameters restored");
      for (let s = half; s < STEPS; s++) {
        setGrads(ps2, s);
        opt2.step({ lr: LRS[s], gradScale: clipGradScale(ps2, 1).scale });
      }
      values(ps2).forEach((p, i) => assertBits(p, values(straight.ps)[i], `param ${i}`));
      const a = opt2.stateDict();
      const b = straight.opt.stateDict();
      assert.deepEqual(a.scalars, b.scalars);
      for (const [k, e] of b.tensors) assertBits(a.tensors.get(k)!.data, e.data, k);
    });
  }

  it("refuses a state that does not fit, naming the problem, and changes nothing", () => {
    const ps = makeParams(7);
    const opt = new AdamW(ps);
    setGrads(ps, 0);
    opt.step();
    const good = opt.stateDict();
    const w = SHAPES[0][0];
    const mutate = (f: (s: AdamWState) => void): AdamWState => {
      const s = throughFiles(good);
      f(s);
      return s;
    };
    const bad: [AdamWState, RegExp][] = [
      [
        mutate((s) =>
          s.tensors.set(`${w}.exp_avg`, { ...s.tensors.get(`${w}.exp_avg`)!, shape: [29, 37] }),
        ),
        /shape \[29,37\], the parameter \[37, 29\]/,
      ],
      [mutate((s) => s.tensors.delete(`${w}.exp_avg_sq`)), /exp_avg_sq" is missing/],
      [
        mutate((s) =>
          s.tensors.set(`${w}.exp_avg`, {
            dtype: "BF16",
            shape: [37, 29],
            data: new Uint16Array(37 * 29),
          }),
        ),
        /is "BF16" \(Uint16Array\), expected F32/,
      ],
      [
        mutate((s) =>
          s.tensors.set(`${w}.exp_avg`, {
            dtype: "F32",
            shape: [37, 29],
            data: new Float32Array(5),
          }),
        ),
        /has 5 values, the parameter 1073/,
      ],
      [
        mutate((s) => s.tensors.set("stray.exp_avg", s.tensors.get(`${w}.exp_avg`)!)),
        /"stray.exp_avg" belongs to no parameter/,
      ],
      [
        mutate((s) => (s.scalars.params["other.weight"] = { step: 1, decay: true })),
        /other parameters; unknown here: other.weight/,
      ],
      [mutate((s) => delete s.scalars.params[w]), /missing from it: layers.0.attn.wq.weight/],
      [
        mutate((s) => (s.scalars.moments = "bfloat16")),
        /holds bfloat16 moments, this optimizer keeps float32/,
      ],
      [mutate((s) => (s.scalars.betas = [0.9, 1])), /betas\[1\] must be in \[0, 1\), got 1/],
      [mutate((s) => (s.scalars.params[w].step = -1)), /step must be a non-negative integer/],
      [
        mutate((s) => ((s.scalars as { format: string }).format = "torch")),
        /not a moelab AdamW state/,
      ],
    ];
    const before = opt.stateDict();
    const weights = values(ps);
    for (const [s, re] of bad) {
      assert.throws(() => opt.loadStateDict(s), re);
      const now = opt.stateDict();
      assert.deepEqual(now.scalars, before.scalars);
      for (const [k, e] of before.tensors) assertBits(now.tensors.get(k)!.data, e.data, k);
      values(ps).forEach((p, i) => assertBits(p, weights[i], "weights"));
    }
  });
});

/** { lr: NaN } as text (JSON would print null). */
function label(o: Record<string, unknown>): string {
  const v = (x: unknown): string =>
    Array.isArray(x) ? `[${x.map(v).join(", ")}]` : typeof x === "string" ? `"${x}"` : String(x);
  return `{ ${Object.entries(o)
    .map(([k, x]) => `${k}: ${typeof x === "function" ? "a function returning 1" : v(x)}`)
    .join(", ")} }`;
}

describe("train: AdamW options and bad input", () => {
  const ps = (): Map<string, T.Tensor> => makeParams(8);
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ lr: -1 }, /AdamW: lr must be a finite number >= 0, got -1/],
    [{ lr: NaN }, /lr must be a finite number >= 0, got NaN/],
    [{ lr: Infinity }, /lr must be a finite number >= 0, got Infinity/],
    [{ betas: [0.9, 1] }, /betas\[1\] must be in \[0, 1\), got 1/],
    [{ betas: [-0.1, 0.9] }, /betas\[0\] must be in \[0, 1\), got -0.1/],
    [{ betas: [0.9] }, /betas must be \[beta1, beta2\]/],
    [{ eps: 0 }, /eps must be a finite number > 0, got 0/],
    [{ eps: -1e-8 }, /eps must be a finite number > 0/],
    [{ weightDecay: -0.1 }, /weightDecay must be a finite number >= 0, got -0.1/],
    [{ moments: "float16" }, /moments must be "float32" or "bfloat16", got "float16"/],
    [
      { learningRate: 1e-3 },
      /unknown option "learningRate" \(known: lr, betas, eps, weightDecay, decay, moments\)/,
    ],
    [{ decay: 3 }, /decay must be a function/],
    [{ decay: () => 1 }, /returned 1, not a boolean/],
  ];
  for (const [opts, re] of cases)
    it(`refuses ${label(opts)}`, () => {
      assert.throws(() => new AdamW(ps(), opts as AdamWOptions), re);
    });

  it("refuses empty, repeated, non-tensor and non-float32 parameters", () => {
    assert.throws(() => new AdamW([]), /empty parameter list/);
    const t = T.zeros([2, 2]);
    assert.throws(() => new AdamW([t, t]), /"0" and "1" are the same tensor/);
    assert.throws(() => new AdamW([3 as unknown as T.Tensor]), /parameter "0" is not a Tensor/);
    assert.throws(
      () => new AdamW([T.zeros([2], { dtype: "int32" })]),
      /is int32; AdamW updates float32/,
    );
    assert.throws(() => new AdamW({} as unknown as T.Tensor[]), /params must be a Map/);
  });

  it("step() refuses bad options and a mismatched gradient before changing any parameter", () => {
    const p = ps();
    const opt = new AdamW(p);
    setGrads(p, 0);
    assert.throws(() => opt.step({ lr: -1 }), /AdamW.step: lr must be a finite number >= 0/);
    assert.throws(
      () => opt.step({ gradScale: NaN }),
      /gradScale must be a finite number >= 0, got NaN/,
    );
    assert.throws(() => opt.step({ scale: 1 } as never), /unknown option "scale"/);
    const before = values(p);
    [...p.values()][2].grad = T.zeros([30]);
    assert.throws(
      () => opt.step(),
      /gradient of "layers.0.ffn.bias" has shape \[30\], the parameter \[29\]/,
    );
    values(p).forEach((x, i) => assertBits(x, before[i], `param ${i}`));
    assert.equal(opt.stepCount, 0);
    assert.throws(() => (opt.lr = -2), /lr must be a finite number >= 0/);
  });
});

describe("train: gradient clipping", () => {
  it("a non-finite norm is returned, nothing is scaled, and its scale cannot reach step()", () => {
    const p = makeParams(9);
    setGrads(p, 0);
    const g = [...p.values()][1].grad!;
    g._contiguousData()[3] = NaN;
    const before = [...p.values()].map((t) => t.grad!.toArray() as Float32Array);
    assert.ok(Number.isNaN(clipGradNorm(p, 1)));
    [...p.values()].forEach((t, i) =>
      assertBits(t.grad!.toArray() as Float32Array, before[i], `grad ${i}`),
    );
    const { norm, scale } = clipGradScale(p, 1);
    assert.ok(Number.isNaN(norm) && Number.isNaN(scale));
    assert.throws(
      () => new AdamW(p).step({ gradScale: scale }),
      /gradScale must be a finite number/,
    );
    g._contiguousData()[3] = Infinity;
    assert.equal(gradNorm(p), Infinity);
  });

  it("norm = sqrt of the sum of squares over every gradient, parameters without one skipped", () => {
    const a = T.tensor([3, 0], { shape: [2] });
    const b = T.tensor([4], { shape: [1] });
    const c = T.zeros([5]);
    a.grad = T.tensor([3, 0]);
    b.grad = T.tensor([4]);
    assert.equal(gradNorm([a, b, c]), 5);
    assert.equal(clipGradScale([a, b, c], Infinity).scale, 1);
    const { scale } = clipGradScale([a, b, c], 1);
    assert.equal(scale, 1 / (5 + 1e-6));
    assert.equal(clipGradNorm([a, b, c], 1), 5);
    assert.deepEqual([...a.grad.toArray()], [Math.fround(3 * Math.fround(scale)), 0]);
  });

  it("refuses a maxNorm that is not a positive number", () => {
    for (const bad of [0, -1, NaN, "1"])
      assert.throws(() => clipGradNorm([], bad as number), /maxNorm must be a number > 0/);
  });
});
