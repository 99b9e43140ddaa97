/**
 * Rotary embedding tables for DeepSeek's decoupled RoPE (adjacent pairs), with YaRN's frequency
 * correction when max_seq_len exceeds original_seq_len (as the reference's precompute_freqs_cis).
 */
import * as T from "../tensor/index.js";
import type { ModelArgs } from "../config/index.js";

/** The per-pair frequencies [qk_rope_head_dim / 2], YaRN-corrected when active. */
export function ropeFrequencies(a: Readonly<ModelArgs>): Float64Array {
  const d = a.qk_rope_head_dim;
  const base = a.rope_theta;
  const half = d / 2;
  const freqs = new Float64Array(half);
  // Rounded through float32 like the reference, which builds them in float32.
  for (let i = 0; i < half; i++)
    freqs[i] = Math.fround(1 / Math.fround(Math.pow(base, (2 * i) / d)));
  if (a.max_seq_len > a.original_seq_len) {
    const corrDim = (rot: number): number =>
      (d * Math.log(a.original_seq_len / (rot * 2 * Math.PI))) / (2 * Math.log(base));
    const lo = Math.max(Math.floor(corrDim(a.beta_fast)), 0);
    let hi = Math.min(Math.ceil(corrDim(a.beta_slow)), d - 1);
    if (lo === hi) hi += 0.001;
    for (let i = 0; i < half; i++) {
      const ramp = Math.min(Math.max((i - lo) / (hi - lo), 0), 1);
      freqs[i] = (freqs[i] / a.rope_factor) * ramp + freqs[i] * (1 - ramp);
    }
  }
  return freqs;
}

/** cos and sin tables [seqLen, qk_rope_head_dim / 2] for positions 0..seqLen-1. */
export class RopeTables {
  readonly cos: T.Tensor;
  readonly sin: T.Tensor;
  constructor(
    a: Readonly<ModelArgs>,
    readonly seqLen: number = a.max_seq_len,
  ) {
    const f = ropeFrequencies(a);
    const half = f.length;
    const c = new Float32Array(seqLen * half);
    const s = new Float32Array(seqLen * half);
    for (let t = 0; t < seqLen; t++)
      for (let i = 0; i < half; i++) {
        const ang = Math.fround(t * f[i]);
        c[t * half + i] = Math.cos(ang);
        s[t * half + i] = Math.sin(ang);
      }
    // Kept: tables built lazily inside a user's tidy() must outlive it.
    this.cos = T.keep(T.tensor(c, { shape: [seqLen, half] }));
    this.sin = T.keep(T.tensor(s, { shape: [seqLen, half] }));
  }

  /** cos, sin rows for positions start..start+len-1. */
  range(start: number, len: number): { cos: T.Tensor; sin: T.Tensor } {
    if (start + len > this.seqLen)
      throw new RangeError(
        `positions ${start}..${start + len - 1} exceed max_seq_len ${this.seqLen}`,
      );
    return { cos: this.cos.narrow(0, start, len), sin: this.sin.narrow(0, start, len) };
  }
}
