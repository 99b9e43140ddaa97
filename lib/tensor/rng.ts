/**
 * A small seeded generator (mulberry32) for what is drawn outside tensors: data order, sampling
 * in generation, test data. One uint32 of state, so a batch iterator's position is a plain number
 * a checkpoint can save; independent of Math.random and of the tensors' Philox streams, so data
 * order never shifts when model code draws numbers.
 */
export class Rng {
  /** The whole generator state, a uint32. */
  state: number;

  constructor(seed: number) {
    this.state = seedState(seed);
  }

  /** Restores a generator from a saved `state`. */
  static fromState(state: number): Rng {
    const r = new Rng(0);
    r.state = state >>> 0;
    return r;
  }

  /** The next uint32. */
  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A float in [0, 1) with 32 random bits. */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** An integer in [0, n), n <= 2^32 (multiply-shift; the bias is below n / 2^32). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Fisher-Yates shuffle of `a` in place. */
  shuffle<T extends { length: number; [i: number]: unknown }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }
}

/** Checks a user seed (a safe integer) and mixes it into a uint32 state. */
export function seedState(seed: number, stream = 0): number {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  const lo = (seed % 4294967296) >>> 0;
  const hi = Math.floor(seed / 4294967296) >>> 0;
  return mix32(mix32(lo ^ mix32(hi + 0x9e3779b9)) ^ mix32(stream + 0x85ebca6b));
}

/** murmur3's finaliser: a bijection on uint32 that spreads every input bit. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}
