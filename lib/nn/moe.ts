/**
 * DeepSeekMoE: the Gate (router) and the MoE layer (shared experts + routed SwiGLU experts).
 *
 * Gate, per token x:
 *   s   = softmax(W x) | sigmoid(W x)          scores [E]
 *   idx = the group-limited top-k of s + bias  (lib/nn/router.ts; the bias only chooses)
 *   w   = s[idx] (unbiased), / Σ w for sigmoid, × route_scale
 *
 * MoE: y = Σ_i w_i Expert_idx_i(x) + Shared(x). No token is dropped. Tokens are sorted by expert
 * (groupByExpert) so each expert runs one GEMM on its gathered rows; moeCombine adds the weighted
 * rows back into the shared experts' output, gathered per token (lib/tensor/ops/moe.ts).
 */
import * as T from "../tensor/index.js";
import { gateWeightsOp, groupByExpert, moeCombine } from "../tensor/ops/moe.js";
import type { ModelArgs } from "../config/index.js";
import { Init, MLP } from "./layers.js";
import { Module, ModuleList, type ModelContext } from "./module.js";
import { routeInto } from "./router.js";

/** The float32 elements of t in order: its storage itself when contiguous (read only!). */
const view = (t: T.Tensor): Float32Array => t._contiguousData() as Float32Array;

/**
 * The router of one MoE layer, as DeepSeek's `Gate`.
 *
 * Attributes: `weight` [E, dim] (the expert centroids e_i; gating stays fp32 under every
 * precision), `bias` [E] or null (the selection bias of auxiliary-loss-free balancing, "noaux_tc"
 * routing; changed by the balancing rule, never by gradients), `args` (score_func, top-k, groups,
 * route_scale).
 *
 * Hook points (under `blocks.{L}.moe`, the MoE's path): hook_router_scores [B, T, E] (s);
 * hook_router_biased_scores [B, T, E] (s + bias after group limiting, -inf for dropped groups and
 * NaN scores; read-only, as selection is done; built only when a hook or a cache asks for it);
 * hook_expert_indices int32 [B, T, k]; hook_expert_weights [B, T, k].
 */
export class Gate extends Module {
  readonly weight: T.Tensor;
  readonly bias: T.Tensor | null;
  private weightsOp: ((...inputs: T.Tensor[]) => T.Tensor) | null = null;

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
    this.registerHook(
      "hook_router_scores",
      "hook_router_biased_scores",
      "hook_expert_indices",
      "hook_expert_weights",
    );
  }

  /** x [B, T, dim] -> weights [B, T, k], indices int32 [B, T, k]. */
  forward(x: T.Tensor): { weights: T.Tensor; indices: T.Tensor } {
    const a = this.args;
    const [B, Tq] = x.shape;
    const E = a.n_routed_experts;
    const k = a.n_activated_experts;
    const logits = T.linear(x, this.weight); // gating stays fp32 (DeepSeek-V3's FP8 recipe)
    let s = a.score_func === "softmax" ? T.softmax(logits, -1) : T.sigmoid(logits);
    s = this.hook("hook_router_scores", s);
    if (s.dtype !== "float32") s = s.float();
    // The router reads the scores in place and writes the indices straight into their tensor.
    const idxT = T.Tensor._empty("int32", [B, Tq, k]);
    const biasedT = this.listening("hook_router_biased_scores")
      ? T.Tensor._empty("float32", [B, Tq, E])
      : null;
    routeInto(
      view(s),
      this.bias ? view(this.bias) : null,
      B * Tq,
      a,
      idxT._contiguousData() as Int32Array,
      biasedT ? view(biasedT) : null,
    );
    if (biasedT) this.hook("hook_router_biased_scores", biasedT);
    const indices = this.hook("hook_expert_indices", idxT);
    if (indices.dtype !== "int32")
      throw new TypeError("hook_expert_indices: a replacement must be int32");
    const weights = this.hook("hook_expert_weights", this.weightsOf(s, indices));
    const observe = this.ctx.onRoute;
    if (observe) {
      // The observer's tensors (and what it makes) are its own, not the forward's graph scope's.
      T.markEscaped(s);
      T.markEscaped(indices);
      T.outsideGraph(() => observe({ gate: this, bias: this.bias, scores: s, indices }));
    }
    return { weights, indices };
  }

  /** The routing weights of the chosen experts (differentiable in the scores). */
  private weightsOf(s: T.Tensor, indices: T.Tensor): T.Tensor {
    this.weightsOp ??= gateWeightsOp(
      this.args.score_func === "sigmoid",
      this.args.route_scale,
      this.hookPath || "gate",
    );
    return this.weightsOp(s, indices);
  }

  override describe(): string {
    const a = this.args;
    return `Gate(${a.score_func}, top-${a.n_activated_experts} of ${a.n_routed_experts}, groups ${a.n_expert_groups} keep ${a.n_limited_groups}, route_scale ${a.route_scale}${this.bias ? ", bias" : ""})`;
  }
}

/**
 * A DeepSeekMoE layer, as DeepSeek's `MoE`: y = Σ_i w_i Expert_idx_i(x) + Shared(x).
 *
 * Attributes: `gate` (the router), `experts` (n_routed_experts SwiGLU MLPs of width
 * moe_inter_dim, `experts.{E}` in checkpoints), `shared_experts` (one SwiGLU MLP of width
 * n_shared_experts · moe_inter_dim, or null).
 *
 * Hook points (under `blocks.{L}.moe`): the gate's (see Gate), and shared_experts.hook_post
 * [B, T, n_shared · moe_inter].
 */
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
    // The gate's hook points are the layer's own (`blocks.{L}.moe.hook_router_scores`).
    this.gate = this.registerModule("gate", new Gate(ctx, init, a, biased), "");
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
  }

  /** x [B, T, dim] -> [B, T, dim] */
  forward(x: T.Tensor): T.Tensor {
    const a = this.args;
    const [B, Tq, D] = x.shape;
    const n = B * Tq;
    const k = a.n_activated_experts;
    const E = a.n_routed_experts;
    const { weights, indices } = this.gate.forward(x);
    const g = groupByExpert(indices._contiguousData() as Int32Array, n, k, E, this.hookPath);
    const xf = x.reshape(n, D);
    const xs = T.indexSelect(xf, 0, g.tok); // [n·k, D], grouped by expert
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
    const { weights, indices } = this.gate.forward(x);
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
