/**
 * Reading the residual stream (TransformerLens's logit lens, decompose_resid and direct logit
 * attribution), for DeepSeek's pre-norm blocks:
 *   resid_post_L = embed + Σ_{l ≤ L} (attn_out_l + mlp_out_l)
 *   attn_out_l   = Σ_h wo[:, h] z_h                       (one term per head)
 *   moe out      = shared(x) + Σ_e w_e · expert_e(x)        (x = ffn_norm(resid_mid), one term per expert)
 * Logit lens: head(norm(resid)) after each block. Direct logit attribution: the final norm's scale
 * 1/rms(final residual) is frozen (as TransformerLens freezes LayerNorm's), so each component's
 * share of a logit (difference) is linear and the shares sum to it exactly, up to float rounding.
 */
import * as T from "../tensor/index.js";
import type { Tokens, Transformer } from "../model/index.js";
import type { TextTokenizer } from "../model/index.js";
import { checkIndex, f32, tokenLabel } from "./common.js";
import { displayBundle } from "./display.js";

/** The residual stream split into its additive parts (each [B, T, dim]). */
export class ResidualDecomposition {
  constructor(
    /** "embed", "L0 attn", "L0 mlp" (dense) or "L0 moe", ... */
    readonly labels: string[],
    readonly components: T.Tensor[],
    /** The residual they sum to (blocks.{layer-1}.hook_resid_post; the embedding for layer 0). */
    readonly total: T.Tensor,
  ) {}

  /** The components' sum (equal to `total` up to float rounding). */
  sum(): T.Tensor {
    return T.noGrad(() => this.components.reduce((a, b) => a.add(b)));
  }

  /** The L2 norm of each component at one (batch row, position). */
  norms(batch = 0, position = -1): number[] {
    const [B, Tq, D] = this.total.shape;
    checkIndex(batch, B, "norms: batch");
    const p = position < 0 ? Tq + position : position;
    checkIndex(p, Tq, "norms: position");
    return this.components.map((c) => {
      const v = f32(c);
      let s = 0;
      for (let i = (batch * Tq + p) * D, e = i + D; i < e; i++) s += v[i] * v[i];
      return Math.sqrt(s);
    });
  }

  toString(): string {
    const n = this.norms();
    return [
      `Residual stream: ${this.labels.length} components, [${this.total.shape.join(", ")}]; norms at the last position of row 0:`,
      ...this.labels.map((l, i) => `  ${l.padEnd(10)} ${n[i].toFixed(4)}`),
    ].join("\n");
  }

  [Symbol.for("Jupyter.display")](): Record<string, string> {
    return { "text/plain": this.toString() };
  }
}

const blockName = (model: Transformer, L: number): string =>
  `L${L} ${model.blocks[L].moe ? "moe" : "mlp"}`;

/**
 * The residual stream before block `layer` (default: after the last block, the final residual
 * the norm and head read) as embed + each attention + each MLP/MoE output.
 */
export function decomposeResidual(
  model: Transformer,
  tokens: Tokens,
  opts: { layer?: number } = {},
): ResidualDecomposition {
  const nL = model.blocks.length;
  const layer = opts.layer ?? nL;
  checkIndex(layer, nL + 1, "decomposeResidual: layer");
  const names = ["hook_embed"];
  for (let L = 0; L < layer; L++)
    names.push(`blocks.${L}.hook_attn_out`, `blocks.${L}.hook_mlp_out`);
  const totalName = layer === 0 ? "hook_embed" : `blocks.${layer - 1}.hook_resid_post`;
  const { cache } = model.runWithCache(tokens, { names: [...names, totalName] });
  const labels = ["embed"];
  for (let L = 0; L < layer; L++) labels.push(`L${L} attn`, blockName(model, L));
  return new ResidualDecomposition(
    labels,
    names.map((n) => cache.get(n)),
    cache.get(totalName),
  );
}

/** The logits each layer's residual would give, read through the final norm and head. */
export class LogitLens {
  constructor(
    /** "embed", "L0", ..., one per residual read (the last is the model's own output). */
    readonly labels: string[],
    /** [labels, B, T, V] */
    readonly logits: T.Tensor,
    readonly tokens: T.Tensor,
    readonly tokenizer: TextTokenizer | null,
  ) {}

  private row(layer: number, batch: number, position: number): Float32Array {
    const [nR, B, Tq, V] = this.logits.shape;
    checkIndex(layer, nR, "logitLens: layer row");
    checkIndex(batch, B, "logitLens: batch");
    const p = position < 0 ? Tq + position : position;
    checkIndex(p, Tq, "logitLens: position");
    const o = ((layer * B + batch) * Tq + p) * V;
    return f32(this.logits).subarray(o, o + V);
  }

  /** log p(id) at (batch, position) for each residual read, in `labels` order. */
  logProbs(id: number, batch = 0, position = -1): number[] {
    return this.labels.map((_, l) => {
      const r = this.row(l, batch, position);
      checkIndex(id, r.length, "logitLens: token id");
      return r[id] - logSumExp(r);
    });
  }

  /** The k most likely next tokens at (batch, position), per residual read. */
  top(k = 5, batch = 0, position = -1): { id: number; text: string; prob: number }[][] {
    return this.labels.map((_, l) => {
      const r = this.row(l, batch, position);
      const lse = logSumExp(r);
      return [...r.keys()]
        .sort((a, b) => r[b] - r[a] || a - b)
        .slice(0, k)
        .map((id) => ({ id, text: this.text(id), prob: Math.exp(r[id] - lse) }));
    });
  }

  private text(id: number): string {
    return tokenLabel(this.tokenizer, id);
  }

  toString(): string {
    const Tq = this.tokens.shape[1];
    const ids = f32(this.tokens);
    const cols = [...Array(Tq).keys()];
    const cell = (s: string): string => JSON.stringify(s).slice(0, 10).padEnd(10);
    const lw = Math.max(...this.labels.map((l) => l.length));
    return [
      `Logit lens: the top next token after each layer (row 0, ${Tq} positions)`,
      " ".repeat(lw) + "  " + cols.map((p) => cell(this.text(ids[p]))).join(" "),
      ...this.labels.map((l, i) => {
        const tops = cols.map((p) => this.top(1, 0, p)[i][0].text);
        return l.padEnd(lw) + "  " + tops.map(cell).join(" ");
      }),
    ].join("\n");
  }

  [Symbol.for("Jupyter.display")](): Record<string, unknown> {
    return displayBundle("logitLens", this, this.toString());
  }
}

function logSumExp(r: Float32Array): number {
  let m = -Infinity;
  for (const v of r) if (v > m) m = v;
  let s = 0;
  for (const v of r) s += Math.exp(v - m);
  return m + Math.log(s);
}

/** The logit lens: head(norm(resid)) of the embedding and of each block's output. */
export function logitLens(model: Transformer, tokens: Tokens): LogitLens {
  const ids = model.tokensToTensor(tokens);
  const names = ["hook_embed", ...model.blocks.map((_, L) => `blocks.${L}.hook_resid_post`)];
  const { cache } = model.runWithCache(ids, { names });
  const logits = T.noGrad(() =>
    T.stack(
      names.map((n) => model.head.forward(model.norm.forward(cache.get(n)))),
      0,
    ),
  );
  return new LogitLens(
    ["embed", ...model.blocks.map((_, L) => `L${L}`)],
    logits,
    ids,
    model.tokenizer,
  );
}

export interface AttributionOptions {
  /** The token whose logit is attributed (one id, or one per batch row). */
  correct: number | readonly number[];
  /** When given, the logit difference correct - wrong is attributed. */
  wrong?: number | readonly number[];
  /** The position read (negative: from the end; default the last). */
  position?: number;
  /**
   * The components: "block" (embed, each attention, each MLP/MoE), "head" (attention per head),
   * "expert" (MoE per shared and routed expert), "all" (both). Default "block".
   */
  by?: "block" | "head" | "expert" | "all";
}

/** Each component's direct contribution to a logit (difference), per batch row and on average. */
export class Attribution {
  constructor(
    readonly labels: string[],
    /** [B][components] */
    readonly perRow: number[][],
    /** The model's own logit (difference) per row, which each row's contributions sum to. */
    readonly total: number[],
    readonly what: string,
  ) {}

  /** The mean over batch rows of each component's contribution. */
  get values(): number[] {
    return this.labels.map(
      (_, i) => this.perRow.reduce((s, r) => s + r[i], 0) / this.perRow.length,
    );
  }

  toString(): string {
    const v = this.values;
    const mean = this.total.reduce((a, b) => a + b, 0) / this.total.length;
    const order = [...v.keys()].sort((a, b) => Math.abs(v[b]) - Math.abs(v[a]));
    const lw = Math.max(...this.labels.map((l) => l.length));
    return [
      `Direct logit attribution of ${this.what}: ${mean.toFixed(4)} (mean over ${this.total.length} rows), by component:`,
      ...order.map(
        (i) => `  ${this.labels[i].padEnd(lw)} ${v[i] >= 0 ? " " : ""}${v[i].toFixed(4)}`,
      ),
    ].join("\n");
  }

  [Symbol.for("Jupyter.display")](): Record<string, unknown> {
    return displayBundle("attribution", this, this.toString());
  }
}

/** Direct logit attribution (see the file comment). */
export function logitAttribution(
  model: Transformer,
  tokens: Tokens,
  opts: AttributionOptions,
): Attribution {
  const by = opts.by ?? "block";
  if (!["block", "head", "expert", "all"].includes(by))
    throw new TypeError(
      `logitAttribution: by must be "block", "head", "expert" or "all", got ${JSON.stringify(by)}`,
    );
  const ids = model.tokensToTensor(tokens);
  const [B, Tq] = ids.shape;
  const a = model.args;
  const D = a.dim;
  const V = a.vocab_size;
  const pos = opts.position ?? -1;
  if (!Number.isInteger(pos) || pos >= Tq || pos < -Tq)
    throw new RangeError(`logitAttribution: position ${pos} is outside the ${Tq} tokens`);
  const p = pos < 0 ? Tq + pos : pos;
  const idOf = (x: number | readonly number[], b: number, what: string): number => {
    const id = typeof x === "number" ? x : x[b];
    checkIndex(id, V, `logitAttribution: ${what} id`);
    return id;
  };
  if (typeof opts.correct !== "number" && opts.correct.length !== B)
    throw new RangeError(`logitAttribution: ${opts.correct.length} correct ids for ${B} rows`);
  const nL = model.blocks.length;
  const heads = by === "head" || by === "all";
  const experts = by === "expert" || by === "all";
  const names = ["hook_embed", `blocks.${nL - 1}.hook_resid_post`, "hook_logits"];
  for (let L = 0; L < nL; L++) {
    names.push(`blocks.${L}.hook_attn_out`, `blocks.${L}.hook_mlp_out`);
    if (heads) names.push(`blocks.${L}.attn.hook_z`);
    if (experts && model.blocks[L].moe)
      names.push(
        `blocks.${L}.hook_resid_mid`,
        `blocks.${L}.moe.hook_expert_indices`,
        `blocks.${L}.moe.hook_expert_weights`,
      );
  }
  const { cache } = model.runWithCache(ids, { names });
  const at = (name: string, b: number): Float32Array => {
    const t = cache.get(name);
    const inner = t.size / (B * Tq);
    const o = (b * Tq + p) * inner;
    return f32(t).subarray(o, o + inner);
  };
  const dot = (x: ArrayLike<number>, y: ArrayLike<number>): number => {
    let s = 0;
    for (let i = 0; i < x.length; i++) s += x[i] * y[i];
    return s;
  };
  const Wh = f32(model.head.weight); // [V, dim]
  const normW = f32(model.norm.weight);
  const H = a.n_heads;
  const dv = a.v_head_dim;
  const labels: string[] = [];
  const perRow: number[][] = [];
  const total: number[] = [];
  T.noGrad(() => {
    for (let b = 0; b < B; b++) {
      const c = idOf(opts.correct, b, "correct");
      const w = opts.wrong === undefined ? null : idOf(opts.wrong, b, "wrong");
      // The frozen final norm: u = (w_norm / rms(final)) ⊙ (W_head[c] - W_head[w]).
      const fin = at(`blocks.${nL - 1}.hook_resid_post`, b);
      const rms = Math.sqrt(dot(fin, fin) / D + model.norm.eps);
      const u = new Float64Array(D);
      for (let i = 0; i < D; i++)
        u[i] = ((Wh[c * D + i] - (w === null ? 0 : Wh[w * D + i])) * normW[i]) / rms;
      const lg = at("hook_logits", b);
      total.push(lg[c] - (w === null ? 0 : lg[w]));
      const row: number[] = [];
      const add = (label: string, v: number): void => {
        if (b === 0) labels.push(label);
        row.push(v);
      };
      add("embed", dot(at("hook_embed", b), u));
      for (let L = 0; L < nL; L++) {
        const blk = model.blocks[L];
        if (heads) {
          // Head h writes wo[:, h·dv:(h+1)·dv] z_h; its share is z_h · (wo_hᵀ u).
          const wo = f32(blk.attn.wo.weight); // [dim, H·dv]
          const z = at(`blocks.${L}.attn.hook_z`, b);
          for (let h = 0; h < H; h++) {
            let s = 0;
            for (let j = 0; j < dv; j++) {
              let g = 0;
              const col = h * dv + j;
              for (let i = 0; i < D; i++) g += wo[i * H * dv + col] * u[i];
              s += z[h * dv + j] * g;
            }
            add(`L${L}.H${h}`, s);
          }
        } else add(`L${L} attn`, dot(at(`blocks.${L}.hook_attn_out`, b), u));
        const moe = blk.moe;
        if (experts && moe) {
          const x = blk.ffn_norm.forward(
            T.tensor(at(`blocks.${L}.hook_resid_mid`, b), { shape: [1, D] }),
          );
          if (moe.shared_experts) add(`L${L} shared`, dot(f32(moe.shared_experts.forward(x)), u));
          const idx = at(`blocks.${L}.moe.hook_expert_indices`, b);
          const wt = at(`blocks.${L}.moe.hook_expert_weights`, b);
          for (let e = 0; e < a.n_routed_experts; e++) {
            const j = idx.indexOf(e);
            add(`L${L}.E${e}`, j < 0 ? 0 : wt[j] * dot(f32(moe.experts.items[e].forward(x)), u));
          }
        } else add(blockName(model, L), dot(at(`blocks.${L}.hook_mlp_out`, b), u));
      }
      perRow.push(row);
    }
  });
  for (const n of names) cache.get(n).dispose();
  const tok = model.tokenizer;
  const name = (x: number | readonly number[]): string =>
    typeof x === "number"
      ? tok
        ? JSON.stringify(tokenLabel(tok, x))
        : `token ${x}`
      : "the given tokens";
  const what =
    opts.wrong === undefined
      ? `the logit of ${name(opts.correct)} at position ${p}`
      : `logit(${name(opts.correct)}) - logit(${name(opts.wrong)}) at position ${p}`;
  return new Attribution(labels, perRow, total, what);
}
