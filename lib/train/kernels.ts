/**
 * The optimizer's two buffer kernels — the fused AdamW update and the sum of squares — run by the
 * native addon (native/src/ops_optim.cc) when it is loaded, else by the TypeScript loops here,
 * which reproduce the native results bit for bit: every float32 operation is rounded with
 * Math.fround in the same order, and sums of squares use the same blocks and lanes.
 */
import { native } from "../tensor/native.js";

/** Which implementation runs a kernel: the addon's, or the TypeScript fallback. */
export type KernelImpl = "native" | "ts";

/** True when the addon provides the optimizer kernels (false with MOELAB_NO_NATIVE=1). */
export const hasNativeOptim: boolean =
  typeof native.adamwStep === "function" && typeof native.sumSquares === "function";

/** The default implementation: native when available. */
export const defaultImpl: KernelImpl = hasNativeOptim ? "native" : "ts";

/** Hyper-parameters of one AdamW update (already validated by the caller). */
export interface AdamWUpdate {
  /** The parameter's update count, 1 on its first update (bias correction). */
  step: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** 0 for parameters that are not decayed. */
  weightDecay: number;
  /** Multiplies the gradient first (gradient clipping fused into the update). */
  gradScale: number;
}

/** beta^step by squaring, the same double products as the native kernel. */
export function powInt(b: number, e: number): number {
  let r = 1;
  while (e > 0) {
    if (e % 2 === 1) r *= b;
    b *= b;
    e = Math.floor(e / 2);
  }
  return r;
}

/**
 * One AdamW update of p [n] with its moments m, v [n] (float32, or bfloat16 bits in
 * Uint16Array), in place; torch.optim.AdamW's formula, every operation rounded to float32:
 * p *= 1 − lr·wd; m = β1·m + (1−β1)·g; v = β2·v + ((1−β2)·g)·g;
 * p += (−lr/bc1 · m) / (sqrt(v)/sqrt(bc2) + eps), bc_i = 1 − β_i^step.
 */
export function adamwUpdate(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array | Uint16Array,
  v: Float32Array | Uint16Array,
  h: AdamWUpdate,
  impl: KernelImpl = defaultImpl,
): void {
  const n = p.length;
  if (impl === "native") {
    if (!native.adamwStep) throw new Error("adamwUpdate: the native addon is not loaded");
    native.adamwStep(
      p,
      g,
      m,
      v,
      n,
      h.step,
      h.lr,
      h.beta1,
      h.beta2,
      h.eps,
      h.weightDecay,
      h.gradScale,
    );
    return;
  }
  if (g.length < n || m.length < n || v.length < n)
    throw new RangeError(`adamwUpdate: g, m, v need ${n} elements`);
  const f = Math.fround;
  const bc1 = 1 - powInt(h.beta1, h.step);
  const bc2 = 1 - powInt(h.beta2, h.step);
  const c: Coef = {
    decay: f(1 - h.lr * h.weightDecay),
    b1: f(h.beta1),
    omb1: f(1 - h.beta1),
    b2: f(h.beta2),
    omb2: f(1 - h.beta2),
    negStep: f(-(h.lr / bc1)),
    bc2Sqrt: f(Math.sqrt(bc2)),
    eps: f(h.eps),
    gs: f(h.gradScale),
  };
  if (m instanceof Float32Array && v instanceof Float32Array) {
    updateF32(p, g, m, v, n, c);
    return;
  }
  if (!(m instanceof Uint16Array && v instanceof Uint16Array))
    throw new TypeError("adamwUpdate: m and v must both be Float32Array or both Uint16Array");
  // bfloat16 moments: widen a block into float32 scratch, update, round back to nearest even.
  for (let off = 0; off < n; off += SCRATCH) {
    const len = Math.min(SCRATCH, n - off);
    for (let i = 0; i < len; i++) {
      mBits[i] = m[off + i] << 16;
      vBits[i] = v[off + i] << 16;
    }
    updateF32(p.subarray(off, off + len), g.subarray(off, off + len), mScratch, vScratch, len, c);
    for (let i = 0; i < len; i++) {
      m[off + i] = bf16Bits(mBits[i]);
      v[off + i] = bf16Bits(vBits[i]);
    }
  }
}

/** The update's float32 constants (native/src/ops_optim.cc's AdamCoef). */
interface Coef {
  decay: number;
  b1: number;
  omb1: number;
  b2: number;
  omb2: number;
  negStep: number;
  bc2Sqrt: number;
  eps: number;
  gs: number;
}

/** The update over n elements with float32 moments, each operation rounded to float32. */
function updateF32(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  n: number,
  c: Coef,
): void {
  const f = Math.fround;
  const { decay, b1, omb1, b2, omb2, negStep, bc2Sqrt, eps, gs } = c;
  for (let i = 0; i < n; i++) {
    const gi = f(g[i] * gs);
    const mi = f(f(m[i] * b1) + f(omb1 * gi));
    const vi = f(f(v[i] * b2) + f(f(omb2 * gi) * gi));
    const den = f(f(f(Math.sqrt(vi)) / bc2Sqrt) + eps);
    p[i] = f(p[i] * decay) + f(f(negStep * mi) / den);
    m[i] = mi;
    v[i] = vi;
  }
}

const SCRATCH = 4096;
const mScratch = new Float32Array(SCRATCH);
const vScratch = new Float32Array(SCRATCH);
const mBits = new Uint32Array(mScratch.buffer);
const vBits = new Uint32Array(vScratch.buffer);

/** float32 bits -> bfloat16 bits, round to nearest even, NaN kept quiet (dtype.ts's f32ToBf16). */
function bf16Bits(b: number): number {
  if ((b & 0x7fffffff) > 0x7f800000) return ((b >>> 16) | 0x40) & 0xffff;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

const BLOCK = 16384;
const LANES = 32;

/** Σ x[i]² in double: blocks of 16384, 32 lanes each, folded by halves, blocks added in order. */
export function sumSquares(x: Float32Array, impl: KernelImpl = defaultImpl): number {
  if (impl === "native") {
    if (!native.sumSquares) throw new Error("sumSquares: the native addon is not loaded");
    return native.sumSquares(x, x.length);
  }
  const lanes = new Float64Array(LANES);
  let total = 0;
  for (let off = 0; off < x.length; off += BLOCK) {
    const len = Math.min(BLOCK, x.length - off);
    lanes.fill(0);
    for (let j = 0; j < len; j++) {
      const d = x[off + j];
      lanes[j % LANES] += d * d;
    }
    for (let w = LANES / 2; w >= 1; w /= 2) for (let l = 0; l < w; l++) lanes[l] += lanes[l + w];
    total += lanes[0];
  }
  return total;
}
