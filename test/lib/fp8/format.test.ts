import { strict as assert } from "node:assert";
import * as fp8 from "../../../lib/fp8/index.js";
import { fp8Native } from "../../../lib/fp8/native.js";
import { REF, makeRefEncoder, nextDown, nextUp, refValue, rng } from "./helpers.js";
import { NO_ADDON } from "../../helpers/env.js";

const QUICK = process.env.MOELAB_QUICK === "1";
const FORMATS = ["e4m3", "e5m2"] as const;

/** The test corpus for one format: >= 1,000,000 float32 values (fewer with MOELAB_QUICK=1). */
function corpus(name: "e4m3" | "e5m2"): Float32Array {
  const f = REF[name];
  const r = rng(name === "e4m3" ? 41 : 42);
  const scale = QUICK ? 0.2 : 1;
  const out: number[] = [];
  const bits = new Uint32Array(1);
  const asF = new Float32Array(bits.buffer);
  // every code's value, the midpoints between neighbours (exact ties) and their float32 neighbours
  const pos: number[] = [];
  for (let c = 0; c < 128; c++) {
    const v = refValue(c, f);
    if (Number.isFinite(v)) pos.push(v);
  }
  const max = pos[pos.length - 1];
  pos.push(max + 2 ** (Math.floor(Math.log2(max)) - f.m)); // the overflow tie point
  for (let i = 0; i < pos.length; i++) {
    const pts = [pos[i]];
    if (i + 1 < pos.length) pts.push((pos[i] + pos[i + 1]) / 2);
    for (const p of pts) for (const v of [p, nextUp(p), nextDown(p)]) out.push(v, -v);
  }
  out.push(
    0,
    -0,
    NaN,
    -NaN,
    Infinity,
    -Infinity,
    3.4028234663852886e38,
    -3.4028234663852886e38,
    1e-45,
    -1e-45,
  );
  // NaNs with payloads and both signs
  for (const b of [0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fffffff, 0xffffffff]) {
    bits[0] = b;
    out.push(asF[0]);
  }
  const n = (k: number) => Math.round(k * scale);
  // uniform random bit patterns: every exponent, NaNs, Infs, float32 subnormals
  for (let i = 0; i < n(300000); i++) {
    bits[0] = (r() * 4294967296) >>> 0;
    out.push(asF[0]);
  }
  // log-uniform across (and beyond) the format's range
  const lo = Math.log2(pos[1]) - 4;
  const hi = Math.log2(max) + 2;
  for (let i = 0; i < n(250000); i++) out.push((r() < 0.5 ? -1 : 1) * 2 ** (lo + (hi - lo) * r()));
  // the subnormal range and just above
  const minNormal = 2 ** (1 - f.bias);
  for (let i = 0; i < n(200000); i++) out.push((r() < 0.5 ? -1 : 1) * 2 * minNormal * r());
  // near max and overflow
  for (let i = 0; i < n(200000); i++) out.push((r() < 0.5 ? -1 : 1) * max * (0.85 + 0.35 * r()));
  // float32 subnormals and tiny numbers around the zero threshold
  for (let i = 0; i < n(50000); i++) {
    bits[0] = ((r() * 0x800000) >>> 0) | (r() < 0.5 ? 0x80000000 : 0);
    out.push(asF[0]);
    out.push((r() < 0.5 ? -1 : 1) * 2 ** (1 - f.bias - f.m) * r());
  }
  return new Float32Array(out);
}

describe("fp8 format: decode", () => {
  for (const name of FORMATS) {
    it(`decodes all 256 ${name} codes to the values of their bit fields`, () => {
      const codes = new Uint8Array(256).map((_, i) => i);
      const got = fp8.decode(codes, name);
      for (let c = 0; c < 256; c++) {
        const want = refValue(c, REF[name]);
        if (Number.isNaN(want)) assert.ok(Number.isNaN(got[c]), `code ${c}`);
        else assert.ok(Object.is(got[c], want), `code 0x${c.toString(16)}: ${got[c]} != ${want}`);
      }
    });
  }

  it("has the documented landmarks", () => {
    const d4 = (c: number) => fp8.decode(new Uint8Array([c]), "e4m3")[0];
    const d5 = (c: number) => fp8.decode(new Uint8Array([c]), "e5m2")[0];
    assert.equal(d4(0x7e), 448);
    assert.equal(d4(0xfe), -448);
    assert.equal(d4(0x08), 2 ** -6);
    assert.equal(d4(0x01), 2 ** -9);
    assert.ok(Number.isNaN(d4(0x7f)) && Number.isNaN(d4(0xff)));
    assert.equal(d4(0x78), 256); // S.1111.000 is a normal number in the fn variant
    assert.ok(Object.is(d4(0x80), -0));
    assert.equal(d5(0x7b), 57344);
    assert.equal(d5(0x7c), Infinity);
    assert.equal(d5(0xfc), -Infinity);
    assert.ok(Number.isNaN(d5(0x7d)) && Number.isNaN(d5(0x7e)) && Number.isNaN(d5(0x7f)));
    assert.equal(d5(0x04), 2 ** -14);
    assert.equal(d5(0x01), 2 ** -16);
  });

  it("rejects non-Uint8Array codes and unknown formats", () => {
    assert.throws(
      () => fp8.decode([1, 2] as unknown as Uint8Array, "e4m3"),
      /codes must be a Uint8Array, got Array/,
    );
    assert.throws(() => fp8.decode(new Uint8Array(2), "e3m4" as "e4m3"), /unknown format "e3m4"/);
  });
});

describe("fp8 format: encode matches a brute-force nearest-even reference", function () {
  this.timeout(120000);
  for (const name of FORMATS) {
    it(`${name}: ${QUICK ? "~200k" : ">= 1,000,000"} floats, saturating and not`, () => {
      const xs = corpus(name);
      if (!QUICK) assert.ok(xs.length >= 1_000_000, `corpus has ${xs.length}`);
      const ref = makeRefEncoder(name);
      const sat = fp8.encode(xs, name);
      const nosat = fp8.encode(xs, name, { saturate: false });
      // the native addon's encoder (AVX-512 or portable loops) against the same reference
      const nat = fp8Native();
      // Without the addon only the TypeScript encoder is checked here; CI must check both.
      assert.ok(nat || process.env.MOELAB_REQUIRE_ALL !== "1", NO_ADDON);
      const natSat = nat ? nat.fp8Encode(xs, name === "e4m3" ? 0 : 1, true) : sat;
      const natNosat = nat ? nat.fp8Encode(xs, name === "e4m3" ? 0 : 1, false) : nosat;
      let bad = 0;
      for (let i = 0; i < xs.length; i++) {
        const x = xs[i];
        const w1 = ref(x, true);
        const w2 = ref(x, false);
        if (sat[i] !== w1 || nosat[i] !== w2 || natSat[i] !== w1 || natNosat[i] !== w2) {
          if (bad++ < 5) {
            console.log(
              `  ${name} x=${x}: sat ${sat[i]}/${natSat[i]} vs ${w1}, nosat ${nosat[i]}/${natNosat[i]} vs ${w2}`,
            );
          }
        }
      }
      assert.equal(bad, 0, `${bad} of ${xs.length} values differ from the reference`);
    });
  }

  it("follows CUDA's documented special cases", () => {
    const e = (x: number, f: "e4m3" | "e5m2", saturate = true) => fp8.encodeOne(x, f, { saturate });
    assert.equal(e(464, "e4m3"), 0x7e); // tie goes to 448
    assert.equal(e(464, "e4m3", false), 0x7e);
    assert.equal(e(nextUp(464), "e4m3"), 0x7e);
    assert.equal(e(nextUp(464), "e4m3", false), 0x7f);
    assert.equal(e(-1000, "e4m3", false), 0xff); // overflow NaN keeps the sign
    assert.equal(e(Infinity, "e4m3"), 0x7e);
    assert.equal(e(-Infinity, "e4m3"), 0xfe);
    assert.equal(e(NaN, "e4m3"), 0x7f);
    assert.equal(e(-NaN, "e5m2"), 0x7f);
    assert.equal(e(61440, "e5m2"), 0x7b);
    assert.equal(e(61440, "e5m2", false), 0x7c);
    assert.equal(e(nextDown(61440), "e5m2", false), 0x7b);
    assert.equal(e(-Infinity, "e5m2", false), 0xfc);
    assert.equal(e(2 ** -10, "e4m3"), 0x00); // half the smallest subnormal ties to zero
    assert.equal(e(-(2 ** -10), "e4m3"), 0x80); // signed zero
    assert.equal(e(nextUp(2 ** -10), "e4m3"), 0x01);
    assert.equal(e(3 * 2 ** -10, "e4m3"), 0x02); // 1.5 subnormal ulps ties to even (2)
    assert.equal(e(-0, "e5m2"), 0x80);
    assert.equal(e(2 ** -6 - 2 ** -11, "e4m3"), 0x08); // rounds up out of the subnormals
  });

  it("accepts subarrays at any element offset and rejects wrong inputs", () => {
    const buf = new Float32Array([1, 2, 448, 3]);
    assert.deepEqual([...fp8.encode(buf.subarray(1, 3), "e4m3")], [0x40, 0x7e]);
    assert.throws(
      () => fp8.encode([1, 2] as unknown as Float32Array, "e4m3"),
      /values must be a Float32Array, got Array/,
    );
    assert.throws(
      () => fp8.encode(new Float64Array(2) as unknown as Float32Array, "e4m3"),
      /got Float64Array/,
    );
    assert.throws(() => fp8.encode(new Float32Array(2), "fp8" as "e4m3"), /unknown format/);
    assert.throws(
      () => fp8.encode(new Float32Array(2), "e4m3", { saturate: 1 as unknown as boolean }),
      /saturate/,
    );
  });

  it("round-trips every finite code exactly", () => {
    for (const name of FORMATS) {
      const codes = new Uint8Array(256).map((_, i) => i);
      const vals = fp8.decode(codes, name);
      const back = fp8.encode(vals, name);
      for (let c = 0; c < 256; c++)
        if (Number.isFinite(vals[c])) assert.equal(back[c], c, `${name} 0x${c.toString(16)}`);
    }
  });
});

describe("fp8 format: teaching table", () => {
  it("lists 256 codes with their kinds", () => {
    const t4 = fp8.table("e4m3");
    assert.equal(t4.rows.length, 256);
    assert.deepEqual(t4.counts(), { zero: 2, subnormal: 14, normal: 238, inf: 0, nan: 2 });
    const t5 = fp8.table("e5m2");
    assert.deepEqual(t5.counts(), { zero: 2, subnormal: 6, normal: 240, inf: 2, nan: 6 });
    const r = t4.rows[0x7e];
    assert.deepEqual(
      {
        bits: r.bits,
        sign: r.sign,
        exponent: r.exponent,
        mantissa: r.mantissa,
        value: r.value,
        kind: r.kind,
      },
      { bits: "0.1111.110", sign: 0, exponent: 15, mantissa: 6, value: 448, kind: "normal" },
    );
    assert.equal(t5.rows[0xfc].kind, "inf");
    assert.equal(t5.rows[0xfc].value, -Infinity);
  });

  it("displays as text/plain and an HTML table", () => {
    const bundle = fp8.table("e5m2")[fp8.DISPLAY]();
    assert.match(bundle["text/plain"], /^e5m2: 5 exponent bits \(bias 15\)/);
    assert.match(bundle["text/plain"], /0x7C {2}0\.11111\.00 {2}inf/);
    assert.match(bundle["text/html"], /<table>/);
    assert.equal((bundle["text/html"].match(/<tr style/g) ?? []).length, 256);
  });
});
