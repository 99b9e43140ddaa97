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
 * so each expert runs one GEMM on its gathered rows (indexSelect); results return by indexAdd.
 *
 * Hook points (under `blocks.{L}.moe`): hook_router_scores [B, T, E] (s), hook_router_biased_scores
 * [B, T, E] (sel after group limiting; -inf for dropped groups; read-only: selection is done), hook_expert_indices int32
 * [B, T, k], hook_expert_weights [B, T, k]; shared_experts.hook_post [B, T, n_shared·moe_inter].
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
  biased: Float32Array,
) => void;
/** The native router (native/src/ops_moe.cc): the same rules, without JavaScript's per-element cost. */
const nativeRoute = (loadAddon()?.moeRoute as MoeRoute | undefined) ?? null;

type MoeCombine = (
  out: Float32Array,
  D: number,
  ys: Float32Array,
  rows: number,
  tok: Int32Array,
  pos: Int32Array,
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
 * The MoE combine as one op: y = base + Σ_r w[pos[r]] · ys_e[r] added at row tok[r], over the
 * experts' outputs in grouped order (no concatenation, no separate weighting pass).
 * Inputs: base [n, D], w [n·k] (the routing weights, flat), tok and pos int32 [n·k] (grouped row
 * -> token, -> flat slot), then each expert's output [cnt_e, D] in expert order.
 */
export const moeCombine = T.defineOp({
  name: "moeCombine",
  forward(_ctx, base, w, tok, pos, ...outs) {
    const D = base.shape[1];
    // Pooled buffers: a fresh 1 MB array costs more than the whole scatter (zeroing, page faults).
    const out = T.clone(base);
    const od = view(out);
    const wd = view(w);
    const td = view(tok) as unknown as Int32Array;
    const pd = view(pos) as unknown as Int32Array;
    let start = 0;
    for (const o of outs) {
      const y = view(o);
      const rows = o.shape[0];
      const tt = td.subarray(start, start + rows);
      const pp = pd.subarray(start, start + rows);
      if (nativeCombine !== null) nativeCombine(od, D, y, rows, tt, pp, wd);
      else
        for (let r = 0; r < rows; r++) {
          const row = tt[r] * D;
          const wr = wd[pp[r]];
          for (let j = 0; j < D; j++) od[row + j] += wr * y[r * D + j];
        }
      start += rows;
    }
    return out;
  },
  backward(ctx, g) {
    // Inputs are re-read here (not saved views): autograd guarantees they are not disposed.
    const [base, w, tok, pos, ...outs] = ctx.inputs;
    const D = base.shape[1];
    const gd = view(g);
    const wd = view(w);
    const td = view(tok) as unknown as Int32Array;
    const pd = view(pos) as unknown as Int32Array;
    const dwT = T.Tensor._empty("float32", [...w.shape], true);
    const dw = view(dwT);
    const grads: (T.Tensor | null)[] = [g, null, null, null];
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

/** Pure routing on plain arrays: which experts each token picks (for the Gate and for tests). */
export function routeTokens(
  scores: Float32Array,
  bias: Float32Array | null,
  n: number,
  a: Pick<
    ModelArgs,
    "n_routed_experts" | "n_activated_experts" | "n_expert_groups" | "n_limited_groups"
  >,
): { indices: Int32Array; biased: Float32Array } {
  const E = a.n_routed_experts;
  const k = a.n_activated_experts;
  const G = a.n_expert_groups;
  const indices = new Int32Array(n * k);
  const biased = new Float32Array(n * E);
  if (nativeRoute !== null) {
    nativeRoute(scores, bias, n, E, k, G, a.n_limited_groups, indices, biased);
    return { indices, biased };
  }
  routeTokensJs(scores, bias, n, a, indices, biased);
  return { indices, biased };
}

/** The TypeScript router (the reference the native one is tested against); fills indices, biased. */
export function routeTokensJs(
  scores: Float32Array,
  bias: Float32Array | null,
  n: number,
  a: Pick<
    ModelArgs,
    "n_routed_experts" | "n_activated_experts" | "n_expert_groups" | "n_limited_groups"
  >,
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
    if (bias) for (let e = 0; e < E; e++) biased[o + e] = scores[o + e] + bias[e];
    else for (let e = 0; e < E; e++) biased[o + e] = scores[o + e];
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
        gs[g] = bias ? m1 + m2 : m1;
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
   * x [B, T, dim] -> weights [B, T, k], indices int32 [B, T, k]. The hooks fire on the owning MoE's
   * path (`fire` is the MoE's hook function).
   */
  forward(
    x: T.Tensor,
    fire: (name: string, t: T.Tensor) => T.Tensor,
  ): { weights: T.Tensor; indices: T.Tensor } {
    const a = this.args;
    const [B, Tq] = x.shape;
    const E = a.n_routed_experts;
    const k = a.n_activated_experts;
    const logits = T.linear(x, this.weight); // gating stays fp32 (DeepSeek-V3's FP8 recipe)
    let s = a.score_func === "softmax" ? T.softmax(logits, -1) : T.sigmoid(logits);
    s = fire("hook_router_scores", s);
    const n = B * Tq;
    const { indices, biased } = routeTokens(
      s.toArray() as Float32Array,
      this.bias ? (this.bias.toArray() as Float32Array) : null,
      n,
      a,
    );
    fire("hook_router_biased_scores", T.tensor(biased, { shape: [B, Tq, E] }));
    const idx = fire("hook_expert_indices", T.tensor(indices, { shape: [B, Tq, k] }));
    if (idx.dtype !== "int32")
      throw new TypeError("hook_expert_indices: a replacement must be int32");
    let w = T.gather(s, 2, idx);
    if (a.score_func === "sigmoid") w = w.div(w.sum(-1, true));
    if (a.route_scale !== 1) w = w.mul(a.route_scale);
    w = fire("hook_expert_weights", w);
    return { weights: w, indices: idx };
  }

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

  /** x [B, T, dim] -> [B, T, dim] */
  forward(x: T.Tensor): T.Tensor {
    const a = this.args;
    const [B, Tq, D] = x.shape;
    const n = B * Tq;
    const k = a.n_activated_experts;
    const E = a.n_routed_experts;
    const { weights, indices } = this.gate.forward(x, (name, t) => this.hook(name, t));
    const idx = indices.toArray() as Int32Array;
    for (let i = 0; i < idx.length; i++)
      if (idx[i] < 0 || idx[i] >= E)
        throw new RangeError(`expert index ${idx[i]} out of range [0, ${E}) in ${this.hookPath}`);
    // Counting sort of the n*k (token, slot) pairs by expert, stable in token order.
    const counts = new Int32Array(E + 1);
    for (let i = 0; i < idx.length; i++) counts[idx[i] + 1]++;
    for (let e = 0; e < E; e++) counts[e + 1] += counts[e];
    const tok = new Int32Array(n * k);
    const pos = new Int32Array(n * k);
    const fill = counts.slice(0, E);
    for (let i = 0; i < idx.length; i++) {
      const p = fill[idx[i]]++;
      tok[p] = Math.floor(i / k);
      pos[p] = i;
    }
    const xf = x.reshape(n, D);
    const tokT = T.tensor(tok, { shape: [n * k] });
    const xs = T.indexSelect(xf, 0, tokT); // [n*k, D], grouped by expert
    const outs: T.Tensor[] = [];
    for (let e = 0; e < E; e++) {
      const cnt = counts[e + 1] - counts[e];
      if (cnt > 0) outs.push(this.experts.items[e].forward(xs.narrow(0, counts[e], cnt)));
    }
    // Routed outputs, weighted, are added straight into the shared experts' output in one op.
    const base = this.shared_experts ? this.shared_experts.forward(xf) : T.zeros([n, D]);
    const posT = T.tensor(pos, { shape: [n * k] });
    const y = moeCombine(base, weights.reshape(n * k), tokT, posT, ...outs);
    return y.reshape(B, Tq, D);
  }

  /** Reference dispatch: a loop over tokens and their experts (slow; for tests). */
  forwardPerToken(x: T.Tensor): T.Tensor {
    const a = this.args;
    const [B, Tq, D] = x.shape;
    const n = B * Tq;
    const k = a.n_activated_experts;
    const { weights, indices } = this.gate.forward(x, (name, t) => this.hook(name, t));
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
