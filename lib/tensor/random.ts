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

/** Fills out with U[low, high). */
export function fillUniform(out: Float32Array, s: Stream, low: number, high: number): void {
  const k0 = (s.seed % TWO32) >>> 0;
  const k1 = Math.floor(s.seed / TWO32) >>> 0;
  const span = high - low;
  for (let i = 0; i < out.length; i++) {
    const c = s.offset + i;
    const w = philox((c % TWO32) >>> 0, Math.floor(c / TWO32) >>> 0, 0, 0, k0, k1);
    out[i] = low + span * ((w[0] >>> 8) * 5.960464477539063e-8);
  }
}

/** Fills out with N(mean, std²) by Box-Muller on two words of element i's block. */
export function fillNormal(out: Float32Array, s: Stream, mean: number, std: number): void {
  const k0 = (s.seed % TWO32) >>> 0;
  const k1 = Math.floor(s.seed / TWO32) >>> 0;
  for (let i = 0; i < out.length; i++) {
    const c = s.offset + i;
    const w = philox((c % TWO32) >>> 0, Math.floor(c / TWO32) >>> 0, 1, 0, k0, k1);
    const u1 = ((w[0] >>> 8) + 1) * 5.960464477539063e-8; // (0, 1]
    const u2 = (w[1] >>> 8) * 5.960464477539063e-8;
    out[i] = mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
}

/** Fills out with integers in [low, high). */
export function fillInt(out: Int32Array, s: Stream, low: number, high: number): void {
  const k0 = (s.seed % TWO32) >>> 0;
  const k1 = Math.floor(s.seed / TWO32) >>> 0;
  const span = high - low;
  for (let i = 0; i < out.length; i++) {
    const c = s.offset + i;
    const w = philox((c % TWO32) >>> 0, Math.floor(c / TWO32) >>> 0, 2, 0, k0, k1);
    out[i] = low + Math.floor(((w[0] * TWO32 + w[1]) / (TWO32 * TWO32)) * span);
  }
}
