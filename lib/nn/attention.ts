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
import { softmaxScale, type ModelArgs } from "../model/config.js";
import { Init, Linear, RMSNorm } from "./layers.js";
import { Module, type ModelContext } from "./module.js";

/**
 * One layer's latent KV cache: kv_norm(c_kv) [B, S, c] and the rotated k_pe [B, S, rope] of every
 * position so far, in buffers that grow by doubling (appending copies only the new positions).
 * The buffers are its own: they survive `tidy` scopes and are freed by `dispose()` (or when the
 * cache is garbage-collected). For inference: appending runs without autograd.
 */
export class LatentKV {
  private kvBuf: T.Tensor | null = null;
  private peBuf: T.Tensor | null = null;
  private len = 0;

  /** Positions held. */
  get length(): number {
    return this.len;
  }
  /** Capacity in positions before the buffers grow. */
  get capacity(): number {
    return this.kvBuf ? this.kvBuf.shape[1] : 0;
  }
  /** kv_norm(c_kv) of the positions held [B, S, c] (a view; valid until the next change), or null. */
  get kv(): T.Tensor | null {
    return this.kvBuf && this.len > 0 ? this.kvBuf.narrow(1, 0, this.len) : null;
  }
  /** Rotated k_pe of the positions held [B, S, rope] (a view), or null. */
  get pe(): T.Tensor | null {
    return this.peBuf && this.len > 0 ? this.peBuf.narrow(1, 0, this.len) : null;
  }
  /** Elements held (B x S x (c + rope)). */
  get elements(): number {
    if (!this.kvBuf || !this.peBuf) return 0;
    return this.kvBuf.shape[0] * this.len * (this.kvBuf.shape[2] + this.peBuf.shape[2]);
  }

  /** Appends kv [B, n, c] and pe [B, n, rope]; returns views of everything held. */
  append(kv: T.Tensor, pe: T.Tensor): { kv: T.Tensor; pe: T.Tensor } {
    const [B, n, c] = kv.shape;
    const r = pe.shape[2];
    if (pe.shape[0] !== B || pe.shape[1] !== n)
      throw new RangeError(
        `latent cache: k_pe [${pe.shape.join(", ")}] does not match c_kv [${kv.shape.join(", ")}]`,
      );
    if (this.kvBuf && this.peBuf) {
      const [B0, , c0] = this.kvBuf.shape;
      if (B !== B0 || c !== c0 || r !== this.peBuf.shape[2])
        throw new RangeError(
          `latent cache holds [${B0}, ${this.len}, ${c0}] + rope ${this.peBuf.shape[2]}; cannot append [${B}, ${n}, ${c}] + rope ${r}`,
        );
    }
    T.noGrad(() => {
      if (this.len + n > this.capacity) {
        const cap = Math.max(16, this.len + n, 2 * this.capacity);
        const grow = (old: T.Tensor | null, width: number): T.Tensor => {
          const buf = T.keep(T.zeros([B, cap, width]));
          if (old) {
            if (this.len > 0) buf.narrow(1, 0, this.len).copy_(old.narrow(1, 0, this.len));
            old.dispose();
          }
          return buf;
        };
        this.kvBuf = grow(this.kvBuf, c);
        this.peBuf = grow(this.peBuf, r);
      }
      this.kvBuf!.narrow(1, this.len, n).copy_(kv);
      this.peBuf!.narrow(1, this.len, n).copy_(pe);
    });
    this.len += n;
    return { kv: this.kv!, pe: this.pe! };
  }

  /** Keeps the first n positions (drops the rest, e.g. a rejected draft). */
  truncate(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > this.len)
      throw new RangeError(`latent cache: cannot truncate ${this.len} positions to ${n}`);
    this.len = n;
  }

  /** Frees the buffers; the cache is empty and usable again. */
  dispose(): void {
    this.kvBuf?.dispose();
    this.peBuf?.dispose();
    this.kvBuf = null;
    this.peBuf = null;
    this.len = 0;
  }
}

export interface AttnInputs {
  /** cos, sin [T, rope/2] for the query positions. */
  cos: T.Tensor;
  sin: T.Tensor;
  /** Additive mask broadcastable to [B, H, T, S] (0 or a large negative), or null. */
  mask: T.Tensor | null;
  /** When given, keys/values are appended to it and attention runs over all of it (absorb path). */
  cache?: LatentKV;
}

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
    const [cRaw, kPeRaw] = kv.split([c, rope], -1);
    let cKv = this.hook("hook_kv_latent", this.kv_norm.forward(cRaw.contiguous()));
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
    const qN = qNope.permute(0, 2, 1, 3); // [B, H, T, nope]
    const qP = qPe.permute(0, 2, 1, 3); // [B, H, T, rope]
    const scorePe = qP.matmul(kPe.unsqueeze(1).transpose(-2, -1)); // [B, H, T, S]
    let scoreN: T.Tensor;
    let v: T.Tensor | null = null;
    const wb = this.wkv_b.weight.reshape(H, nope + dv, c);
    if (impl === "naive") {
      const kvb = this.wkv_b.forward(cKv).reshape(B, S, H, nope + dv);
      const [kN, vv] = kvb.split([nope, dv], -1);
      scoreN = qN.matmul(kN.permute(0, 2, 3, 1)); // [B, H, nope, S]
      v = vv.permute(0, 2, 1, 3); // [B, H, S, dv]
    } else {
      const qLat = qN.matmul(wb.narrow(1, 0, nope)); // [B, H, T, c]
      scoreN = qLat.matmul(cKv.unsqueeze(1).transpose(-2, -1));
    }
    let scores = scoreN.add(scorePe).mul(this.scale);
    if (inp.mask) scores = scores.add(inp.mask);
    scores = this.hook("hook_attn_scores", scores);
    const probs = this.hook("hook_pattern", T.softmax(scores, -1));
    let z: T.Tensor;
    if (v !== null) z = probs.matmul(v);
    else {
      const oLat = probs.matmul(cKv.unsqueeze(1)); // [B, H, T, c]
      z = oLat.matmul(wb.narrow(1, nope, dv).transpose(-2, -1)); // [B, H, T, dv]
    }
    z = this.hook("hook_z", z.permute(0, 2, 1, 3));
    return this.wo.forward(z.reshape(B, Tq, H * dv));
  }

  override describe(): string {
    const a = this.args;
    return `MLA(heads ${a.n_heads}, q_lora ${a.q_lora_rank}, kv_lora ${a.kv_lora_rank}, nope/rope/v ${a.qk_nope_head_dim}/${a.qk_rope_head_dim}/${a.v_head_dim})`;
  }
}
