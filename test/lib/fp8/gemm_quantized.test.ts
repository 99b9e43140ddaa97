import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fp8 from "../../../lib/fp8/index.js";
import { gemmQuantized } from "../../../lib/fp8/gemm.js";
import { loadAddon } from "../../../lib/tensor/addon.js";
import { randn, relErr, rng } from "./helpers.js";
import { NO_ADDON, NO_AVX512, nativeOrSkip, skipBecause } from "../../helpers/env.js";

const HAS_NATIVE = fp8.nativeAvailable();
// Without the addon the native-backend tests are one counted skip, not silently absent.
const BACKENDS = (["ts", "native"] as const).filter(
  (b) => b === "ts" || nativeOrSkip(HAS_NATIVE, "fp8 gemmQuantized: the backend tests"),
);

const sameBits = (p: ArrayBufferView, q: ArrayBufferView): boolean =>
  Buffer.compare(
    Buffer.from(p.buffer, p.byteOffset, p.byteLength),
    Buffer.from(q.buffer, q.byteOffset, q.byteLength),
  ) === 0;

/**
 * Activations that reach every branch of the encoder: exact ties between neighbouring FP8
 * values (and one float32 ulp either side), subnormal results, zeros of both signs, a tile
 * amax at the format's max (scale 1), and NaN/±Inf.
 */
function hardActivations(m: number, k: number, format: fp8.Fp8Format, seed: number): Float32Array {
  const r = rng(seed);
  const all = fp8.decode(
    Uint8Array.from({ length: 256 }, (_, i) => i),
    format,
  );
  const grid = [...all].filter(Number.isFinite).sort((a, b) => a - b);
  const max = grid[grid.length - 1];
  const ties: number[] = [];
  for (let i = 0; i + 1 < grid.length; i++) {
    const mid = (grid[i] + grid[i + 1]) / 2;
    ties.push(mid, Math.fround(mid * (1 + 2 ** -23)), Math.fround(mid * (1 - 2 ** -23)));
  }
  const x = new Float32Array(m * k);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < k; j++) {
      const u = r();
      let v: number;
      if (j % 128 === 0) v = (i % 2 ? max : max * r()) * (r() < 0.5 ? -1 : 1);
      else if (u < 0.4) v = ties[Math.floor(r() * ties.length)];
      else if (u < 0.6) v = (r() - 0.5) * 10 ** (-12 * r());
      else if (u < 0.65) v = r() < 0.5 ? 0 : -0;
      else v = (r() - 0.5) * max;
      x[i * k + j] = Math.max(-max, Math.min(max, v));
    }
  }
  return x;
}

describe("fp8 gemmQuantized: quantize while packing", () => {
  const SHAPES: [number, number, number][] = [
    [37, 45, 300], // no dimension aligned to the 14x32 micro-tile or to 128
    [56, 64, 256], // aligned
    [1, 1, 1],
    [15, 33, 129],
    [9, 31, 5], // K < 16: a masked tail only
    [100, 600, 260], // several tasks and more than one 512-column pass
  ];
  for (const backend of BACKENDS) {
    it(`${backend}: equals quantizeTiles + gemm bit for bit (codes, scales and C)`, () => {
      let seed = 1;
      for (const [m, n, k] of SHAPES) {
        const b = fp8.quantizeBlocks(randn(n * k, seed++, 0.1), n, k, { backend });
        for (const format of ["e4m3", "e5m2"] as const) {
          for (const pow2Scale of [false, true]) {
            const x = hardActivations(m, k, format, seed++);
            const q = { format, pow2Scale, backend };
            const a = fp8.quantizeTiles(x, m, k, q);
            for (const accumBits of [23, 12]) {
              const want = fp8.gemm(a, b, { backend, accumBits });
              const got = gemmQuantized(x, m, b, { ...q, accumBits });
              const what = `[${m}x${k}]·[${n}x${k}]ᵀ ${format} pow2 ${pow2Scale} bits ${accumBits}`;
              assert.ok(sameBits(got.a.codes, a.codes), `codes differ: ${what}`);
              assert.ok(sameBits(got.a.scales, a.scales), `scales differ: ${what}`);
              assert.ok(sameBits(got.c, want), `C differs: ${what}`);
            }
          }
        }
      }
    });

    it(`${backend}: NaN/Inf inputs and all-zero tiles behave as in quantizeTiles`, () => {
      const m = 20;
      const n = 40;
      const k = 300;
      const x = randn(m * k, 7);
      x.fill(0, 3 * k, 4 * k); // a whole zero row: every tile takes the amax floor
      x[5] = NaN;
      x[k + 140] = Infinity;
      x[2 * k + 299] = -Infinity;
      const b = fp8.quantizeBlocks(randn(n * k, 8), n, k);
      const a = fp8.quantizeTiles(x, m, k, { backend });
      const got = gemmQuantized(x, m, b, { backend });
      assert.ok(sameBits(got.a.codes, a.codes) && sameBits(got.a.scales, a.scales));
      assert.ok(sameBits(got.c, fp8.gemm(a, b, { backend })));
      assert.ok(Number.isNaN(got.c[0]) && Number.isNaN(got.c[n + 3]), "NaN/Inf rows give NaN");
      assert.ok(Number.isFinite(got.c[4 * n]), "other rows stay finite");
      assert.ok(Math.abs(got.a.scales[3 * 3] - 1e-4 / 448) < 1e-12, "zero tile: floor scale");
      assert.throws(
        () => gemmQuantized(x, m, b, { backend, nonFinite: "throw" }),
        /3 NaN\/Inf value\(s\)/,
      );
    });

    it(`${backend}: reuses out and into, and rejects bad arguments by name`, () => {
      const m = 30;
      const n = 20;
      const k = 200;
      const x = randn(m * k, 9);
      const b = fp8.quantizeBlocks(randn(n * k, 10), n, k);
      const into = fp8.quantizeTiles(new Float32Array(m * k), m, k);
      const out = new Float32Array(m * n);
      const r = gemmQuantized(x, m, b, { backend, into, out });
      assert.equal(r.a, into);
      assert.equal(r.c, out);
      assert.ok(sameBits(into.codes, fp8.quantizeTiles(x, m, k).codes));
      const e5 = fp8.quantizeTiles(new Float32Array(m * k), m, k, { format: "e5m2" });
      assert.throws(() => gemmQuantized(x, m, b, { backend, into: e5 }), /into is/);
      assert.throws(() => gemmQuantized(x, m + 1, b, { backend }), /x has 6000 elements/);
      assert.throws(
        () => gemmQuantized([1, 2] as unknown as Float32Array, 1, b, { backend }),
        /x must be a Float32Array/,
      );
      assert.throws(
        () => gemmQuantized(x, m, x as unknown as fp8.Fp8Matrix, { backend }),
        /b must be an Fp8Matrix/,
      );
      assert.throws(() => gemmQuantized(x, m, b, { backend, amaxFloor: 0 }), /amaxFloor/);
      assert.throws(() => gemmQuantized(x, m, b, { backend, accumBits: 30 }), /accumBits/);
      assert.throws(
        () => gemmQuantized(x, m, b, { backend, out: new Float32Array(3) }),
        /out has 3 elements/,
      );
    });

    it(`${backend}: matches an FP64 GEMM of the dequantized inputs (1e-5)`, () => {
      const m = 45;
      const n = 70;
      const k = 390;
      const x = randn(m * k, 11);
      const b = fp8.quantizeBlocks(randn(n * k, 12, 0.05), n, k);
      const { c, a } = gemmQuantized(x, m, b, { backend });
      const da = a.dequantize();
      const db = b.dequantize();
      const ref = new Float64Array(m * n);
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let kk = 0; kk < k; kk++) s += da[i * k + kk] * db[j * k + kk];
          ref[i * n + j] = s;
        }
      assert.ok(relErr(c, ref) <= 1e-5, `relErr ${relErr(c, ref)}`);
    });
  }

  it("native and TypeScript agree: codes bit for bit, C closely", function () {
    if (!HAS_NATIVE) skipBecause(this, NO_ADDON);
    const [m, n, k] = [37, 45, 300];
    const x = hardActivations(m, k, "e4m3", 21);
    const b = fp8.quantizeBlocks(randn(n * k, 22), n, k);
    const t = gemmQuantized(x, m, b, { backend: "ts" });
    const nat = gemmQuantized(x, m, b, { backend: "native" });
    assert.ok(sameBits(t.a.codes, nat.a.codes) && sameBits(t.a.scales, nat.a.scales));
    assert.ok(relErr(nat.c, t.c) <= 2e-7, `relErr ${relErr(nat.c, t.c)}`);
  });

  it("the portable (non-AVX-512) native path agrees with the AVX-512 one", function () {
    if (!HAS_NATIVE) skipBecause(this, NO_ADDON);
    // Without AVX-512 both runs take the portable path: the comparison would prove nothing.
    if (!(loadAddon()?.buildInfo as { avx512f?: boolean } | undefined)?.avx512f)
      skipBecause(this, NO_AVX512);
    const script = `
      const fp8 = require(${JSON.stringify(require.resolve("../../../lib/fp8/index.js"))});
      const { gemmQuantized } = require(${JSON.stringify(require.resolve("../../../lib/fp8/gemm.js"))});
      const { randn } = require(${JSON.stringify(require.resolve("./helpers.js"))});
      const x = randn(37 * 300, 31); x[4] = NaN; x[400] = 1e-30;
      const b = fp8.quantizeBlocks(randn(45 * 300, 32), 45, 300);
      const r = gemmQuantized(x, 37, b, { backend: "native", accumBits: 12 });
      const hex = (v) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex");
      console.log(JSON.stringify({ codes: hex(r.a.codes), scales: hex(r.a.scales), c: Array.from(r.c) }));`;
    const run = (env: NodeJS.ProcessEnv) => {
      const res = spawnSync(process.execPath, ["-e", script], { env, encoding: "utf8" });
      assert.equal(res.status, 0, res.stderr);
      return JSON.parse(res.stdout.trim()) as { codes: string; scales: string; c: number[] };
    };
    const fast = run({ ...process.env, MOELAB_FP8_KERNEL: "" });
    const generic = run({ ...process.env, MOELAB_FP8_KERNEL: "generic" });
    assert.equal(generic.codes, fast.codes);
    assert.equal(generic.scales, fast.scales);
    // the promotion step is an fma on AVX-512 and a multiply-add in portable C++: last-bit only
    // (JSON writes NaN as null: the NaN row must be the same, the rest close)
    const fin = (v: number[]) => v.filter((z) => z !== null);
    assert.deepEqual(
      generic.c.map((z) => z === null),
      fast.c.map((z) => z === null),
    );
    assert.ok(fast.c.includes(null as unknown as number), "row 0 holds NaN");
    assert.ok(relErr(fin(generic.c), fin(fast.c)) <= 2e-7);
  });
});
