/**
 * Multi-head Latent Attention (DeepSeek-V2/V3).
 *
 *   q        = wq(x) | wq_b(q_norm(wq_a(x)))          [B, T, H, nope + rope]  (q_lora_rank 0: plain wq)
 *   c_kv     = kv_norm(wkv_a(x)[..., :kv_lora_rank])   [B, T, c]
 *   k_pe     = RoPE(wkv_a(x)[..., c:])                 [B, T, rope]  (one head, shared by all heads)
 *   naive:   [k_nope; v] = wkv_b(c_kv), score = q_nope·k_nope + q_pe·k_pe
 *   absorb:  score = (W_UKᵀ q_nope)·c_kv + q_pe·k_pe, o = W_UV (Σ p c_kv)  (attention in latent space)
 *   out      = wo(concat_h o_h)
 *
 * Hook points (under `blocks.{L}.attn`): hook_q [B, T, H, nope + rope] (before RoPE),
 * hook_kv_latent [B, T, c] (kv_norm(c_kv)), hook_k_pe [B, T, rope] (rotated), hook_attn_scores
 * [B, H, T, S] (scaled, masked), hook_pattern [B, H, T, S], hook_z [B, T, H, v_head_dim].
 */
import * as T from "../tensor/index.js";
import { softmaxScale, type ModelArgs } from "../config/index.js";
import { Init, Linear, RMSNorm } from "./layers.js";
import type { LatentKV } from "./latent-kv.js";
import { Module, type ModelContext } from "./module.js";

export interface AttnInputs {
  /** cos, sin [T, rope/2] for the query positions. */
  cos: T.Tensor;
  sin: T.Tensor;
  /** Additive mask broadcastable to [B, H, T, S] (0 or a large negative), or null. */
  mask: T.Tensor | null;
  /** When given, keys/values are appended to it and attention runs over all of it (absorb path). */
  cache?: LatentKV;
}

/**
 * Multi-head Latent Attention, as DeepSeek's `MLA`.
 *
 * Attributes: `wq` [H·(nope + rope), dim] when q_lora_rank is 0, else `wq_a` [q_lora_rank, dim],
 * `q_norm` and `wq_b` [H·(nope + rope), q_lora_rank]; `wkv_a` [kv_lora_rank + rope, dim] (c_kv and
 * the shared k_pe), `kv_norm`, `wkv_b` [H·(nope + v), kv_lora_rank] (W_UK and W_UV per head),
 * `wo` [dim, H·v]; `scale`, the softmax scale (YaRN's mscale² included when active).
 */
export class MLA extends Module {
  readonly wq: Linear | null = null;
  readonly wq_a: Linear | null = null;
  readonly q_norm: RMSNorm | null = null;
  readonly wq_b: Linear | null = null;
  readonly wkv_a: Linear;
  readonly kv_norm: RMSNorm;
  readonly wkv_b: Linear;
  readonly wo: Linear;
  readonly scale: number;
  private readonly H: number;
  private readonly nope: number;
  private readonly rope: number;
  private readonly dv: number;
  private readonly c: number;

  constructor(
    ctx: ModelContext,
    init: Init,
    readonly args: Readonly<ModelArgs>,
  ) {
    super(ctx);
    const a = args;
    this.H = a.n_heads;
    this.nope = a.qk_nope_head_dim;
    this.rope = a.qk_rope_head_dim;
    this.dv = a.v_head_dim;
    this.c = a.kv_lora_rank;
    const qk = this.nope + this.rope;
    if (a.q_lora_rank === 0)
      this.wq = this.registerModule("wq", new Linear(ctx, init, a.dim, a.n_heads * qk));
    else {
      this.wq_a = this.registerModule("wq_a", new Linear(ctx, init, a.dim, a.q_lora_rank));
      this.q_norm = this.registerModule("q_norm", new RMSNorm(ctx, a.q_lora_rank));
      this.wq_b = this.registerModule("wq_b", new Linear(ctx, init, a.q_lora_rank, a.n_heads * qk));
    }
    this.wkv_a = this.registerModule("wkv_a", new Linear(ctx, init, a.dim, this.c + this.rope));
    this.kv_norm = this.registerModule("kv_norm", new RMSNorm(ctx, this.c));
    this.wkv_b = this.registerModule(
      "wkv_b",
      new Linear(ctx, init, this.c, a.n_heads * (this.nope + this.dv)),
    );
    this.wo = this.registerModule("wo", new Linear(ctx, init, a.n_heads * this.dv, a.dim));
    this.scale = softmaxScale(a);
    this.registerHook(
      "hook_q",
      "hook_kv_latent",
      "hook_k_pe",
      "hook_attn_scores",
      "hook_pattern",
      "hook_z",
    );
  }

  /** x [B, T, dim] -> [B, T, dim] */
  forward(x: T.Tensor, inp: AttnInputs, impl: "naive" | "absorb" = this.ctx.attnImpl): T.Tensor {
    const [B, Tq] = x.shape;
    const { H, nope, rope, dv, c } = this;
    let q =
      this.wq !== null
        ? this.wq.forward(x)
        : this.wq_b!.forward(this.q_norm!.forward(this.wq_a!.forward(x)));
    q = this.hook("hook_q", q.reshape(B, Tq, H, nope + rope));
    const [qNope, qPeRaw] = q.split([nope, rope], -1);
    const qPe = T.rope(qPeRaw.contiguous(), inp.cos, inp.sin);
    const kv = this.wkv_a.forward(x);
    const [cKvRaw, kPeRaw] = kv.split([c, rope], -1);
    let cKv = this.hook("hook_kv_latent", this.kv_norm.forward(cKvRaw.contiguous()));
    let kPe = this.hook("hook_k_pe", T.rope(kPeRaw.contiguous(), inp.cos, inp.sin));
    if (inp.cache) {
      impl = "absorb";
      if (T.isGradEnabled() && (cKv.requiresGrad || kPe.requiresGrad))
        throw new Error(
          `${this.hookPath || "attention"}: the latent KV cache is for inference; run cached steps under noGrad`,
        );
      ({ kv: cKv, pe: kPe } = inp.cache.append(cKv, kPe));
    }
    const S = cKv.shape[1];
    const qNopeH = qNope.permute(0, 2, 1, 3); // [B, H, T, nope]
    const qPeH = qPe.permute(0, 2, 1, 3); // [B, H, T, rope]
    const scorePe = qPeH.matmul(kPe.unsqueeze(1).transpose(-2, -1)); // [B, H, T, S]
    let scoreNope: T.Tensor;
    let vH: T.Tensor | null = null;
    const wkvB = this.wkv_b.weight.reshape(H, nope + dv, c); // per head: [W_UK; W_UV]
    if (impl === "naive") {
      const kvB = this.wkv_b.forward(cKv).reshape(B, S, H, nope + dv);
      const [kNope, v] = kvB.split([nope, dv], -1);
      scoreNope = qNopeH.matmul(kNope.permute(0, 2, 3, 1)); // [B, H, T, S]
      vH = v.permute(0, 2, 1, 3); // [B, H, S, dv]
    } else {
      const qLatent = qNopeH.matmul(wkvB.narrow(1, 0, nope)); // W_UKᵀ q_nope: [B, H, T, c]
      scoreNope = qLatent.matmul(cKv.unsqueeze(1).transpose(-2, -1)); // [B, H, T, S]
    }
    let scores = scoreNope.add(scorePe).mul(this.scale);
    if (inp.mask) scores = scores.add(inp.mask);
    scores = this.hook("hook_attn_scores", scores);
    const probs = this.hook("hook_pattern", T.softmax(scores, -1));
    let z: T.Tensor;
    if (vH !== null) z = probs.matmul(vH);
    else {
      const oLatent = probs.matmul(cKv.unsqueeze(1)); // [B, H, T, c]
      z = oLatent.matmul(wkvB.narrow(1, nope, dv).transpose(-2, -1)); // W_UV o: [B, H, T, dv]
    }
    z = this.hook("hook_z", z.permute(0, 2, 1, 3));
    return this.wo.forward(z.reshape(B, Tq, H * dv));
  }

  override describe(): string {
    const a = this.args;
    return `MLA(heads ${a.n_heads}, q_lora ${a.q_lora_rank}, kv_lora ${a.kv_lora_rank}, nope/rope/v ${a.qk_nope_head_dim}/${a.qk_rope_head_dim}/${a.v_head_dim})`;
  }
}
