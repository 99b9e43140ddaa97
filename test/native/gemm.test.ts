/**
 * The native SGEMM (native/src/gemm*.cc) against a float64 reference: every transpose, odd and
 * tiny shapes, batches with strides, alpha/beta, padded leading dimensions, each micro-kernel
 * forced in turn, and every bad argument rejected with an error naming it.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { Worker } from "node:worker_threads";

const ADDON_PATH = path.resolve(__dirname, "../../../build/Release/moelab_native.node");

import type { Sgemm } from "../../lib/tensor/native.js";
import { NO_AVX512, skipBecause } from "../helpers/env.js";

interface GemmAddon {
  sgemm: Sgemm;
  getNumThreads(): number;
  setNumThreads(n: number): void;
  sgemmInfo(): { kernel: "avx512" | "avx2" | "scalar"; threads: number };
  sgemmSetKernel(name: string): boolean;
  buildInfo: { avx512f: boolean; avx2: boolean; fma: boolean };
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const addon = require(ADDON_PATH) as GemmAddon;
const QUICK = process.env.MOELAB_QUICK === "1";

/** Deterministic uniform numbers in [-1, 1) (xorshift32), so failures reproduce. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2147483648 - 1;
  };
}

function filled(n: number, next: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = next();
  return out;
}

interface Case {
  ta: boolean;
  tb: boolean;
  m: number;
  n: number;
  k: number;
  alpha: number;
  beta: number;
  /** Extra elements in each leading dimension beyond the minimum. */
  pad: number;
  /** Offset of the first element in each array. */
  offset: number;
  batch: number;
  /** Extra elements between batches beyond the minimum. */
  gap: number;
}

interface Operands {
  A: Float32Array;
  B: Float32Array;
  C: Float32Array;
  lda: number;
  ldb: number;
  ldc: number;
  strideA: number;
  strideB: number;
  strideC: number;
}

function operands(c: Case, seed: number): Operands {
  const next = rng(seed);
  const [rowsA, colsA] = c.ta ? [c.k, c.m] : [c.m, c.k];
  const [rowsB, colsB] = c.tb ? [c.n, c.k] : [c.k, c.n];
  const lda = Math.max(1, colsA) + c.pad;
  const ldb = Math.max(1, colsB) + c.pad;
  const ldc = Math.max(1, c.n) + c.pad;
  const strideA = rowsA * lda + c.gap;
  const strideB = rowsB * ldb + c.gap;
  const strideC = c.m * ldc + c.gap;
  return {
    A: filled(c.offset + c.batch * strideA, next),
    B: filled(c.offset + c.batch * strideB, next),
    C: filled(c.offset + c.batch * strideC, next),
    lda,
    ldb,
    ldc,
    strideA,
    strideB,
    strideC,
  };
}

/** C after the product, computed in float64 from the same inputs. */
function reference(c: Case, o: Operands): Float64Array {
  const out = Float64Array.from(o.C);
  for (let b = 0; b < c.batch; b++) {
    const a0 = c.offset + b * o.strideA;
    const b0 = c.offset + b * o.strideB;
    const c0 = c.offset + b * o.strideC;
    for (let i = 0; i < c.m; i++) {
      for (let j = 0; j < c.n; j++) {
        let s = 0;
        for (let p = 0; p < c.k; p++) {
          const a = c.ta ? o.A[a0 + p * o.lda + i] : o.A[a0 + i * o.lda + p];
          const v = c.tb ? o.B[b0 + j * o.ldb + p] : o.B[b0 + p * o.ldb + j];
          s += a * v;
        }
        const at = c0 + i * o.ldc + j;
        out[at] = c.alpha * s + (c.beta === 0 ? 0 : c.beta * o.C[at]);
      }
    }
  }
  return out;
}

/** ‖got − want‖ / ‖want‖ over the elements of C the product owns; elsewhere C must be untouched. */
function check(c: Case, seed: number): void {
  const o = operands(c, seed);
  const before = Float32Array.from(o.C);
  const want = reference(c, o);
  addon.sgemm(
    c.ta,
    c.tb,
    c.m,
    c.n,
    c.k,
    c.alpha,
    o.A,
    c.offset,
    o.lda,
    o.B,
    c.offset,
    o.ldb,
    c.beta,
    o.C,
    c.offset,
    o.ldc,
    c.batch,
    o.strideA,
    o.strideB,
    o.strideC,
  );
  let num = 0;
  let den = 0;
  const owned = new Uint8Array(o.C.length);
  for (let b = 0; b < c.batch; b++)
    for (let i = 0; i < c.m; i++)
      for (let j = 0; j < c.n; j++) {
        const at = c.offset + b * o.strideC + i * o.ldc + j;
        owned[at] = 1;
        num += (o.C[at] - want[at]) ** 2;
        den += want[at] ** 2;
      }
  const err = Math.sqrt(num / Math.max(den, 1e-300));
  assert.ok(err <= 1e-5, `relative error ${err} for ${JSON.stringify(c)}`);
  for (let i = 0; i < o.C.length; i++)
    if (!owned[i])
      assert.equal(
        o.C[i],
        before[i],
        `C[${i}] outside the product was written (${JSON.stringify(c)})`,
      );
}

const base: Case = {
  ta: false,
  tb: false,
  m: 1,
  n: 1,
  k: 1,
  alpha: 1,
  beta: 0,
  pad: 0,
  offset: 0,
  batch: 1,
  gap: 0,
};
const TRANSPOSES: [boolean, boolean][] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];
// Tiny, odd and micro-tile-straddling shapes (the AVX-512 tile is 14x32, AVX2 6x16, scalar 4x8).
const EDGE_SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [33, 17, 65],
  [1, 513, 7],
  [513, 1, 3],
  [14, 32, 16],
  [15, 33, 17],
  [13, 31, 257],
  [6, 16, 1],
  [29, 47, 300],
  [2, 3, 600],
  // A few rows (decoding): the AVX-512 kernel's unpacked path, with K tails and column groups.
  [3, 300, 100],
  [4, 70, 35],
];

function kernelSuite(kernel: "avx512" | "avx2" | "scalar"): void {
  describe(`kernel ${kernel}`, function () {
    before(function () {
      if (!addon.sgemmSetKernel(kernel))
        skipBecause(
          this,
          kernel === "avx512" ? NO_AVX512 : `no ${kernel.toUpperCase()} on this CPU`,
        );
      assert.equal(addon.sgemmInfo().kernel, kernel);
    });
    after(() => {
      addon.sgemmSetKernel("auto");
    });

    it("matches the float64 reference on edge shapes, all transposes, alpha and beta", () => {
      let seed = 1;
      for (const [m, n, k] of EDGE_SHAPES)
        for (const [ta, tb] of TRANSPOSES) {
          check({ ...base, ta, tb, m, n, k, alpha: 1, beta: 0 }, seed++);
          check({ ...base, ta, tb, m, n, k, alpha: -0.75, beta: 1.5, pad: 3, offset: 5 }, seed++);
        }
    });

    it("matches on random shapes with padded leading dimensions and offsets", () => {
      const next = rng(kernel.length * 7919);
      const count = QUICK ? 12 : 40;
      for (let t = 0; t < count; t++) {
        const dim = () => 1 + Math.floor(((next() + 1) / 2) * 90);
        const [ta, tb] = TRANSPOSES[t % 4];
        check(
          {
            ...base,
            ta,
            tb,
            m: dim(),
            n: dim(),
            k: dim(),
            alpha: next() * 2,
            beta: t % 3 === 0 ? 0 : next(),
            pad: t % 5,
            offset: t % 7,
          },
          1000 + t,
        );
      }
    });

    it("matches on products large enough to be split across threads", () => {
      let seed = 50;
      for (const [ta, tb] of TRANSPOSES) {
        check({ ...base, ta, tb, m: 157, n: 203, k: 131, alpha: 1, beta: 0.5, pad: 1 }, seed++);
        if (!QUICK) check({ ...base, ta, tb, m: 1030, n: 70, k: 45, alpha: 2, beta: 0 }, seed++);
      }
      // Deep enough for several k blocks (beta applies once, then accumulation).
      check({ ...base, m: 40, n: 90, k: 1100, alpha: 1, beta: -1 }, seed);
      // A few rows but enough work to split the columns over threads.
      for (const [ta, tb] of TRANSPOSES)
        check({ ...base, ta, tb, m: 4, n: 2100, k: 150, alpha: 1, beta: 0.5, pad: 2 }, seed++);
    });

    it("matches batched products with strides and gaps between batches", () => {
      let seed = 80;
      for (const [ta, tb] of TRANSPOSES) {
        check(
          {
            ...base,
            ta,
            tb,
            m: 9,
            n: 21,
            k: 13,
            alpha: 1,
            beta: 0.25,
            batch: 5,
            gap: 3,
            offset: 2,
          },
          seed++,
        );
        check(
          { ...base, ta, tb, m: 64, n: 64, k: 64, alpha: 0.5, beta: 0, batch: 6, gap: 1 },
          seed++,
        );
      }
    });
  });
}

describe("native sgemm", function () {
  this.timeout(120000);

  it("reports its kernel and thread count", () => {
    const info = addon.sgemmInfo();
    assert.ok(["avx512", "avx2", "scalar"].includes(info.kernel), info.kernel);
    assert.ok(Number.isInteger(info.threads) && info.threads >= 1);
    // Auto picks the widest kernel the CPU runs.
    const want =
      addon.buildInfo.avx512f && addon.buildInfo.fma
        ? "avx512"
        : addon.buildInfo.avx2 && addon.buildInfo.fma
          ? "avx2"
          : "scalar";
    assert.equal(info.kernel, want);
  });

  kernelSuite("avx512");
  kernelSuite("avx2");
  kernelSuite("scalar");

  it("matches on products too deep to pack B in one column block", () => {
    // K * N beyond the packed-B bound (8M floats) makes the driver split N into blocks.
    check({ ...base, m: 3, n: 100, k: 100000, alpha: 1, beta: 0.5 }, 7);
    check({ ...base, tb: true, m: 17, n: 70, k: 130000, alpha: -1, beta: 0 }, 8);
  });

  it("gives bit-identical results on 1 and 2 threads, and sgemmInfo follows setNumThreads", () => {
    const before = addon.getNumThreads();
    try {
      // batch 1 splits one product into tiles across threads; batch 2 gives each thread one.
      for (const [[ta, tb], batch] of TRANSPOSES.flatMap((t) =>
        [1, 2].map((b) => [t, b] as const),
      )) {
        for (const c of [
          { ...base, ta, tb, m: 301, n: 157, k: 290, alpha: 0.5, beta: 0.25, batch },
          // A few rows: the unpacked path splits columns instead.
          { ...base, ta, tb, m: 3, n: 2400, k: 160, alpha: 0.5, beta: 0.25, batch },
        ] as Case[]) {
          const results: Float32Array[] = [];
          for (const threads of [1, 2]) {
            addon.setNumThreads(threads);
            assert.equal(addon.sgemmInfo().threads, threads);
            const o = operands(c, 99);
            addon.sgemm(
              ta,
              tb,
              c.m,
              c.n,
              c.k,
              c.alpha,
              o.A,
              0,
              o.lda,
              o.B,
              0,
              o.ldb,
              c.beta,
              o.C,
              0,
              o.ldc,
              batch,
              o.strideA,
              o.strideB,
              o.strideC,
            );
            results.push(o.C);
          }
          assert.deepEqual(results[0], results[1]);
        }
      }
      assert.throws(() => addon.setNumThreads(0), TypeError);
    } finally {
      addon.setNumThreads(before);
    }
  });

  it("shares a B (strideB = 0) across a batch", () => {
    const c: Case = { ...base, m: 7, n: 5, k: 3, batch: 4 };
    const o = operands(c, 3);
    addon.sgemm(
      false,
      false,
      7,
      5,
      3,
      1,
      o.A,
      0,
      o.lda,
      o.B,
      0,
      o.ldb,
      0,
      o.C,
      0,
      o.ldc,
      4,
      o.strideA,
      0,
      o.strideC,
    );
    for (let b = 0; b < 4; b++)
      for (let i = 0; i < 7; i++)
        for (let j = 0; j < 5; j++) {
          let s = 0;
          for (let p = 0; p < 3; p++) s += o.A[b * o.strideA + i * 3 + p] * o.B[p * 5 + j];
          assert.ok(Math.abs(o.C[b * o.strideC + i * 5 + j] - s) < 1e-5);
        }
  });

  it("with beta = 0 ignores NaN in C, and with alpha = 0 or K = 0 scales C by beta", () => {
    const A = new Float32Array([1, 2, 3, 4]);
    const B = new Float32Array([5, 6, 7, 8]);
    const C = new Float32Array([NaN, NaN, NaN, NaN]);
    addon.sgemm(false, false, 2, 2, 2, 1, A, 0, 2, B, 0, 2, 0, C, 0, 2);
    assert.deepEqual(Array.from(C), [19, 22, 43, 50]);
    addon.sgemm(
      false,
      false,
      2,
      2,
      2,
      0,
      new Float32Array([NaN, 1, 1, 1]),
      0,
      2,
      B,
      0,
      2,
      2,
      C,
      0,
      2,
    );
    assert.deepEqual(Array.from(C), [38, 44, 86, 100]);
    addon.sgemm(
      false,
      false,
      2,
      2,
      0,
      1,
      new Float32Array(0),
      0,
      1,
      new Float32Array(0),
      0,
      2,
      0.5,
      C,
      0,
      2,
    );
    assert.deepEqual(Array.from(C), [19, 22, 43, 50]);
    addon.sgemm(false, false, 2, 2, 0, 1, A, 0, 1, B, 0, 2, 0, C, 0, 2);
    assert.deepEqual(Array.from(C), [0, 0, 0, 0]);
  });

  it("does nothing for empty products (M, N or batch = 0)", () => {
    const C = new Float32Array([1, 2]);
    addon.sgemm(
      false,
      false,
      0,
      2,
      3,
      1,
      new Float32Array(0),
      0,
      3,
      new Float32Array(6),
      0,
      2,
      0,
      C,
      0,
      2,
    );
    addon.sgemm(
      false,
      false,
      1,
      2,
      3,
      1,
      new Float32Array(3),
      0,
      3,
      new Float32Array(6),
      0,
      2,
      0,
      C,
      0,
      2,
      0,
    );
    assert.deepEqual(Array.from(C), [1, 2]);
  });

  it("lets MOELAB_GEMM_KERNEL force a kernel at load time", () => {
    const choices: string[] = ["scalar"];
    if (addon.buildInfo.avx2 && addon.buildInfo.fma) choices.push("avx2");
    for (const k of choices) {
      const r = spawnSync(
        process.execPath,
        ["-e", `process.stdout.write(require(${JSON.stringify(ADDON_PATH)}).sgemmInfo().kernel)`],
        { env: { ...process.env, MOELAB_GEMM_KERNEL: k }, encoding: "utf8" },
      );
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, k);
    }
  });

  it("runs in worker threads concurrently with the main thread", async () => {
    const source = `
      const { parentPort, workerData } = require("node:worker_threads");
      const m = require(workerData.addon);
      const M = 120, N = 90, K = 200;
      const A = new Float32Array(M * K).map((_, i) => ((i * 7919 + workerData.seed) % 101) / 101 - 0.5);
      const B = new Float32Array(K * N).map((_, i) => ((i * 104729 + workerData.seed) % 97) / 97 - 0.5);
      const C = new Float32Array(M * N);
      let worst = 0;
      for (let rep = 0; rep < 20; rep++) {
        m.sgemm(false, true, M, N, K, 1, A, 0, K, new Float32Array(B.buffer.slice(0)), 0, K, 0, C, 0, N);
        let num = 0, den = 0;
        for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
          let s = 0;
          for (let p = 0; p < K; p++) s += A[i * K + p] * B[j * K + p];
          num += (C[i * N + j] - s) ** 2; den += s * s;
        }
        worst = Math.max(worst, Math.sqrt(num / den));
      }
      parentPort.postMessage(worst);
    `;
    const run = (seed: number) =>
      new Promise<number>((resolve, reject) => {
        const w = new Worker(source, { eval: true, workerData: { addon: ADDON_PATH, seed } });
        w.once("message", resolve);
        w.once("error", reject);
      });
    const workers = [run(1), run(2)];
    for (let t = 0; t < 5; t++)
      check({ ...base, m: 150, n: 160, k: 170, alpha: 1, beta: 0 }, 500 + t);
    for (const err of await Promise.all(workers)) assert.ok(err <= 1e-5, `worker error ${err}`);
  });

  describe("bad arguments", () => {
    const A = new Float32Array(6); // 2x3
    const B = new Float32Array(12); // 3x4
    const C = new Float32Array(8); // 2x4
    type Args = Parameters<Sgemm>;
    const good = (): Args => [false, false, 2, 4, 3, 1, A, 0, 3, B, 0, 4, 0, C, 0, 4];
    const cases: [string, (a: Args) => unknown[], typeof TypeError | typeof RangeError, RegExp][] =
      [
        ["too few arguments", (a) => a.slice(0, 15), TypeError, /at least 16 arguments/],
        [
          "transA not a boolean",
          (a) => (((a[0] as unknown) = 1), a),
          TypeError,
          /transA must be a boolean/,
        ],
        [
          "transB not a boolean",
          (a) => (((a[1] as unknown) = "no"), a),
          TypeError,
          /transB must be a boolean/,
        ],
        ["M negative", (a) => ((a[2] = -1), a), RangeError, /M must be a non-negative integer/],
        ["N fractional", (a) => ((a[3] = 1.5), a), RangeError, /N must be a non-negative integer/],
        ["K a string", (a) => (((a[4] as unknown) = "3"), a), TypeError, /K must be a number/],
        ["K NaN", (a) => ((a[4] = NaN), a), RangeError, /K must be a non-negative integer/],
        [
          "alpha missing",
          (a) => (((a[5] as unknown) = undefined), a),
          TypeError,
          /alpha must be a number/,
        ],
        [
          "A a Float64Array",
          (a) => (((a[6] as unknown) = new Float64Array(6)), a),
          TypeError,
          /A must be a Float32Array/,
        ],
        [
          "B a plain array",
          (a) => (((a[9] as unknown) = [1, 2, 3]), a),
          TypeError,
          /B must be a Float32Array/,
        ],
        [
          "C missing",
          (a) => (((a[13] as unknown) = null), a),
          TypeError,
          /C must be a Float32Array/,
        ],
        [
          "aOffset negative",
          (a) => ((a[7] = -2), a),
          RangeError,
          /aOffset must be a non-negative integer/,
        ],
        ["lda too small", (a) => ((a[8] = 2), a), RangeError, /lda \(2\) must be >= 3/],
        [
          "ldb too small for transB",
          (a) => ((a[1] = true), (a[11] = 2), a),
          RangeError,
          /ldb \(2\) must be >= 3/,
        ],
        ["ldc too small", (a) => ((a[15] = 3), a), RangeError, /ldc \(3\) must be >= 4/],
        [
          "A too short",
          (a) => ((a[6] = new Float32Array(5)), a),
          RangeError,
          /A is too short: needs 6 elements/,
        ],
        ["aOffset past the end", (a) => ((a[7] = 1), a), RangeError, /A is too short/],
        [
          "B too short with transB",
          (a) => ((a[1] = true), (a[11] = 3), (a[9] = new Float32Array(11)), a),
          RangeError,
          /B is too short/,
        ],
        ["cOffset past the end", (a) => ((a[14] = 1), a), RangeError, /C is too short/],
        ["lda larger than A holds", (a) => ((a[8] = 4), a), RangeError, /A is too short/],
        [
          "batch fractional",
          (a) => [...a, 1.5],
          RangeError,
          /batch must be a non-negative integer/,
        ],
        ["batch larger than A holds", (a) => [...a, 2, 6, 0, 8], RangeError, /A is too short/],
        [
          "strideC making batches overlap",
          (a) => [...a, 2, 0, 0, 4],
          RangeError,
          /strideC \(4\) must be >= 8/,
        ],
        [
          "strideA negative",
          (a) => [...a, 1, -1],
          RangeError,
          /strideA must be a non-negative integer/,
        ],
        [
          "C overlapping A",
          (a) => {
            const shared = new Float32Array(20);
            (a[6] as unknown) = shared.subarray(0, 6);
            (a[13] as unknown) = shared.subarray(4, 12);
            return a;
          },
          RangeError,
          /C overlaps A/,
        ],
      ];
    for (const [name, mutate, type, message] of cases) {
      it(`rejects ${name}`, () => {
        C.fill(7);
        const args = mutate(good());
        assert.throws(
          () => (addon.sgemm as (...x: unknown[]) => void)(...args),
          (e: unknown) => {
            assert.ok(e instanceof type, `${name}: expected ${type.name}, got ${String(e)}`);
            assert.match((e as Error).message, message);
            assert.match((e as Error).message, /^sgemm/);
            return true;
          },
        );
        assert.ok(
          C.every((v) => v === 7),
          "C was written despite the error",
        );
      });
    }

    it("accepts the unmodified arguments (the cases above differ from it in one thing)", () => {
      A.set([1, 2, 3, 4, 5, 6]);
      B.set([1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1]); // [I | 1]: C = [A | row sums]
      try {
        C.fill(7);
        addon.sgemm(...good());
        assert.deepEqual(Array.from(C), [1, 2, 3, 6, 4, 5, 6, 15]);
        C.fill(7);
        (addon.sgemm as (...x: unknown[]) => void)(...good(), 1, 0, 0, 0);
        assert.deepEqual(Array.from(C), [1, 2, 3, 6, 4, 5, 6, 15]);
      } finally {
        A.fill(0);
        B.fill(0);
      }
    });

    it("rejects an unknown kernel name and keeps the current kernel", () => {
      const before = addon.sgemmInfo().kernel;
      assert.throws(() => addon.sgemmSetKernel("avx9000"), TypeError);
      assert.equal(addon.sgemmInfo().kernel, before);
    });
  });
});
