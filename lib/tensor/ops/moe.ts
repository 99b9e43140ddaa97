/**
 * The MoE dispatch ops (DeepSeekMoE's routed path as tensors): the routing weights of the chosen
 * experts, the counting sort that groups tokens by expert, and the combine that adds the experts'
 * weighted outputs back per token. Each differentiable op has its own backward.
 */
import { defineOp } from "../custom.js";
import { native } from "../native.js";
import { Tensor } from "../tensor.js";

/** The float32 elements of t in order: its storage itself when contiguous (read only!). */
const view = (t: Tensor): Float32Array => t._contiguousData() as Float32Array;
/** The int32 elements of t in order (read only!). */
const ints = (t: Tensor): Int32Array => t._contiguousData() as Int32Array;

/**
 * The MoE combine as one op: out[t] = base[t] + Σ_j w[t·k + j] · ys[inv[t·k + j]], over the
 * experts' outputs in grouped order (no concatenation, no separate weighting pass). Each output
 * row is written once, gathered per token, so the forward needs neither a copy of base nor a
 * scatter. Inputs: base [n, D]; w [n·k] (the routing weights, flat); tok and pos int32 [n·k]
 * (grouped row -> token, -> flat slot); inv int32 [n·k] (flat slot -> grouped row); starts int32
 * [C + 1] (first grouped row of each chunk); then the C non-empty experts' outputs [cnt, D].
 */
export const moeCombine = defineOp({
  name: "moeCombine",
  forward(_ctx, base, w, _tok, _pos, inv, starts, ...outs) {
    const [n, D] = base.shape;
    const k = n > 0 ? w.size / n : 0;
    const out = Tensor._empty("float32", [n, D]);
    const od = view(out);
    const bd = view(base);
    const wd = view(w);
    const id = ints(inv);
    const sd = ints(starts);
    const chunks = outs.map(view);
    if (native.moeCombine !== undefined) native.moeCombine(od, bd, n, k, D, chunks, sd, id, wd);
    else {
      // Grouped row p -> (chunk, row): chunks are in grouped order, so one pass builds the map.
      const chunkOf = new Int32Array(n * k);
      for (let c = 0; c < chunks.length; c++) chunkOf.fill(c, sd[c], sd[c + 1]);
      for (let t = 0; t < n; t++) {
        const o = t * D;
        for (let j = 0; j < D; j++) od[o + j] = bd[o + j];
        for (let j = 0; j < k; j++) {
          const p = id[t * k + j];
          const c = chunkOf[p];
          const y = chunks[c];
          const r = (p - sd[c]) * D;
          const wr = wd[t * k + j];
          for (let q = 0; q < D; q++) od[o + q] += wr * y[r + q];
        }
      }
    }
    return out;
  },
  backward(ctx, g) {
    // Inputs are re-read here (not saved views): autograd guarantees they are not disposed.
    const [base, w, tok, pos, , , ...outs] = ctx.inputs;
    const D = base.shape[1];
    const gd = view(g);
    const wd = view(w);
    const td = ints(tok);
    const pd = ints(pos);
    const dwT = Tensor._empty("float32", [...w.shape], true);
    const dw = view(dwT);
    const grads: (Tensor | null)[] = [g, null, null, null, null, null];
    let start = 0;
    for (const o of outs) {
      const y = view(o);
      const rows = o.shape[0];
      const tt = td.subarray(start, start + rows);
      const pp = pd.subarray(start, start + rows);
      const dyT = Tensor._empty("float32", [rows, D]);
      const dy = view(dyT);
      if (native.moeCombineGrad !== undefined)
        native.moeCombineGrad(gd, D, y, rows, tt, pp, wd, dy, dw);
      else
        for (let r = 0; r < rows; r++) {
          const row = tt[r] * D;
          const wr = wd[pp[r]];
          let acc = 0;
          for (let j = 0; j < D; j++) {
            dy[r * D + j] = wr * gd[row + j];
            acc += y[r * D + j] * gd[row + j];
          }
          dw[pp[r]] = acc;
        }
      grads.push(dyT);
      start += rows;
    }
    grads[1] = dwT;
    return grads;
  },
});

/**
 * The routing weights as one op: w[t, j] = s[t, idx[t, j]] (÷ Σ_j of them when `normalize`)
 * × scale, DeepSeek's gather, normalise and route_scale in its float32 order, and the gradient to
 * the scores. s [..., E] float32, idx int32 [..., k] -> [..., k].
 */
export function gateWeightsOp(
  normalize: boolean,
  scale: number,
  where: string,
): (...inputs: Tensor[]) => Tensor {
  return defineOp({
    name: "gateWeights",
    forward(_ctx, s, idx) {
      const E = s.shape[s.ndim - 1];
      const k = idx.shape[idx.ndim - 1];
      const n = k > 0 ? idx.size / k : 0;
      const sd = view(s);
      const id = ints(idx);
      const out = Tensor._empty("float32", [...idx.shape]);
      const od = view(out);
      for (let t = 0; t < n; t++) {
        let sum = 0;
        for (let j = t * k; j < (t + 1) * k; j++) {
          const e = id[j];
          if (!(e >= 0 && e < E))
            throw new RangeError(`expert index ${e} out of range [0, ${E}) in ${where}`);
          od[j] = sd[t * E + e];
          sum = Math.fround(sum + od[j]);
        }
        for (let j = t * k; j < (t + 1) * k; j++) {
          if (normalize) od[j] = od[j] / sum;
          if (scale !== 1) od[j] = od[j] * scale;
        }
      }
      return out;
    },
    backward(ctx, g) {
      const [s, idx] = ctx.inputs;
      const E = s.shape[s.ndim - 1];
      const k = idx.shape[idx.ndim - 1];
      const n = k > 0 ? idx.size / k : 0;
      const sd = view(s);
      const id = ints(idx);
      const gd = view(g);
      const dsT = Tensor._empty("float32", [...s.shape], true);
      const ds = view(dsT);
      for (let t = 0; t < n; t++) {
        if (!normalize) {
          for (let j = t * k; j < (t + 1) * k; j++) ds[t * E + id[j]] += scale * gd[j];
          continue;
        }
        // w_j = c s_j / S: dL/ds_j = c (g_j / S - Σ_i g_i s_i / S²)
        let S = 0;
        let dot = 0;
        for (let j = t * k; j < (t + 1) * k; j++) {
          const v = sd[t * E + id[j]];
          S += v;
          dot += gd[j] * v;
        }
        for (let j = t * k; j < (t + 1) * k; j++)
          ds[t * E + id[j]] += scale * (gd[j] / S - dot / (S * S));
      }
      return [dsT, null];
    },
  });
}

/** Tokens grouped by expert: what MoE.forward and moeCombine need. */
export interface ExpertGroups {
  /** counts[e] .. counts[e + 1]: expert e's grouped rows (length E + 1). */
  counts: Int32Array;
  /** int32 [n·k]: grouped row -> token, -> flat slot (t·k + j), and flat slot -> grouped row. */
  tok: Tensor;
  pos: Tensor;
  inv: Tensor;
  /** int32 [C + 1]: the first grouped row of each non-empty expert, then n·k. */
  starts: Tensor;
}

/**
 * Counting sort of the n·k (token, slot) pairs by expert, stable in token order, so each expert's
 * tokens are one contiguous block of rows. Indices outside [0, E) (a hook's replacement) throw.
 */
export function groupByExpert(
  idx: Int32Array,
  n: number,
  k: number,
  E: number,
  where: string,
): ExpertGroups {
  const m = n * k;
  const counts = new Int32Array(E + 1);
  for (let i = 0; i < m; i++) {
    const e = idx[i];
    if (!(e >= 0 && e < E))
      throw new RangeError(`expert index ${e} out of range [0, ${E}) in ${where || "moe"}`);
    counts[e + 1]++;
  }
  let C = 0;
  for (let e = 0; e < E; e++) {
    if (counts[e + 1] > 0) C++;
    counts[e + 1] += counts[e];
  }
  const tok = Tensor._empty("int32", [m]);
  const pos = Tensor._empty("int32", [m]);
  const inv = Tensor._empty("int32", [m]);
  const starts = Tensor._empty("int32", [C + 1]);
  const td = ints(tok);
  const pd = ints(pos);
  const id = ints(inv);
  const sd = ints(starts);
  const fill = counts.slice(0, E);
  for (let i = 0; i < m; i++) {
    const p = fill[idx[i]]++;
    td[p] = (i / k) | 0;
    pd[p] = i;
    id[i] = p;
  }
  for (let e = 0, c = 0; e < E; e++) if (counts[e + 1] > counts[e]) sd[c++] = counts[e];
  sd[C] = m;
  return { counts, tok, pos, inv, starts };
}
