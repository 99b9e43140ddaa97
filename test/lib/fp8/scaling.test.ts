import { strict as assert } from "node:assert";
import * as fp8 from "../../../lib/fp8/index.js";
import { fp8Native } from "../../../lib/fp8/native.js";
import { randn, rng } from "./helpers.js";
import { nativeOrSkip } from "../../helpers/env.js";

const HAS_NATIVE = fp8.nativeAvailable();
// Without the addon the native-backend tests are one counted skip, not silently absent.
const BACKENDS = (["ts", "native"] as const).filter(
  (b) => b === "ts" || nativeOrSkip(HAS_NATIVE, "fp8 scaling: the backend tests"),
);

/** Heavy-tailed test data: normal values with some per-row outliers. */
function data(rows: number, cols: number, seed: number): Float32Array {
  const x = randn(rows * cols, seed);
  const r = rng(seed + 1);
  for (let i = 0; i < x.length; i++) if (r() < 0.01) x[i] *= 50;
  return x;
}

const SHAPES: [number, number][] = [
  [1, 128],
  [3, 300],
  [130, 257],
  [256, 128],
  [5, 1],
];

describe("fp8 scaling: tile, block and tensor quantization", () => {
  for (const backend of BACKENDS) {
    for (const [rows, cols] of SHAPES) {
      for (const [name, fn, tile] of [
        ["1x128 tiles", fp8.quantizeTiles, (_r: number, _c: number) => [1, 128]],
        ["128x1 tiles", fp8.quantizeTilesT, () => [128, 1]],
        ["128x128 blocks", fp8.quantizeBlocks, () => [128, 128]],
        ["tensor", fp8.quantizeTensor, (r: number, c: number) => [r, c]],
      ] as const) {
        it(`${backend}: ${name} of [${rows}, ${cols}]: scales, codes and the round-trip bound`, () => {
          const x = data(rows, cols, rows * 1000 + cols);
          const q = fn(x, rows, cols, { backend });
          const [tr, tc] = tile(rows, cols);
          assert.deepEqual([...q.layout.tile], [tr, tc]);
          const sr = Math.ceil(rows / tr);
          const sc = Math.ceil(cols / tc);
          assert.equal(q.scales.length, sr * sc);
          // scale = max(amax, 1e-4) / 448 per tile, computed here from the definition
          const amax = new Float64Array(sr * sc);
          for (let i = 0; i < rows; i++)
            for (let j = 0; j < cols; j++) {
              const t = Math.floor(i / tr) * sc + Math.floor(j / tc);
              amax[t] = Math.max(amax[t], Math.abs(x[i * cols + j]));
            }
          for (let t = 0; t < amax.length; t++) {
            assert.equal(
              q.scales[t],
              Math.fround(Math.max(amax[t], Math.fround(1e-4)) / 448),
              `scale ${t}`,
            );
          }
          // codes are the saturating encode of x / s; round trip within half an e4m3 ulp of the tile amax
          const y = new Float32Array(rows * cols);
          for (let i = 0; i < rows; i++)
            for (let j = 0; j < cols; j++) y[i * cols + j] = x[i * cols + j] / q.scaleAt(i, j);
          assert.deepEqual(q.codes, fp8.encode(y, "e4m3"));
          const d = fp8.dequantize(q, { backend });
          for (let i = 0; i < rows; i++)
            for (let j = 0; j < cols; j++) {
              const o = i * cols + j;
              const t = Math.floor(i / tr) * sc + Math.floor(j / tc);
              const err = Math.abs(x[o] - d[o]);
              assert.ok(
                err <= 2 ** -4 * amax[t] * (1 + 1e-6),
                `tile bound at ${i},${j}: ${err} vs amax ${amax[t]}`,
              );
              // relative bound for values in the normal range, absolute below it
              const s = q.scaleAt(i, j);
              assert.ok(
                err <= 2 ** -4 * Math.abs(x[o]) + 2 ** -10 * s + 1e-6 * Math.abs(x[o]),
                `element bound at ${i},${j}`,
              );
            }
        });
      }
    }

    it(`${backend}: e5m2 tiles keep the round-trip within 2^-3 of the tile amax`, () => {
      const x = data(4, 300, 7);
      const q = fp8.quantizeTiles(x, 4, 300, { format: "e5m2", backend });
      assert.equal(q.format, "e5m2");
      const err = fp8.quantizationError(x, q);
      assert.ok(err.maxTileRel <= 2 ** -3 * (1 + 1e-6), `maxTileRel ${err.maxTileRel}`);
      assert.equal(
        q.scales[0],
        Math.fround(Math.fround(Math.max(...Array.from(x.subarray(0, 128), Math.abs))) / 57344),
      );
    });

    it(`${backend}: power-of-two (ue8m0) scales round up`, () => {
      const x = data(3, 300, 9);
      const q = fp8.quantizeTiles(x, 3, 300, { pow2Scale: true, backend });
      const plain = fp8.quantizeTiles(x, 3, 300, { backend });
      assert.equal(q.pow2Scale, true);
      for (let t = 0; t < q.scales.length; t++) {
        const s = q.scales[t];
        assert.equal(2 ** Math.round(Math.log2(s)), s, `scale ${s} is a power of two`);
        assert.ok(s >= plain.scales[t] && s < 2 * plain.scales[t]);
      }
      // with power-of-two scales x/s is exact, so every code is encode(x * 2^-k)
      const err = fp8.quantizationError(x, q);
      assert.ok(err.maxTileRel <= 2 ** -4);
      assert.equal(fp8.roundUpPow2(1), 1);
      assert.equal(fp8.roundUpPow2(1.0000001), 2);
      assert.equal(fp8.roundUpPow2(0.3), 0.5);
    });

    it(`${backend}: all-zero and tiny tiles use the 1e-4 amax floor`, () => {
      const x = new Float32Array(2 * 256);
      x[128] = -0;
      x[300] = 1e-6; // tile (1, 0): amax 1e-6 < floor
      x[400] = -2e-5;
      const q = fp8.quantizeTiles(x, 2, 256, { backend });
      const floorScale = Math.fround(Math.fround(1e-4) / 448);
      assert.deepEqual([...q.scales], [floorScale, floorScale, floorScale, floorScale]);
      const d = fp8.dequantize(q, { backend });
      assert.equal(d[0], 0);
      assert.ok(Object.is(d[128], -0));
      // 1e-6 / (1e-4/448) = 4.48 -> code 4.5? no: 4.48 rounds to 4.5 in e4m3 (ulp 0.5 in [4, 8))
      assert.equal(d[300], Math.fround(4.5 * floorScale));
      assert.ok(Math.abs(d[400] + 2e-5) <= 2 ** -4 * 2e-5);
      const custom = fp8.quantizeTiles(x, 2, 256, { amaxFloor: 1, backend });
      assert.equal(custom.scales[0], Math.fround(1 / 448));
    });

    it(`${backend}: NaN and Inf stay visible and do not poison their tile`, () => {
      const x = new Float32Array(256).map((_, i) => (i % 7) - 3);
      x[5] = NaN;
      x[6] = Infinity;
      x[7] = -Infinity;
      const q = fp8.quantizeTiles(x, 1, 256, { backend });
      assert.equal(q.scales[0], Math.fround(3 / 448)); // finite amax of the tile
      assert.equal(q.codes[5], 0x7f);
      assert.equal(q.codes[6], 0x7f); // e4m3 has no Inf: non-saturating conversion gives NaN
      assert.equal(q.codes[7], 0xff);
      assert.equal(q.nonFiniteCount(), 3);
      const d = fp8.dequantize(q, { backend });
      assert.ok(Number.isNaN(d[5]) && Number.isNaN(d[6]) && Number.isNaN(d[7]));
      assert.equal(d[0], -3);
      const q5 = fp8.quantizeTiles(x, 1, 256, { format: "e5m2", backend });
      const d5 = q5.dequantize();
      assert.ok(Number.isNaN(d5[5]));
      assert.equal(d5[6], Infinity);
      assert.equal(d5[7], -Infinity);
      assert.throws(
        () => fp8.quantizeTiles(x, 1, 256, { nonFinite: "throw", backend }),
        /3 NaN\/Inf value\(s\)/,
      );
    });
  }

  if (nativeOrSkip(HAS_NATIVE, "fp8 scaling: native entry points")) {
    it("native and TypeScript quantization agree bit for bit", () => {
      const r = rng(5);
      for (let trial = 0; trial < 24; trial++) {
        const rows = 1 + Math.floor(r() * 300);
        const cols = 1 + Math.floor(r() * 300);
        const x = data(rows, cols, 100 + trial);
        for (let i = 0; i < 5; i++)
          x[Math.floor(r() * x.length)] = [NaN, Infinity, -Infinity, 0, 1e-30][i];
        const format = trial % 2 ? "e5m2" : "e4m3";
        const pow2Scale = trial % 3 === 0;
        const fn = [fp8.quantizeTiles, fp8.quantizeTilesT, fp8.quantizeBlocks, fp8.quantizeTensor][
          trial % 4
        ];
        const a = fn(x, rows, cols, { format, pow2Scale, backend: "ts" });
        const b = fn(x, rows, cols, { format, pow2Scale, backend: "native" });
        assert.deepEqual(b.scales, a.scales, `trial ${trial}`);
        assert.deepEqual(b.codes, a.codes, `trial ${trial}`);
        const da = fp8.dequantize(a, { backend: "ts" });
        const db = fp8.dequantize(a, { backend: "native" });
        assert.deepEqual(db, da);
      }
    });

    it("native encode agrees with the TypeScript encoder on random bit patterns", () => {
      const nat = fp8Native()!;
      const bits = new Uint32Array(300000);
      const r = rng(77);
      for (let i = 0; i < bits.length; i++) bits[i] = (r() * 4294967296) >>> 0;
      const x = new Float32Array(bits.buffer);
      for (const [f, id] of [
        ["e4m3", 0],
        ["e5m2", 1],
      ] as const) {
        for (const saturate of [true, false]) {
          assert.deepEqual(
            nat.fp8Encode(x, id, saturate),
            fp8.encode(x, f, { saturate }),
            `${f} ${saturate}`,
          );
        }
      }
    });

    it("native entry points reject bad arguments with named errors", () => {
      const nat = fp8Native()!;
      assert.throws(
        () => nat.fp8Quantize(new Float32Array(10), 3, 4, 1, 128, 0, false, 1e-4),
        /x has 10 elements, expected rows x cols = 12$/,
      );
      // Sizes whose product passes 2^63 once printed a wrapped negative count.
      assert.throws(
        () => nat.fp8Quantize(new Float32Array(10), 2 ** 20, 2 ** 20, 1, 128, 0, false, 1e-4),
        /x has 10 elements, expected rows x cols = 1099511627776$/,
      );
      assert.throws(
        () => nat.fp8Quantize(new Float32Array(10), 2 ** 32, 2 ** 32, 1, 128, 0, false, 1e-4),
        /x has 10 elements, expected rows x cols = 4294967296 x 4294967296 \(more than 2\^53\)$/,
      );
      assert.throws(
        () => nat.fp8Quantize(new Float32Array(12), 3, 4, 0, 128, 0, false, 1e-4),
        /tileRows/,
      );
      assert.throws(
        () => nat.fp8Quantize(new Float32Array(12), 3, 4, 1, 128, 2, false, 1e-4),
        /format must be 0/,
      );
      assert.throws(
        () => nat.fp8Quantize(new Float32Array(12), 3, 4, 1, 128, 0, false, 0),
        /amaxFloor/,
      );
      assert.throws(
        () => nat.fp8Encode(new Float64Array(3) as unknown as Float32Array, 0, true),
        /Float32Array/,
      );
      assert.throws(
        () => nat.fp8Dequantize(new Uint8Array(12), new Float32Array(2), 3, 4, 1, 128, 0),
        /scales has 2/,
      );
    });
  }

  it("fine-grained scaling beats per-tensor scaling on data with outliers", () => {
    const rows = 64;
    const cols = 512;
    const x = randn(rows * cols, 3, 0.01);
    const outlier = (o: number) => o % cols === 5 && Math.floor(o / cols) % 9 === 0;
    for (let o = 0; o < x.length; o++) if (outlier(o)) x[o] = 1e4; // a few huge activations
    // error on the ordinary values: one tensor scale pushes them into e4m3's subnormals and zero
    const bulkErr = (q: fp8.Fp8Matrix) => {
      const d = q.dequantize();
      let num = 0;
      let den = 0;
      for (let o = 0; o < x.length; o++) {
        if (outlier(o)) continue;
        num += (x[o] - d[o]) ** 2;
        den += x[o] ** 2;
      }
      return Math.sqrt(num / den);
    };
    const eTile = bulkErr(fp8.quantizeTiles(x, rows, cols));
    const eTensor = bulkErr(fp8.quantizeTensor(x, rows, cols));
    assert.ok(eTile < eTensor / 4 && eTensor > 0.5, `tile ${eTile} vs tensor ${eTensor}`);
  });

  it("rejects bad inputs with clear errors", () => {
    const x = new Float32Array(12);
    assert.throws(
      () => fp8.quantizeTiles(x, 3, 5),
      /x has 12 elements, expected rows\*cols = 3\*5/,
    );
    assert.throws(
      () => fp8.quantizeTiles(new Float64Array(12) as unknown as Float32Array, 3, 4),
      /x must be a Float32Array, got Float64Array/,
    );
    assert.throws(() => fp8.quantizeTiles(x, -3, -4), /rows must be a non-negative integer/);
    assert.throws(
      () => fp8.quantizeTiles(x, 3, 4, { format: "e4m3fnuz" as "e4m3" }),
      /unknown format/,
    );
    assert.throws(() => fp8.quantizeTiles(x, 3, 4, { amaxFloor: 0 }), /amaxFloor must be positive/);
    assert.throws(
      () => fp8.quantize(x, 3, 4, { kind: "tile", tile: [0, 128] }),
      /tile must be two positive integers/,
    );
    assert.throws(
      () => fp8.quantizeTiles(x, 3, 4, { nonFinite: "ignore" as "throw" }),
      /nonFinite/,
    );
  });
});

describe("fp8 Fp8Matrix", () => {
  it("validates its parts", () => {
    const good = {
      codes: new Uint8Array(6),
      scales: new Float32Array([1, 1]),
      rows: 2,
      cols: 3,
      format: "e4m3" as const,
    };
    const layout = { kind: "tile" as const, tile: [1, 128] as [number, number] };
    const m = new fp8.Fp8Matrix({ ...good, layout });
    assert.equal(m.rows, 2);
    assert.equal(m.cols, 3);
    assert.equal(m.format, "e4m3");
    assert.deepEqual(m.layout, layout);
    // 1x128 tiles over 2x3: one scale per row
    assert.equal(m.scaleRows, 2);
    assert.equal(m.scaleCols, 1);
    assert.equal(m.codes, good.codes);
    assert.equal(m.scales, good.scales);
    assert.equal(m.pow2Scale, false);
    assert.throws(
      () => new fp8.Fp8Matrix({ ...good, layout, codes: new Uint8Array(5) }),
      /codes has 5 elements, expected rows\*cols = 6/,
    );
    assert.throws(
      () => new fp8.Fp8Matrix({ ...good, layout, scales: new Float32Array(3) }),
      /scales has 3 elements, expected 2x1/,
    );
    assert.throws(
      () => new fp8.Fp8Matrix({ ...good, layout, scales: new Float32Array([1, 0]) }),
      /scale 1 is 0/,
    );
    assert.throws(
      () => new fp8.Fp8Matrix({ ...good, layout, scales: new Float32Array([1, NaN]) }),
      /scale 1 is NaN/,
    );
    assert.throws(
      () => new fp8.Fp8Matrix({ ...good, layout: { kind: "tensor", tile: [1, 3] } }),
      /must cover/,
    );
    assert.throws(
      () => new fp8.Fp8Matrix({ ...good, layout: { kind: "rows" as "tile", tile: [1, 3] } }),
      /layout.kind/,
    );
    assert.throws(
      () =>
        new fp8.Fp8Matrix({ ...good, layout, codes: new Int8Array(6) as unknown as Uint8Array }),
      /codes must be a Uint8Array, got Int8Array/,
    );
    assert.throws(
      () => new fp8.Fp8Matrix({ ...good, layout, format: "e2m1" as "e4m3" }),
      /unknown format/,
    );
  });

  it("transposes codes, scales and tiles together", () => {
    const x = data(130, 300, 11);
    const q = fp8.quantizeTilesT(x, 130, 300);
    const t = q.transpose();
    assert.deepEqual([...t.layout.tile], [1, 128]);
    assert.equal(t.rows, 300);
    const dq = q.dequantize();
    const dt = t.dequantize();
    for (let i = 0; i < 130; i++)
      for (let j = 0; j < 300; j++) assert.equal(dt[j * 130 + i], dq[i * 300 + j]);
    // a 128x1-tiled matrix transposed is what quantizing the transpose in 1x128 tiles gives
    const xt = new Float32Array(300 * 130);
    for (let i = 0; i < 130; i++) for (let j = 0; j < 300; j++) xt[j * 130 + i] = x[i * 300 + j];
    const direct = fp8.quantizeTiles(xt, 300, 130);
    assert.deepEqual(t.codes, direct.codes);
    assert.deepEqual(t.scales, direct.scales);
  });

  it("handles empty matrices", () => {
    const q = fp8.quantizeTiles(new Float32Array(0), 0, 256);
    assert.equal(q.scales.length, 0);
    assert.equal(q.dequantize().length, 0);
    const t = fp8.quantizeTensor(new Float32Array(0), 0, 0);
    assert.equal(t.scales.length, 1);
  });

  it("displays as text and HTML", () => {
    const q = fp8.quantizeBlocks(data(200, 300, 3), 200, 300);
    const b = q[fp8.DISPLAY]();
    assert.match(b["text/plain"], /^Fp8Matrix e4m3 \[200, 300\], block 128x128 \(2x3 scales\)/);
    assert.match(b["text/html"], /<table>/);
    assert.ok(q.maxCodeFraction() > 0);
  });
});
