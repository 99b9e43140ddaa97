/**
 * Counter-based random numbers (Philox4x32-10): element i of a draw depends only on (seed,
 * offset + i), so results are the same for any thread count or chunking.
 */

function mulhi(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const lo = a0 * b0;
  const mid1 = a1 * b0 + (lo >>> 16);
  const mid2 = a0 * b1 + (mid1 & 0xffff);
  return (a1 * b1 + (mid1 >>> 16) + (mid2 >>> 16)) >>> 0;
}

const out4 = new Uint32Array(4);

/** Philox4x32 with 10 rounds; result in a shared 4-word buffer. */
export function philox(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
): Uint32Array {
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhi(0xd2511f53, c0);
    const lo0 = Math.imul(0xd2511f53, c0) >>> 0;
    const hi1 = mulhi(0xcd9e8d57, c2);
    const lo1 = Math.imul(0xcd9e8d57, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + 0x9e3779b9) >>> 0;
    k1 = (k1 + 0xbb67ae85) >>> 0;
  }
  out4[0] = c0;
  out4[1] = c1;
  out4[2] = c2;
  out4[3] = c3;
  return out4;
}

const TWO32 = 4294967296;

export interface Stream {
  seed: number;
  offset: number;
}

const global = { seed: (Math.random() * 2 ** 31) >>> 0, offset: 0 };

/** Seeds the global generator (used when an op gets no seed). */
export function manualSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new RangeError(`manualSeed: seed must be a non-negative integer, got ${seed}`);
  global.seed = seed;
  global.offset = 0;
}

/** The (seed, offset) a draw of n elements uses, advancing the global stream when unseeded. */
export function streamFor(seed: number | undefined, n: number): Stream {
  if (seed !== undefined) {
    if (!Number.isSafeInteger(seed) || seed < 0)
      throw new RangeError(`seed must be a non-negative integer, got ${seed}`);
    return { seed, offset: 0 };
  }
  const s = { seed: global.seed, offset: global.offset };
  global.offset += n;
  return s;
}

/**
 * Calls fn(i, w) for each element with the Philox words of its block: element g = offset + i
 * uses block floor(g / per) (so one Philox call serves `per` neighbours) and stream `stream`.
 */
function eachBlock(
  s: Stream,
  n: number,
  per: number,
  stream: number,
  fn: (i: number, w: Uint32Array, lane: number) => void,
): void {
  const k0 = (s.seed % TWO32) >>> 0;
  const k1 = Math.floor(s.seed / TWO32) >>> 0;
  let last = -1;
  let w: Uint32Array = out4;
  for (let i = 0; i < n; i++) {
    const g = s.offset + i;
    const c = Math.floor(g / per);
    if (c !== last) {
      w = philox((c % TWO32) >>> 0, Math.floor(c / TWO32) >>> 0, stream, 0, k0, k1);
      last = c;
    }
    fn(i, w, g - c * per);
  }
}

const U24 = 5.960464477539063e-8; // 2^-24

/** Fills out with U[low, high): 24 random bits per element, four elements per Philox block. */
export function fillUniform(out: Float32Array, s: Stream, low: number, high: number): void {
  const span = high - low;
  eachBlock(s, out.length, 4, 0, (i, w, lane) => {
    out[i] = low + span * ((w[lane] >>> 8) * U24);
  });
}

/** Fills out with N(mean, std²) by Box-Muller on a word pair; two elements per Philox block. */
export function fillNormal(out: Float32Array, s: Stream, mean: number, std: number): void {
  eachBlock(s, out.length, 2, 1, (i, w, lane) => {
    const u1 = ((w[2 * lane] >>> 8) + 1) * U24; // (0, 1]
    const u2 = (w[2 * lane + 1] >>> 8) * U24;
    out[i] = mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  });
}

/** Fills out with integers in [low, high) from 64 random bits; two elements per Philox block. */
export function fillInt(out: Int32Array, s: Stream, low: number, high: number): void {
  const span = high - low;
  eachBlock(s, out.length, 2, 2, (i, w, lane) => {
    out[i] = low + Math.floor(((w[2 * lane] * TWO32 + w[2 * lane + 1]) / (TWO32 * TWO32)) * span);
  });
}
