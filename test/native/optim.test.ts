/**
 * The native optimizer kernels (native/src/ops_optim.cc): the AVX-512 and scalar AdamW paths give
 * the same bits, results do not depend on the thread count, bfloat16 moments round to nearest
 * even, the sum of squares is exact where it can be, and every bad argument is a JS error (a
 * random barrage of them in a child process never takes the process down).
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { f32ToBf16 } from "../../lib/tensor/dtype.js";
import type { NativeOps } from "../../lib/tensor/native.js";
import { NO_AVX512, skipBecause } from "../helpers/env.js";

const ADDON_PATH = path.resolve(__dirname, "../../../build/Release/moelab_native.node");

type Addon = Required<Pick<NativeOps, "adamwStep" | "adamwSetKernel" | "sumSquares">> & {
  getNumThreads(): number;
  setNumThreads(n: number): void;
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const addon = require(ADDON_PATH) as Addon;

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2147483648 - 1;
  };
}

function filled(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => scale * r());
}

function bits(a: Float32Array | Uint16Array): Uint32Array | Uint16Array {
  return a instanceof Float32Array ? new Uint32Array(a.buffer, a.byteOffset, a.length) : a;
}

function sameBits(a: Float32Array | Uint16Array, b: Float32Array | Uint16Array, what: string) {
  const x = bits(a);
  const y = bits(b);
  assert.equal(x.length, y.length);
  for (let i = 0; i < x.length; i++)
    if (x[i] !== y[i]) assert.fail(`${what}: element ${i}: ${a[i]} vs ${b[i]}`);
}

/** Three AdamW steps over fresh copies of the same data; returns [p, m, v]. */
function run(n: number, bf16: boolean, seed: number): (Float32Array | Uint16Array)[] {
  const p = filled(n, seed);
  const g = filled(n, seed + 1, 3);
  const m = bf16 ? new Uint16Array(n) : new Float32Array(n);
  const v = bf16 ? new Uint16Array(n) : new Float32Array(n);
  for (let step = 1; step <= 3; step++)
    addon.adamwStep(p, g, m, v, n, step, 1e-2, 0.9, 0.95, 1e-8, 0.1, 0.8);
  return [p, m, v];
}

describe("native: adamwStep and sumSquares", () => {
  const threads = addon.getNumThreads();
  afterEach(() => {
    addon.adamwSetKernel("auto");
    addon.setNumThreads(threads);
  });

  it("AVX-512 and scalar paths give the same bits (float32 and bfloat16 moments, every tail)", function () {
    if (!addon.adamwSetKernel("avx512")) skipBecause(this, NO_AVX512);
    for (const n of [1, 15, 16, 17, 31, 33, 16384 + 5, 70_001])
      for (const bf16 of [false, true]) {
        addon.adamwSetKernel("avx512");
        const a = run(n, bf16, n);
        addon.adamwSetKernel("scalar");
        const b = run(n, bf16, n);
        a.forEach((x, i) => sameBits(x, b[i], `n ${n} bf16 ${bf16} array ${i}`));
        const g = filled(n, n + 3);
        addon.adamwSetKernel("avx512");
        const s1 = addon.sumSquares(g, n);
        addon.adamwSetKernel("scalar");
        assert.equal(addon.sumSquares(g, n), s1, `sumSquares n ${n}`);
      }
  });

  it("results do not depend on the thread count", () => {
    const n = 200_003;
    const g = filled(n, 9);
    const ref = run(n, true, 5);
    const refF = run(n, false, 5);
    addon.setNumThreads(1);
    const s1 = addon.sumSquares(g, n);
    for (const t of [1, 2, 3, 5]) {
      addon.setNumThreads(t);
      run(n, true, 5).forEach((x, i) => sameBits(x, ref[i], `${t} threads, bf16 array ${i}`));
      run(n, false, 5).forEach((x, i) => sameBits(x, refF[i], `${t} threads, f32 array ${i}`));
      assert.equal(addon.sumSquares(g, n), s1, `sumSquares with ${t} threads`);
    }
  });

  it("bfloat16 moments round to nearest even, as lib/tensor's f32ToBf16", () => {
    // beta1 = beta2 = 0 and gradScale 1 store m = g and v = g·g exactly as computed.
    const ties = [1 + 2 ** -8, 1 + 3 * 2 ** -8, -(1 + 2 ** -8), 2 ** -130, 3.4e38, 1e-45];
    const g = new Float32Array([...ties, ...filled(1000, 4, 100), NaN, Infinity, -Infinity]);
    const n = g.length;
    for (const k of ["avx512", "scalar"] as const) {
      if (!addon.adamwSetKernel(k)) continue;
      const m = new Uint16Array(n);
      const v = new Uint16Array(n);
      addon.adamwStep(new Float32Array(n), g, m, v, n, 1, 0, 0, 0, 1e-8, 0, 1);
      for (let i = 0; i < n; i++) {
        assert.equal(m[i], f32ToBf16(g[i]), `${k}: m of ${g[i]}`);
        assert.equal(v[i], f32ToBf16(Math.fround(g[i] * g[i])), `${k}: v of ${g[i]}`);
      }
      assert.equal(m[0], 0x3f80, "1 + 2^-8 ties to 1 (even)");
      assert.equal(m[1], 0x3f82, "1 + 3·2^-8 ties to 1 + 2^-6 (even)");
      assert.equal(m[n - 3] & 0x7fc0, 0x7fc0, "NaN stays a quiet NaN");
    }
  });

  it("sumSquares: exact on integers, close to a float64 sum otherwise, 0 for n = 0", () => {
    const x = Float32Array.from({ length: 100_000 }, (_, i) => (i % 7) - 3);
    let exact = 0;
    for (const v of x) exact += v * v;
    assert.equal(addon.sumSquares(x, x.length), exact);
    const y = filled(123_457, 8);
    let ref = 0;
    for (const v of y) ref += v * v;
    assert.ok(Math.abs(addon.sumSquares(y, y.length) - ref) <= 1e-12 * ref);
    assert.equal(addon.sumSquares(new Float32Array(0), 0), 0);
    assert.equal(
      addon.sumSquares(new Float32Array([2 ** 100]), 1),
      2 ** 200,
      "no float32 overflow",
    );
    assert.equal(addon.sumSquares(new Float32Array([5, 5]), 1), 25, "only the first n");
  });

  it("refuses every bad argument with an error naming it", () => {
    const n = 8;
    const f = (k = n): Float32Array => new Float32Array(k);
    const ok: unknown[] = [f(), f(), f(), f(), n, 1, 1e-3, 0.9, 0.95, 1e-8, 0.1, 1];
    const call = (i: number, x: unknown) => () => {
      const a = [...ok];
      a[i] = x;
      (addon.adamwStep as (...args: unknown[]) => void)(...a);
    };
    const bad: [() => void, RegExp][] = [
      [call(0, f(7)), /adamwStep: p has 7 elements, needs 8/],
      [call(1, f(3)), /g has 3 elements, needs 8/],
      [call(2, f(0)), /m has 0 elements, needs 8/],
      [call(3, f(7)), /v has 7 elements, needs 8/],
      [call(0, new Float64Array(n)), /p must be a Float32Array/],
      [call(1, [1, 2, 3, 4, 5, 6, 7, 8]), /g must be a Float32Array/],
      [call(2, new Int32Array(n)), /m must be a Float32Array \(float32 moments\) or a Uint16Array/],
      [call(3, new Uint16Array(n)), /v must be a Float32Array like m/],
      [call(2, new Uint16Array(n)), /v must be a Uint16Array like m/],
      [call(4, -1), /n must be a non-negative integer/],
      [call(4, 2.5), /n must be a non-negative integer/],
      [call(4, 1e300), /n must be a non-negative integer/],
      [call(4, "8"), /n must be a number/],
      [call(5, 0), /step must be an integer >= 1/],
      [call(5, 1.5), /step must be a non-negative integer/],
      [call(6, NaN), /lr must be a finite number >= 0, got nan/],
      [call(6, -1e-3), /lr must be a finite number >= 0, got -0.001/],
      [call(6, Infinity), /lr must be a finite number >= 0, got inf/],
      [call(7, 1), /beta1 must be in \[0, 1\), got 1/],
      [call(8, -0.5), /beta2 must be in \[0, 1\), got -0.5/],
      [call(9, 0), /eps must be a finite number > 0, got 0/],
      [call(9, -1), /eps must be a finite number > 0, got -1/],
      [call(10, -0.1), /weightDecay must be a finite number >= 0/],
      [call(11, NaN), /gradScale must be a finite number >= 0, got nan/],
      [call(11, undefined), /gradScale must be a number/],
      [() => (addon.adamwStep as (...a: unknown[]) => void)(f(), f()), /expected 12 arguments/],
      [() => addon.sumSquares(f(), 9), /sumSquares: x has 8 elements, needs 9/],
      [() => addon.sumSquares(new Uint16Array(4) as never, 4), /x must be a Float32Array/],
      [() => addon.sumSquares(f(), -1), /n must be a non-negative integer/],
      [() => addon.adamwSetKernel("avx2" as never), /name must be "auto", "avx512" or "scalar"/],
    ];
    for (const [fn, re] of bad) assert.throws(fn, re);
    // A refused call changes nothing.
    const p = f().fill(1);
    assert.throws(() => addon.adamwStep(p, f(), f(), f(), n, 1, NaN, 0.9, 0.95, 1e-8, 0, 1));
    assert.deepEqual([...p], new Array(n).fill(1));
  });

  it("survives a barrage of random arguments (in a child process)", () => {
    const script = `
      const a = require(${JSON.stringify(ADDON_PATH)});
      let x = 12345;
      const r = () => ((x = (x * 1103515245 + 12345) >>> 0) / 4294967296);
      const pick = (xs) => xs[Math.floor(r() * xs.length)];
      const sizes = [0, 1, 7, 16, 17, 100];
      const arr = () => pick([
        () => new Float32Array(pick(sizes)), () => new Uint16Array(pick(sizes)),
        () => new Float64Array(pick(sizes)), () => new Int32Array(pick(sizes)),
        () => new Float32Array(new ArrayBuffer(64), 4, 3), () => [1, 2], () => null, () => undefined,
        () => ({ length: 1e9 }), () => "x"])();
      const num = () => pick([0, 1, -1, 7, 16, 17, 100, 1e9, 2 ** 53, -(2 ** 31), 0.5, NaN, Infinity, -0, 1e-8, 0.9, "3", null]);
      let threw = 0, ran = 0;
      const f32 = () => new Float32Array(pick(sizes));
      for (let i = 0; i < 20000; i++) {
        let args;
        if (r() < 0.5) {
          // Right types and valid hyper-parameters, sizes at random: only the lengths can be wrong.
          const m = r() < 0.5 ? f32() : new Uint16Array(pick(sizes));
          const v = m instanceof Uint16Array ? new Uint16Array(pick(sizes)) : f32();
          args = [f32(), f32(), m, v, pick(sizes), 1 + Math.floor(r() * 1e6), 1e-3, r(), r(), 1e-8, r(), r() * 4];
        } else {
          args = [arr(), arr(), arr(), arr()];
          for (let k = 0; k < 8; k++) args.push(num());
        }
        if (r() < 0.1) args.length = Math.floor(r() * 12);
        try { a.adamwStep(...args); ran++; } catch (e) { if (!(e instanceof TypeError)) throw e; threw++; }
        try { a.sumSquares(arr(), num()); } catch (e) { if (!(e instanceof TypeError)) throw e; }
      }
      console.log(JSON.stringify({ threw, ran }));`;
    const res = spawnSync(process.execPath, ["-e", script], { encoding: "utf8" });
    assert.equal(res.status, 0, `the process died: ${res.signal ?? ""} ${res.stderr}`);
    const { threw, ran } = JSON.parse(res.stdout) as { threw: number; ran: number };
    assert.ok(threw > 10000 && ran > 0, `threw ${threw}, ran ${ran}`);
  });
});
