/** Shared helpers of the FP8 tests: a seeded PRNG and an independent brute-force FP8 reference. */
import { Rng } from "../../../lib/tensor/index.js";

/** Uniform numbers in [0, 1), seeded (mulberry32, moelab's Rng). */
export function rng(seed: number): () => number {
  const r = Rng.fromState(seed >>> 0);
  return () => r.next();
}

/** Standard normal samples (Box-Muller) as float32. */
export function randn(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12);
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  }
  return out;
}

export interface RefFormat {
  e: number;
  m: number;
  bias: number;
  ieee: boolean;
}
export const REF: Record<"e4m3" | "e5m2", RefFormat> = {
  e4m3: { e: 4, m: 3, bias: 7, ieee: false },
  e5m2: { e: 5, m: 2, bias: 15, ieee: true },
};

/** Value of a code from its fields, written from the format definition (not from lib/fp8). */
export function refValue(code: number, f: RefFormat): number {
  const s = code >> 7 ? -1 : 1;
  const ef = (code >> f.m) & ((1 << f.e) - 1);
  const mf = code & ((1 << f.m) - 1);
  const top = (1 << f.e) - 1;
  if (f.ieee && ef === top) return mf === 0 ? s * Infinity : NaN;
  if (!f.ieee && ef === top && mf === (1 << f.m) - 1) return NaN;
  const frac = mf / 2 ** f.m;
  return ef === 0 ? s * frac * 2 ** (1 - f.bias) : s * (1 + frac) * 2 ** (ef - f.bias);
}

/**
 * Brute-force encoder: scan all non-negative finite codes (and one "next value above max" that
 * stands for overflow) for the nearest to |x|; on a tie keep the even code. Then apply the
 * documented CUDA rules for NaN, overflow and saturation.
 */
export function makeRefEncoder(name: "e4m3" | "e5m2"): (x: number, saturate: boolean) => number {
  const f = REF[name];
  const vals: number[] = [];
  for (let c = 0; c < 128; c++) {
    const v = refValue(c, f);
    if (!Number.isFinite(v)) break;
    vals.push(v);
  }
  const maxCode = vals.length - 1;
  const max = vals[maxCode];
  // the next value an unbounded exponent range would have, with the next code's parity
  vals.push(max + 2 ** (Math.floor(Math.log2(max)) - f.m));
  return (x: number, saturate: boolean): number => {
    if (Number.isNaN(x)) return 0x7f;
    const sign = x < 0 || Object.is(x, -0) ? 0x80 : 0;
    const ax = Math.abs(x);
    let best = vals.length - 1;
    // beyond the overflow point every candidate is farther (checked first: huge distances round equal)
    if (ax < vals[vals.length - 1]) {
      let bestD = Infinity;
      for (let c = 0; c < vals.length; c++) {
        const d = Math.abs(ax - vals[c]);
        if (d < bestD || (d === bestD && (c & 1) === 0)) {
          bestD = d;
          best = c;
        }
      }
    }
    if (best > maxCode) return saturate ? maxCode | sign : (f.ieee ? 0x7c : 0x7f) | sign;
    return best | sign;
  };
}

/** float32 neighbours. */
export function nextUp(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  if (x === 0) u[0] = 1;
  else if (x > 0) u[0]++;
  else u[0]--;
  return f[0];
}
export function nextDown(x: number): number {
  return -nextUp(-x);
}

export { relErr } from "../../helpers/numeric.js";
