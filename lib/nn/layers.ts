/**
 * The basic layers of DeepSeek-V3's model: Linear (no bias; GEMM precision from the model),
 * RMSNorm (eps 1e-6), Embedding, and the SwiGLU MLP (w1 gate, w3 up, w2 down).
 */
import * as T from "../tensor/index.js";
import { linear } from "../fp8/index.js";
import { Module, type ModelContext } from "./module.js";

/** Seeded weight initialisation: each call draws from its own Philox stream. */
export class Init {
  private n = 0;
  constructor(
    readonly seed: number,
    readonly std: number,
  ) {}

  /** Normal(0, std) weights of the given shape. */
  normal(shape: number[], std = this.std): T.Tensor {
    // Distinct seeds per tensor, deterministic in construction order.
    const seed = (this.seed * 7919 + 104729 * ++this.n) >>> 0;
    return T.randn(shape, { seed, std });
  }
}

/** y = x · Wᵀ, W [out, in]; no bias. `highPrecision` keeps fp32 GEMMs (gate, head, eh_proj). */
export class Linear extends Module {
  readonly weight: T.Tensor;
  constructor(
    ctx: ModelContext,
    init: Init,
    readonly inFeatures: number,
    readonly outFeatures: number,
    readonly highPrecision = false,
  ) {
    super(ctx);
    this.weight = this.registerParameter("weight", init.normal([outFeatures, inFeatures]));
  }

  /** x [..., in] -> [..., out] */
  forward(x: T.Tensor): T.Tensor {
    return linear(x, this.weight, this.highPrecision ? "fp32" : this.ctx.precision);
  }

  override describe(): string {
    return `Linear(${this.inFeatures} -> ${this.outFeatures}${this.highPrecision ? ", fp32" : ""})`;
  }
}

/** y = w ⊙ x / sqrt(mean(x²) + eps); weight initialised to 1. */
export class RMSNorm extends Module {
  readonly weight: T.Tensor;
  constructor(
    ctx: ModelContext,
    readonly dim: number,
    readonly eps = 1e-6,
  ) {
    super(ctx);
    this.weight = this.registerParameter("weight", T.ones([dim]));
  }

  forward(x: T.Tensor): T.Tensor {
    return T.rmsNorm(x, this.weight, this.eps);
  }

  override describe(): string {
    return `RMSNorm(${this.dim})`;
  }
}

/** Token embedding, weight [V, D]. */
export class Embedding extends Module {
  readonly weight: T.Tensor;
  constructor(
    ctx: ModelContext,
    init: Init,
    readonly numEmbeddings: number,
    readonly dim: number,
  ) {
    super(ctx);
    this.weight = this.registerParameter("weight", init.normal([numEmbeddings, dim]));
  }

  /** ids int32 [...] -> [..., D] */
  forward(ids: T.Tensor): T.Tensor {
    return T.embedding(this.weight, ids);
  }

  override describe(): string {
    return `Embedding(${this.numEmbeddings}, ${this.dim})`;
  }
}

/** SwiGLU MLP: w2(silu(w1 x) ⊙ w3 x). Hook point `hook_post` [..., inter]: the product fed to w2. */
export class MLP extends Module {
  readonly w1: Linear;
  readonly w2: Linear;
  readonly w3: Linear;
  constructor(
    ctx: ModelContext,
    init: Init,
    readonly dim: number,
    readonly interDim: number,
    hooks = true,
  ) {
    super(ctx);
    this.w1 = this.registerModule("w1", new Linear(ctx, init, dim, interDim));
    this.w2 = this.registerModule("w2", new Linear(ctx, init, interDim, dim));
    this.w3 = this.registerModule("w3", new Linear(ctx, init, dim, interDim));
    if (hooks) this.registerHook("hook_post");
    this.hooked = hooks;
  }
  private readonly hooked: boolean;

  /** x [..., dim] -> [..., dim] */
  forward(x: T.Tensor): T.Tensor {
    let h = T.swiglu(this.w1.forward(x), this.w3.forward(x));
    if (this.hooked) h = this.hook("hook_post", h);
    return this.w2.forward(h);
  }

  override describe(): string {
    return `MLP(${this.dim} -> ${this.interDim} -> ${this.dim}, SwiGLU)`;
  }
}
