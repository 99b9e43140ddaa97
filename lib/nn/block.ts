/**
 * Block (pre-norm): x += attn(attn_norm(x)); x += ffn(ffn_norm(x)), the ffn a dense SwiGLU MLP in
 * the first n_dense_layers and MoE after. MTP module: a Block with its input projection.
 *
 * Hook points (under `blocks.{L}`, or `mtp.{k}` for MTP module k): hook_resid_pre, hook_attn_out,
 * hook_resid_mid, hook_mlp_out, hook_resid_post (all [B, T, dim]); the attention's under `.attn`,
 * the FFN's under `.mlp` (dense) or `.moe`.
 */
import * as T from "../tensor/index.js";
import { isDenseLayer, type ModelArgs } from "../config/index.js";
import { MLA, type AttnInputs } from "./attention.js";
import { Init, Linear, MLP, RMSNorm } from "./layers.js";
import { Module, type ModelContext } from "./module.js";
import { MoE } from "./moe.js";

/**
 * One pre-norm Transformer block, as DeepSeek's `Block`.
 *
 * Attributes: `attn_norm`, `attn` (MLA), `ffn_norm`, `ffn` (a dense SwiGLU MLP of width inter_dim
 * in the first n_dense_layers, an MoE after), `layer` (its index in DeepSeek's numbering; the MTP
 * modules continue after the main layers).
 */
export class Block extends Module {
  readonly attn_norm: RMSNorm;
  readonly attn: MLA;
  readonly ffn_norm: RMSNorm;
  readonly ffn: MLP | MoE;

  /** layer: index in DeepSeek's numbering (MTP module k is layer n_layers + k). */
  constructor(
    ctx: ModelContext,
    init: Init,
    readonly args: Readonly<ModelArgs>,
    readonly layer: number,
    biased: boolean,
  ) {
    super(ctx);
    this.attn_norm = this.registerModule("attn_norm", new RMSNorm(ctx, args.dim));
    this.attn = this.registerModule("attn", new MLA(ctx, init, args));
    this.ffn_norm = this.registerModule("ffn_norm", new RMSNorm(ctx, args.dim));
    this.ffn = isDenseLayer(args, layer)
      ? this.registerModule("ffn", new MLP(ctx, init, args.dim, args.inter_dim), "mlp")
      : this.registerModule("ffn", new MoE(ctx, init, args, biased), "moe");
    this.registerHook(
      "hook_resid_pre",
      "hook_attn_out",
      "hook_resid_mid",
      "hook_mlp_out",
      "hook_resid_post",
    );
  }

  /** The MoE layer under its hook name (`blocks.{L}.moe`), or null in a dense layer. */
  get moe(): MoE | null {
    return this.ffn instanceof MoE ? this.ffn : null;
  }

  /** The dense MLP under its hook name (`blocks.{L}.mlp`), or null in an MoE layer. */
  get mlp(): MLP | null {
    return this.ffn instanceof MoE ? null : this.ffn;
  }

  /** x [B, T, dim] -> [B, T, dim] */
  forward(x: T.Tensor, inp: AttnInputs): T.Tensor {
    x = this.hook("hook_resid_pre", x);
    const a = this.hook("hook_attn_out", this.attn.forward(this.attn_norm.forward(x), inp));
    x = this.hook("hook_resid_mid", x.add(a));
    const f = this.hook("hook_mlp_out", this.ffn.forward(this.ffn_norm.forward(x)));
    return this.hook("hook_resid_post", x.add(f));
  }

  override describe(): string {
    return `Block ${this.layer} (${this.ffn instanceof MoE ? "MoE" : "dense"})`;
  }
}

/** RMSNorm holder so the MTP output norm is named `shared_head.norm` as in DeepSeek's release. */
export class SharedHead extends Module {
  readonly norm: RMSNorm;
  constructor(ctx: ModelContext, dim: number) {
    super(ctx);
    this.norm = this.registerModule("norm", new RMSNorm(ctx, dim));
  }
}

/**
 * A Multi-Token Prediction module (DeepSeek-V3 §2.2): module k predicts token i + k + 2 from the
 * previous depth's hidden state at i and the embedding of token i + k + 1:
 *   h' = eh_proj([enorm(emb(t_{i+k+1})) ; hnorm(h_prev_i)])   (embedding first, as DeepSeek's
 *        released eh_proj expects), then its own Block; shared_head.norm before the shared head.
 *
 * Attributes (beside the Block's): `enorm`, `hnorm`, `eh_proj` [dim, 2·dim] (fp32),
 * `shared_head` (its norm; the embedding and output head are the main model's).
 * Extra hook points: hook_in [B, T-k-1, dim] (eh_proj's output), hook_logits [B, T-k-1, V].
 */
export class MTPModule extends Block {
  readonly enorm: RMSNorm;
  readonly hnorm: RMSNorm;
  readonly eh_proj: Linear;
  readonly shared_head: SharedHead;

  constructor(
    ctx: ModelContext,
    init: Init,
    args: Readonly<ModelArgs>,
    layer: number,
    biased: boolean,
  ) {
    super(ctx, init, args, layer, biased);
    this.enorm = this.registerModule("enorm", new RMSNorm(ctx, args.dim));
    this.hnorm = this.registerModule("hnorm", new RMSNorm(ctx, args.dim));
    this.eh_proj = this.registerModule(
      "eh_proj",
      new Linear(ctx, init, 2 * args.dim, args.dim, true),
    );
    this.shared_head = this.registerModule("shared_head", new SharedHead(ctx, args.dim));
    this.registerHook("hook_in", "hook_logits");
  }

  /** emb [B, n, dim] (embeddings of t_{i+k}), prev [B, n, dim] -> normed h^k [B, n, dim] and raw h^k. */
  step(emb: T.Tensor, prev: T.Tensor, inp: AttnInputs): { h: T.Tensor; normed: T.Tensor } {
    const x = this.hook(
      "hook_in",
      this.eh_proj.forward(T.cat([this.enorm.forward(emb), this.hnorm.forward(prev)], -1)),
    );
    const h = this.forward(x, inp);
    return { h, normed: this.shared_head.norm.forward(h) };
  }

  /** Fires hook_logits. */
  logitsHook(t: T.Tensor): T.Tensor {
    return this.hook("hook_logits", t);
  }

  override describe(): string {
    return `MTP module (layer ${this.layer}, ${this.ffn instanceof MoE ? "MoE" : "dense"})`;
  }
}
