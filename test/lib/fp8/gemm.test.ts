import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fp8 from "../../../lib/fp8/index.js";
import { fp8Native } from "../../../lib/fp8/native.js";
import { randn, relErr } from "./helpers.js";
import { NO_ADDON, nativeOrSkip, skipBecause } from "../../helpers/env.js";

const HAS_NATIVE = fp8.nativeAvailable();
// Without the addon the native-backend tests are one counted skip, not silently absent.
const BACKENDS = (["ts", "native"] as const).filter(
  (b) => b === "ts" || nativeOrSkip(HAS_NATIVE, "fp8 gemm: the backend tests"),
);

/** FP64 C = A · Bᵀ of the dequantized operands. */
function gemm64(a: fp8.Fp8Matrix, b: fp8.Fp8Matrix): Float64Array {
  const da = a.dequantize();
  const db = b.dequantize();
  const k = a.cols;
  const out = new Float64Array(a.rows * b.rows);
  for (let i = 0; i < a.rows; i++)
    for (let j = 0; j < b.rows; j++) {
      let s = 0;
      for (let kk = 0; kk < k; kk++) s += da[i * k + kk] * db[j * k + kk];
      out[i * b.rows + j] = s;
    }
  return out;
}

type Quant = (x: Float32Array, r: number, c: number, o?: fp8.QuantizeOptions) => fp8.Fp8Matrix;
const CASES: {
  name: string;
  m: number;
  n: number;
  k: number;
  qa: Quant;
  qb: Quant;
  fb?: fp8.Fp8Format;
}[] = [
  {
    name: "Fprop: 1x128 tiles x 128x128 blocks",
    m: 37,
    n: 45,
    k: 300,
    qa: fp8.quantizeTiles,
    qb: fp8.quantizeBlocks,
  },
  {
    name: "aligned 1x128 x 128x128",
    m: 56,
    n: 64,
    k: 256,
    qa: fp8.quantizeTiles,
    qb: fp8.quantizeBlocks,
  },
  {
    name: "Wgrad-like: 1x128 tiles x 1x128 tiles",
    m: 20,
    n: 70,
    k: 200,
    qa: fp8.quantizeTiles,
    qb: fp8.quantizeTiles,
  },
  {
    name: "per-tensor x per-tensor",
    m: 17,
    n: 33,
    k: 130,
    qa: fp8.quantizeTensor,
    qb: fp8.quantizeTensor,
  },
  {
    name: "blocks x tiles, e4m3 x e5m2",
    m: 140,
    n: 40,
    k: 129,
    qa: fp8.quantizeBlocks,
    qb: fp8.quantizeTiles,
    fb: "e5m2",
  },
  { name: "K < 128", m: 9, n: 31, k: 5, qa: fp8.quantizeTiles, qb: fp8.quantizeBlocks },
];

describe("fp8 gemm: block-scaled semantics", () => {
  for (const backend of BACKENDS) {
    for (const c of CASES) {
      it(`${backend}: ${c.name} [${c.m}x${c.k}]·[${c.n}x${c.k}]ᵀ equals FP64 of the dequantized inputs (1e-5)`, () => {
        const a = c.qa(randn(c.m * c.k, c.m + c.k), c.m, c.k);
        const b = c.qb(randn(c.n * c.k, c.n + 3 * c.k, 0.02), c.n, c.k, { format: c.fb ?? "e4m3" });
        const got = fp8.gemm(a, b, { backend });
        assert.equal(got.length, c.m * c.n);
        const e = relErr(got, gemm64(a, b));
        assert.ok(e <= 1e-5, `relative error ${e}`);
      });
    }

    it(`${backend}: the Wgrad operand quantized in 128x1 tiles works after transpose()`, () => {
      const m = 150;
      const k = 40;
      const n = 24;
      // dW = dYᵀ · X: both operands are quantized along the token dimension (128x1 tiles)
      const dy = fp8.quantizeTilesT(randn(m * n, 1), m, n);
      const x = fp8.quantizeTilesT(randn(m * k, 2), m, k);
      assert.throws(
        () => fp8.gemm(dy, dy, { backend }),
        /operand a has 128x1 tiles, so its scale changes inside a 128-wide K-block/,
      );
      const got = fp8.gemm(dy.transpose(), x.transpose(), { backend });
      assert.ok(relErr(got, gemm64(dy.transpose(), x.transpose())) <= 1e-5);
    });

    it(`${backend}: NaN inputs propagate to their row and column only`, () => {
      const x = randn(4 * 128, 3);
      x[1 * 128 + 7] = NaN;
      const a = fp8.quantizeTiles(x, 4, 128);
      const b = fp8.quantizeBlocks(randn(3 * 128, 4), 3, 128);
      const c = fp8.gemm(a, b, { backend });
      for (let i = 0; i < 4; i++)
        for (let j = 0; j < 3; j++) assert.equal(Number.isNaN(c[i * 3 + j]), i === 1);
    });

    it(`${backend}: empty shapes give empty or zero results`, () => {
      const e = (r: number, c: number) => fp8.quantizeTiles(new Float32Array(r * c), r, c);
      assert.equal(fp8.gemm(e(0, 128), e(5, 128), { backend }).length, 0);
      assert.deepEqual([...fp8.gemm(e(2, 0), e(3, 0), { backend })], [0, 0, 0, 0, 0, 0]);
    });
  }

  if (nativeOrSkip(HAS_NATIVE, "fp8 gemm: native entry point")) {
    it("native and TypeScript agree closely (in-block sums are bit-identical)", () => {
      for (const c of CASES) {
        const a = c.qa(randn(c.m * c.k, 5), c.m, c.k);
        const b = c.qb(randn(c.n * c.k, 6), c.n, c.k, { format: c.fb ?? "e4m3" });
        for (const accumBits of [23, 12]) {
          const t = fp8.gemm(a, b, { backend: "ts", accumBits });
          const nat = fp8.gemm(a, b, { backend: "native", accumBits });
          assert.ok(relErr(nat, t) <= 2e-7, `${c.name} accumBits ${accumBits}: ${relErr(nat, t)}`);
        }
      }
    });

    it("native entry point rejects mismatched operands with named errors", () => {
      const nat = fp8Native()!;
      const codes = new Uint8Array(4 * 128);
      const sc = new Float32Array(4).fill(1);
      const call = (over: Partial<Record<string, unknown>>) => () =>
        (nat.fp8Gemm as (...args: unknown[]) => Float32Array)(
          over.ac ?? codes,
          over.as ?? sc,
          1,
          over.atc ?? 128,
          0,
          codes,
          sc,
          1,
          128,
          over.bf ?? 0,
          4,
          4,
          over.k ?? 128,
          over.bits ?? 23,
          32,
          false,
        );
      assert.throws(call({ k: 64 }), /aCodes has 512 elements, expected 4 x 64 = 256$/);
      assert.throws(
        call({ k: 2 ** 62 }),
        /k must be an integer in \[0, inf\], got 4611686018427387904/,
      );
      assert.throws(
        call({ k: 2 ** 52 }),
        /aCodes has 512 elements, expected 4 x 4503599627370496 \(more than 2\^53\)$/,
      );
      assert.throws(call({ as: new Float32Array(3) }), /aScales has 3 elements/);
      assert.throws(call({ atc: 1, as: new Float32Array(512) }), /a tiles are 1 wide along K/);
      assert.throws(call({ bf: 3 }), /bFormat must be an integer in \[0, 1\]/);
      assert.throws(call({ bits: 24 }), /accumBits/);
      assert.throws(call({ ac: new Float32Array(512) }), /aCodes must be a Uint8Array/);
    });
  }
});

describe("fp8 gemm: limited accumulation precision (accumBits)", () => {
  const m = 16;
  const n = 16;
  const k = 4096;
  // all-positive operands make partial sums large, where a short accumulator loses most
  const pos = (len: number, seed: number) => randn(len, seed).map((v) => Math.abs(v) + 0.1);
  const a = fp8.quantizeTiles(pos(m * k, 1), m, k);
  const b = fp8.quantizeBlocks(pos(n * k, 2), n, k);
  const ref = gemm64(a, b);

  for (const backend of BACKENDS) {
    it(`${backend}: fewer accumulator bits, larger error; truncation only lowers positive sums`, () => {
      const full = fp8.gemm(a, b, { backend });
      const errs = [8, 11, 14, 17, 23].map((bits) =>
        relErr(fp8.gemm(a, b, { backend, accumBits: bits }), ref),
      );
      for (let i = 0; i + 1 < errs.length; i++)
        assert.ok(errs[i] > errs[i + 1], `errors ${errs.join(", ")}`);
      assert.ok(errs[4] <= 1e-5);
      // about 2^-14 relative at 14 bits with promotion every 128 elements
      assert.ok(errs[2] > 1e-5 && errs[2] < 2 ** -10, `14-bit error ${errs[2]}`);
      const t14 = fp8.gemm(a, b, { backend, accumBits: 14 });
      for (let i = 0; i < full.length; i++) assert.ok(t14[i] <= full[i], `element ${i}`);
      // rounding to nearest is unbiased, so it loses less than truncation
      const n14 = relErr(fp8.gemm(a, b, { backend, accumBits: 14, accumRounding: "nearest" }), ref);
      assert.ok(n14 < errs[2], `nearest ${n14} vs truncate ${errs[2]}`);
    });
  }

  it("rounds mantissas as documented", () => {
    assert.equal(fp8.roundMantissa(1 + 2 ** -10 + 2 ** -12, 10), 1 + 2 ** -10);
    assert.equal(fp8.roundMantissa(-(1 + 2 ** -10 + 2 ** -11), 10, true), -(1 + 2 ** -9));
    assert.equal(fp8.roundMantissa(1 + 2 ** -11, 10, true), 1); // tie to even
    assert.equal(fp8.roundMantissa(Infinity, 5), Infinity);
  });

  it("rejects bad options and operands", () => {
    const x = fp8.quantizeTiles(new Float32Array(2 * 128).fill(1), 2, 128);
    const y = fp8.quantizeTiles(new Float32Array(2 * 64).fill(1), 2, 64);
    assert.throws(
      () => fp8.gemm(x, y),
      /inner dimensions differ: a is \[2, 128\] and b is \[2, 64\]/,
    );
    assert.throws(() => fp8.gemm(x, x, { accumBits: 0 }), /accumBits must be an integer in 1..23/);
    assert.throws(() => fp8.gemm(x, x, { accumBits: 13.5 }), /accumBits/);
    assert.throws(() => fp8.gemm(x, x, { accumChunk: 0 }), /accumChunk/);
    assert.throws(() => fp8.gemm(x, x, { accumRounding: "up" as "nearest" }), /accumRounding/);
    assert.throws(
      () => fp8.gemm(new Float32Array(4) as unknown as fp8.Fp8Matrix, x),
      /a must be an Fp8Matrix, got Float32Array/,
    );
  });
});

describe("fp8 gemm: reused buffers and the portable native kernels", () => {
  for (const backend of BACKENDS) {
    it(`${backend}: writes into opts.out and quantizes into opts.into`, () => {
      const x = randn(20 * 256, 1);
      const w = randn(40 * 256, 2);
      const a = fp8.quantizeTiles(x, 20, 256, { backend });
      const b = fp8.quantizeBlocks(w, 40, 256, { backend });
      const out = new Float32Array(20 * 40).fill(NaN);
      assert.equal(fp8.gemm(a, b, { out, backend }), out);
      assert.deepEqual(out, fp8.gemm(a, b, { backend }));
      const again = fp8.quantizeTiles(randn(20 * 256, 3), 20, 256, { into: a, backend });
      assert.equal(again, a);
      assert.deepEqual(a.codes, fp8.quantizeTiles(randn(20 * 256, 3), 20, 256, { backend }).codes);
      assert.throws(
        () => fp8.gemm(a, b, { out: new Float32Array(3), backend }),
        /out has 3 elements, expected 20x40/,
      );
      assert.throws(
        () => fp8.quantizeTiles(x, 20, 256, { into: b, backend }),
        /into is Fp8Matrix e4m3 \[40, 256\]/,
      );
    });
  }

  it("the portable (non-AVX-512) native kernels give the same results", function () {
    if (!HAS_NATIVE) skipBecause(this, NO_ADDON);
    const script = `
      const fp8 = require(${JSON.stringify(require.resolve("../../../lib/fp8/index.js"))});
      const { randn, relErr } = require(${JSON.stringify(require.resolve("./helpers.js"))});
      const x = randn(37 * 300, 1); const w = randn(45 * 300, 2, 0.1);
      for (let i = 0; i < 5; i++) x[i * 7] = [NaN, Infinity, -Infinity, 1e-30, 0][i];
      const r = {};
      for (const backend of ["ts", "native"]) {
        const a = fp8.quantizeTiles(x, 37, 300, { backend }); const b = fp8.quantizeBlocks(w, 45, 300, { backend });
        r[backend] = { codes: Array.from(a.codes).concat(Array.from(b.codes)), scales: Array.from(a.scales) };
        a.codes[0] = 0; a.codes[7] = 0; a.codes[14] = 0;
        r[backend].c = fp8.gemm(a, b, { backend }); r[backend].c12 = fp8.gemm(a, b, { backend, accumBits: 12 });
      }
      console.log(JSON.stringify({
        codes: JSON.stringify(r.ts.codes) === JSON.stringify(r.native.codes),
        scales: JSON.stringify(r.ts.scales) === JSON.stringify(r.native.scales),
        c: relErr(r.native.c, r.ts.c), c12: relErr(r.native.c12, r.ts.c12),
      }));`;
    const res = spawnSync(process.execPath, ["-e", script], {
      env: { ...process.env, MOELAB_FP8_KERNEL: "generic" },
      encoding: "utf8",
    });
    assert.equal(res.status, 0, res.stderr);
    const got = JSON.parse(res.stdout.trim()) as {
      codes: boolean;
      scales: boolean;
      c: number;
      c12: number;
    };
    assert.ok(got.codes && got.scales, res.stdout);
    assert.ok(got.c <= 2e-7 && got.c12 <= 2e-7, res.stdout);
  });
});
