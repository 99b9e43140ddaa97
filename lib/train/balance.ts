/**
 * Load balancing of the routed experts, the three arms the Loss-Free Balancing paper compares:
 *
 * - "bias" (DeepSeek-V3): after each step, per MoE layer, count each expert's load c_i over the
 *   batch and set b_i += γ · sign(mean(c) − c_i). The bias only chooses experts; gradients never
 *   move it. V3 adds a small complementary sequence-wise loss (α 1e-4).
 * - "aux": the conventional expert-level auxiliary loss over the batch (α 1e-3), bias frozen at 0.
 * - "none": neither.
 *
 * Both losses are α · Σ_i f_i · P_i over a group of T tokens (a sequence, or the whole batch):
 *   f_i = E / (k·T) · Σ_t 1[expert i among token t's k]     (a count, no gradient)
 *   P_i = 1 / T · Σ_t s'_{i,t},  s'_{·,t} = s_{·,t} / Σ_j s_{j,t}
 * The sequence-wise loss counts the top-k of the unbiased scores (V3 eq. 18); the auxiliary loss
 * the experts actually chosen.
 *
 * MaxVio = (max_i c_i − mean c) / mean c, mean c the load under perfect balance (n·k / E).
 */
import * as T from "../tensor/index.js";
import { topkRow } from "../nn/index.js";

export type BalanceMode = "bias" | "aux" | "none";

/** (max load − mean load) / mean load, the mean being the load under perfect balance. */
export function maxVio(counts: ArrayLike<number>): number {
  let total = 0;
  let max = 0;
  for (let i = 0; i < counts.length; i++) {
    total += counts[i];
    if (counts[i] > max) max = counts[i];
  }
  if (total === 0) return 0;
  const mean = total / counts.length;
  return (max - mean) / mean;
}

/** Adds expert ids (a flat int32 list, k per token) into counts [E]. */
export function countLoad(indices: Int32Array, counts: Float64Array): void {
  const E = counts.length;
  for (let i = 0; i < indices.length; i++) {
    const e = indices[i];
    if (e >= 0 && e < E) counts[e]++;
  }
}

/**
 * DeepSeek-V3's bias update, in place: b_i += γ · sign(mean − c_i) (0 where c_i equals the mean).
 * Returns how many experts moved.
 */
export function updateBias(bias: Float32Array, counts: ArrayLike<number>, gamma: number): number {
  if (bias.length !== counts.length)
    throw new RangeError(`updateBias: ${bias.length} biases for ${counts.length} experts`);
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i];
  if (total === 0 || gamma === 0) return 0;
  const mean = total / counts.length;
  let moved = 0;
  for (let i = 0; i < bias.length; i++) {
    const e = mean - counts[i];
    if (e > 0) bias[i] += gamma;
    else if (e < 0) bias[i] -= gamma;
    if (e !== 0) moved++;
  }
  return moved;
}

/** The top-k experts of each token's (unbiased) scores, ties to the lower index. */
export function topkOfScores(s: Float32Array, n: number, E: number, k: number): Int32Array {
  const out = new Int32Array(n * k);
  const taken = new Uint8Array(E);
  for (let t = 0; t < n; t++) topkRow(s, t * E, E, k, taken, out, t * k);
  return out;
}

/**
 * α · mean over groups of Σ_i f_i · P_i (see the file comment), differentiable in the scores.
 * scores [n, E] (n = groups · groupSize tokens, in order), chosen: k expert ids per token.
 */
export function balanceLoss(
  scores: T.Tensor,
  chosen: Int32Array,
  k: number,
  groupSize: number,
  alpha: number,
): T.Tensor {
  const E = scores.shape[scores.ndim - 1];
  const n = scores.size / E;
  if (chosen.length !== n * k)
    throw new RangeError(`balanceLoss: ${chosen.length} choices for ${n} tokens x top-${k}`);
  if (n % groupSize !== 0)
    throw new RangeError(`balanceLoss: ${n} tokens do not split into groups of ${groupSize}`);
  const G = n / groupSize;
  // f per group: E / (k · T) · the counts.
  const f = new Float64Array(G * E);
  for (let t = 0; t < n; t++) {
    const g = Math.floor(t / groupSize);
    for (let j = 0; j < k; j++) f[g * E + chosen[t * k + j]] += E / (k * groupSize);
  }
  return balanceOp(f, E, groupSize, alpha)(scores);
}

function balanceOp(
  f: Float64Array,
  E: number,
  groupSize: number,
  alpha: number,
): (s: T.Tensor) => T.Tensor {
  return T.defineOp({
    name: "balanceLoss",
    forward(_ctx, s) {
      const sd = s.contiguous().toArray() as Float32Array;
      const n = sd.length / E;
      const G = n / groupSize;
      let loss = 0;
      for (let t = 0; t < n; t++) {
        const g = Math.floor(t / groupSize);
        let z = 0;
        for (let e = 0; e < E; e++) z += sd[t * E + e];
        if (!(z > 0)) continue;
        let dot = 0;
        for (let e = 0; e < E; e++) dot += f[g * E + e] * sd[t * E + e];
        loss += dot / z;
      }
      return T.tensor([(alpha * loss) / (G * groupSize)]).reshape();
    },
    backward(ctx, g) {
      const s = ctx.inputs[0];
      const sd = s.contiguous().toArray() as Float32Array;
      const n = sd.length / E;
      const G = n / groupSize;
      const scale = (g.item() * alpha) / (G * groupSize);
      const ds = new Float32Array(sd.length);
      for (let t = 0; t < n; t++) {
        const gi = Math.floor(t / groupSize);
        let z = 0;
        for (let e = 0; e < E; e++) z += sd[t * E + e];
        if (!(z > 0)) continue;
        let dot = 0;
        for (let e = 0; e < E; e++) dot += f[gi * E + e] * sd[t * E + e];
        const mean = dot / z;
        for (let e = 0; e < E; e++) ds[t * E + e] = (scale * (f[gi * E + e] - mean)) / z;
      }
      return [T.tensor(ds, { shape: [...s.shape] })];
    },
  });
}
