/**
 * DeepSeekMoE: the Gate (router) and the MoE layer (shared experts + routed SwiGLU experts).
 *
 * Gate, per token x:
 *   s   = softmax(W x) | sigmoid(W x)          scores [E]
 *   sel = s + bias                             (the bias only chooses experts; "noaux_tc" routing)
 *   groups (n_expert_groups > 1): group score = sum of its top-2 sel with a bias, max without;
 *          keep the n_limited_groups best groups, the others cannot be chosen
 *   idx = topk(sel, n_activated_experts),  w = s[idx] (unbiased), / Σ w for sigmoid, × route_scale
 *
 * MoE: y = Σ_i w_i Expert_idx_i(x) + Shared(x). No token is dropped. Tokens are sorted by expert
 * (groupByExpert) so each expert runs one GEMM on its gathered rows (indexSelect); moeCombine adds
 * the weighted rows back into the shared experts' output, gathered per token.
 *
 * Hook points (under `blocks.{L}.moe`): hook_router_scores [B, T, E] (s);
 * hook_router_biased_scores [B, T, E] (sel after group limiting, -inf for dropped groups and NaN
 * scores; read-only, as selection is done; built only when a hook or a cache asks for it);
 * hook_expert_indices int32 [B, T, k]; hook_expert_weights [B, T, k];
 * shared_experts.hook_post [B, T, n_shared·moe_inter].
 */
import * as T from "../tensor/index.js";
import type { ModelArgs } from "../model/config.js";
import { Init, MLP } from "./layers.js";
import { Module, type ModelContext } from "./module.js";
import { loadAddon } from "../tensor/addon.js";

type MoeRoute = (
  scores: Float32Array,
  bias: Float32Array | null,
  n: number,
  E: number,
  k: number,
  groups: number,
  limitedGroups: number,
  indices: Int32Array,
  biased: Float32Array | null,
) => void;
/** The native router (native/src/ops_moe.cc): the same rules, without JavaScript's per-element cost. */
const nativeRoute = (loadAddon()?.moeRoute as MoeRoute | undefined) ?? null;

type MoeCombine = (
  out: Float32Array,
  base: Float32Array,
  n: number,
  k: number,
  D: number,
  chunks: Float32Array[],
  starts: Int32Array,
  inv: Int32Array,
  w: Float32Array,
) => void;
type MoeCombineGrad = (
  grad: Float32Array,
  D: number,
  ys: Float32Array,
  rows: number,
  tok: Int32Array,
  pos: Int32Array,
  w: Float32Array,
  dys: Float32Array,
  dw: Float32Array,
) => void;
const nativeCombine = (loadAddon()?.moeCombine as MoeCombine | undefined) ?? null;
const nativeCombineGrad = (loadAddon()?.moeCombineGrad as MoeCombineGrad | undefined) ?? null;

/** The float32 elements of t in order: its storage itself when contiguous (read only!). */
const view = (t: T.Tensor): Float32Array => t._contiguousData() as Float32Array;

/**
 * The MoE combine as one op: out[t] = base[t] + Σ_j w[t·k + j] · ys[inv[t·k + j]], over the
 * experts' outputs in grouped order (no concatenation, no separate weighting pass). Each output
 * row is written once, gathered per token, so the forward needs neither a copy of base nor a
 * scatter. Inputs: base [n, D]; w [n·k] (the routing weights, flat); tok and pos int32 [n·k]
 * (grouped row -> token, -> flat slot); inv int32 [n·k] (flat slot -> grouped row); starts int32
 * [C + 1] (first grouped row of each chunk); then the C non-empty experts' outputs [cnt, D].
 */
export const moeCombine = T.defineOp({
  name: "moeCombine",
  forward(_ctx, base, w, _tok, _pos, inv, starts, ...outs) {
    const [n, D] = base.shape;
    const k = n > 0 ? w.size / n : 0;
    const out = T.Tensor._empty("float32", [n, D]);
    const od = view(out);
    const bd = view(base);
    const wd = view(w);
    const id = view(inv) as unknown as Int32Array;
    const sd = view(starts) as unknown as Int32Array;
    const chunks = outs.map(view);
    if (nativeCombine !== null) nativeCombine(od, bd, n, k, D, chunks, sd, id, wd);
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
    const td = view(tok) as unknown as Int32Array;
    const pd = view(pos) as unknown as Int32Array;
    const dwT = T.Tensor._empty("float32", [...w.shape], true);
    const dw = view(dwT);
    const grads: (T.Tensor | null)[] = [g, null, null, null, null, null];
    let start = 0;
    for (const o of outs) {
      const y = view(o);
      const rows = o.shape[0];
      const tt = td.subarray(start, start + rows);
      const pp = pd.subarray(start, start + rows);
      const dyT = T.Tensor._empty("float32", [rows, D]);
      const dy = view(dyT);
      if (nativeCombineGrad !== null) nativeCombineGrad(gd, D, y, rows, tt, pp, wd, dy, dw);
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
function gateWeightsOp(normalize: boolean, scale: number, where: string) {
  return T.defineOp({
    name: "gateWeights",
    forward(_ctx, s, idx) {
      const E = s.shape[s.ndim - 1];
      const k = idx.shape[idx.ndim - 1];
      const n = k > 0 ? idx.size / k : 0;
      const sd = view(s);
      const id = view(idx) as unknown as Int32Array;
      const out = T.Tensor._empty("float32", [...idx.shape]);
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
      const id = view(idx) as unknown as Int32Array;
      const gd = view(g);
      const dsT = T.Tensor._empty("float32", [...s.shape], true);
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
  tok: T.Tensor;
  pos: T.Tensor;
  inv: T.Tensor;
  /** int32 [C + 1]: the first grouped row of each non-empty expert, then n·k. */
  starts: T.Tensor;
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
  const tok = T.Tensor._empty("int32", [m]);
  const pos = T.Tensor._empty("int32", [m]);
  const inv = T.Tensor._empty("int32", [m]);
  const starts = T.Tensor._empty("int32", [C + 1]);
  const td = view(tok) as unknown as Int32Array;
  const pd = view(pos) as unknown as Int32Array;
  const id = view(inv) as unknown as Int32Array;
  const sd = view(starts) as unknown as Int32Array;
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

/** A numbered list of modules ("0", "1", ...), as PyTorch's ModuleList. */
export class ModuleList<M extends Module> extends Module {
  readonly items: M[] = [];
  constructor(ctx: ModelContext, items: M[]) {
    super(ctx);
    items.forEach((m, i) => this.items.push(this.registerModule(String(i), m)));
  }
  override describe(): string {
    return `ModuleList(${this.items.length} x ${this.items[0]?.describe() ?? "-"})`;
  }
}

/** The config fields routing reads. */
export type RouteArgs = Pick<
  ModelArgs,
  "n_routed_experts" | "n_activated_experts" | "n_expert_groups" | "n_limited_groups"
>;

/** Pure routing on plain arrays: which experts each token picks (for the Gate and for tests). */
export function routeTokens(
  scores: Float32Array,
  bias: Float32Array | null,
  n: number,
  a: RouteArgs,
): { indices: Int32Array; biased: Float32Array } {
  const indices = new Int32Array(n * a.n_activated_experts);
  const biased = new Float32Array(n * a.n_routed_experts);
  routeInto(scores, bias, n, a, indices, biased);
  return { indices, biased };
}

/** routeTokens into given arrays; `biased` null skips writing the biased scores out. */
function routeInto(
  scores: Float32Array,
  bias: Float32Array | null,
  n: number,
  a: RouteArgs,
  indices: Int32Array,
  biased: Float32Array | null,
): void {
  const E = a.n_routed_experts;
  if (nativeRoute !== null)
    nativeRoute(
      scores,
      bias,
      n,
      E,
      a.n_activated_experts,
      a.n_expert_groups,
      a.n_limited_groups,
      indices,
      biased,
    );
  else routeTokensJs(scores, bias, n, a, indices, biased ?? new Float32Array(n * E));
}

/** The TypeScript router (the reference the native one is tested against); fills indices, biased. */
export function routeTokensJs(
  scores: Float32Array,
  bias: Float32Array | null,
  n: number,
  a: RouteArgs,
  indices: Int32Array,
  biased: Float32Array,
): void {
  const E = a.n_routed_experts;
  const k = a.n_activated_experts;
  const G = a.n_expert_groups;
  const per = E / G;
  // Float32 storage rounds exactly as DeepSeek's float32 tensors do, with no Math.fround.
  const gs = new Float32Array(G);
  const keptGroup = new Uint8Array(G);
  const taken = new Uint8Array(E);
  for (let t = 0; t < n; t++) {
    const o = t * E; // this token's row of `biased` (no subarray views: they cost an allocation each)
    // NaN ranks below every number: it is routed as -inf.
    for (let e = 0; e < E; e++) {
      const v = bias ? scores[o + e] + bias[e] : scores[o + e];
      biased[o + e] = v !== v ? -Infinity : v;
    }
    if (G > 1) {
      for (let g = 0; g < G; g++) {
        let m1 = -Infinity;
        let m2 = -Infinity;
        for (let j = o + g * per, end = j + per; j < end; j++) {
          const v = biased[j];
          if (v > m1) {
            m2 = m1;
            m1 = v;
          } else if (v > m2) m2 = v;
        }
        const v = bias ? m1 + m2 : m1;
        gs[g] = v !== v ? -Infinity : v; // -inf + inf, in a row of infinities
      }
      // Keep the n_limited_groups best groups (ties: lower index), mask the others to -inf.
      keptGroup.fill(0);
      for (let j = 0; j < a.n_limited_groups; j++) {
        let best = -1;
        for (let g = 0; g < G; g++)
          if (keptGroup[g] === 0 && (best < 0 || gs[g] > gs[best])) best = g;
        keptGroup[best] = 1;
      }
      for (let g = 0; g < G; g++)
        if (keptGroup[g] === 0)
          for (let j = o + g * per, end = j + per; j < end; j++) biased[j] = -Infinity;
    }
    // Top-k by repeated scans (k is small): descending score, ties to the lower expert index,
    // the order a stable sort gives, without sorting all E experts per token.
    for (let j = 0; j < k; j++) {
      let best = -1;
      let bv = -Infinity;
      for (let e = 0; e < E; e++)
        if (taken[e] === 0 && (best < 0 || biased[o + e] > bv)) {
          best = e;
          bv = biased[o + e];
        }
      taken[best] = 1;
      indices[t * k + j] = best;
    }
    for (let j = 0; j < k; j++) taken[indices[t * k + j]] = 0;
  }
}

/** How a Gate fires its owner's hook points. */
export interface GateHooks {
  fire(name: string, t: T.Tensor): T.Tensor;
  /** Whether anything observes `name` (so optional activations can be skipped). */
  listening(name: string): boolean;
}
const noHooks: GateHooks = { fire: (_name, t) => t, listening: () => false };

export class Gate extends Module {
  readonly weight: T.Tensor;
  /** Selection bias [E] (routing "noaux_tc"), updated by the balancing rule, not by gradients. */
  readonly bias: T.Tensor | null;

  constructor(
    ctx: ModelContext,
    init: Init,
    readonly args: Readonly<ModelArgs>,
    biased: boolean,
  ) {
    super(ctx);
    this.weight = this.registerParameter("weight", init.normal([args.n_routed_experts, args.dim]));
    this.bias = biased
      ? this.registerParameter("bias", T.zeros([args.n_routed_experts]), false)
      : null;
  }

  /**
   * x [B, T, dim] -> weights [B, T, k], indices int32 [B, T, k]. The hook points belong to the
   * owning MoE (`hooks` fires them on its path); without `hooks` none fire.
   */
  forward(x: T.Tensor, hooks: GateHooks = noHooks): { weights: T.Tensor; indices: T.Tensor } {
    const a = this.args;
    const [B, Tq] = x.shape;
    const E = a.n_routed_experts;
    const k = a.n_activated_experts;
    const logits = T.linear(x, this.weight); // gating stays fp32 (DeepSeek-V3's FP8 recipe)
    let s = a.score_func === "softmax" ? T.softmax(logits, -1) : T.sigmoid(logits);
    s = hooks.fire("hook_router_scores", s);
    if (s.dtype !== "float32") s = s.float();
    // The router reads the scores in place and writes the indices straight into their tensor;
    // the biased scores are only materialised when a hook or a cache asks for them.
    const idxT = T.Tensor._empty("int32", [B, Tq, k]);
    const biasedT = hooks.listening("hook_router_biased_scores")
      ? T.Tensor._empty("float32", [B, Tq, E])
      : null;
    routeInto(
      view(s),
      this.bias ? view(this.bias) : null,
      B * Tq,
      a,
      view(idxT) as unknown as Int32Array,
      biasedT ? view(biasedT) : null,
    );
    if (biasedT) hooks.fire("hook_router_biased_scores", biasedT);
    const idx = hooks.fire("hook_expert_indices", idxT);
    if (idx.dtype !== "int32")
      throw new TypeError("hook_expert_indices: a replacement must be int32");
    const w = hooks.fire("hook_expert_weights", this.weightsOf(s, idx));
    return { weights: w, indices: idx };
  }

  /** The routing weights of the chosen experts (differentiable in the scores). */
  private weightsOf(s: T.Tensor, idx: T.Tensor): T.Tensor {
    this.weightsOp ??= gateWeightsOp(
      this.args.score_func === "sigmoid",
      this.args.route_scale,
      this.hookPath || "gate",
    );
    return this.weightsOp(s, idx);
  }
  private weightsOp: ((...inputs: T.Tensor[]) => T.Tensor) | null = null;

  override describe(): string {
    const a = this.args;
    return `Gate(${a.score_func}, top-${a.n_activated_experts} of ${a.n_routed_experts}, groups ${a.n_expert_groups} keep ${a.n_limited_groups}, route_scale ${a.route_scale}${this.bias ? ", bias" : ""})`;
  }
}

export class MoE extends Module {
  readonly gate: Gate;
  readonly experts: ModuleList<MLP>;
  readonly shared_experts: MLP | null;

  constructor(
    ctx: ModelContext,
    init: Init,
    readonly args: Readonly<ModelArgs>,
    biased: boolean,
  ) {
    super(ctx);
    const a = args;
    this.gate = this.registerModule("gate", new Gate(ctx, init, a, biased));
    const experts: MLP[] = [];
    for (let e = 0; e < a.n_routed_experts; e++)
      experts.push(new MLP(ctx, init, a.dim, a.moe_inter_dim, false));
    this.experts = this.registerModule("experts", new ModuleList(ctx, experts));
    this.shared_experts =
      a.n_shared_experts > 0
        ? this.registerModule(
            "shared_experts",
            new MLP(ctx, init, a.dim, a.n_shared_experts * a.moe_inter_dim),
          )
        : null;
    this.registerHook(
      "hook_router_scores",
      "hook_router_biased_scores",
      "hook_expert_indices",
      "hook_expert_weights",
    );
  }

  /** The gate's view of this module's hook points. */
  private readonly gateHooks: GateHooks = {
    fire: (name, t) => this.hook(name, t),
    listening: (name) => this.listening(name),
  };

  /** x [B, T, dim] -> [B, T, dim] */
  forward(x: T.Tensor): T.Tensor {
    const a = this.args;
    const [B, Tq, D] = x.shape;
    const n = B * Tq;
    const k = a.n_activated_experts;
    const E = a.n_routed_experts;
    const { weights, indices } = this.gate.forward(x, this.gateHooks);
    const g = groupByExpert(view(indices) as unknown as Int32Array, n, k, E, this.hookPath);
    const xf = x.reshape(n, D);
    const xs = T.indexSelect(xf, 0, g.tok); // [n*k, D], grouped by expert
    const outs: T.Tensor[] = [];
    for (let e = 0; e < E; e++) {
      const cnt = g.counts[e + 1] - g.counts[e];
      if (cnt > 0) outs.push(this.experts.items[e].forward(xs.narrow(0, g.counts[e], cnt)));
    }
    // Routed outputs, weighted, are added to the shared experts' output in one op.
    const base = this.shared_experts ? this.shared_experts.forward(xf) : T.zeros([n, D]);
    const y = moeCombine(base, weights.reshape(n * k), g.tok, g.pos, g.inv, g.starts, ...outs);
    return y.reshape(B, Tq, D);
  }

  /** Reference dispatch: a loop over tokens and their experts (slow; for tests). */
  forwardPerToken(x: T.Tensor): T.Tensor {
    const a = this.args;
    const [B, Tq, D] = x.shape;
    const n = B * Tq;
    const k = a.n_activated_experts;
    const { weights, indices } = this.gate.forward(x, this.gateHooks);
    const idx = indices.toArray() as Int32Array;
    const xf = x.reshape(n, D);
    const wf = weights.reshape(n, k);
    const rows: T.Tensor[] = [];
    for (let t = 0; t < n; t++) {
      const xt = xf.narrow(0, t, 1);
      let yt = this.shared_experts ? this.shared_experts.forward(xt) : T.zeros([1, D]);
      for (let j = 0; j < k; j++)
        yt = yt.add(
          this.experts.items[idx[t * k + j]].forward(xt).mul(wf.narrow(0, t, 1).narrow(1, j, 1)),
        );
      rows.push(yt);
    }
    return T.cat(rows, 0).reshape(B, Tq, D);
  }

  override describe(): string {
    const a = this.args;
    return `MoE(${a.n_routed_experts} routed x ${a.moe_inter_dim}, top-${a.n_activated_experts}, ${a.n_shared_experts} shared)`;
  }
}
