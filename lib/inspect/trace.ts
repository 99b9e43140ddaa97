/**
 * Per-token views of one sequence: the router's scores and choices (router trace), attention
 * patterns, and the latent c_kv = kv_norm(wkv_a(x)[:kv_lora_rank]) that MLA caches instead of keys
 * and values (its norms and top principal directions). Plain arrays, for figures and tables.
 */
import * as T from "../tensor/index.js";
import type { Tokens, Transformer } from "../model/index.js";
import { checkIndex, f32, moeLayers, tokenLabel } from "./common.js";
import { displayBundle } from "./display.js";

/** One row of tokens as ids and unique labels ("3: the"; positions keep repeated tokens apart). */
function rowOf(
  model: Transformer,
  tokens: Tokens,
  batch: number,
): { ids: number[]; labels: string[]; t: T.Tensor } {
  const t = model.tokensToTensor(tokens);
  checkIndex(batch, t.shape[0], "batch");
  const Tq = t.shape[1];
  const ids = Array.from(t.toArray().subarray(batch * Tq, (batch + 1) * Tq));
  const tok = model.tokenizer;
  return { ids, labels: ids.map((id, i) => `${i}: ${tok ? tokenLabel(tok, id) : id}`), t };
}

function rowsOf(x: Float32Array | Int32Array, o: number, n: number, w: number): number[][] {
  return [...Array(n).keys()].map((i) => Array.from(x.subarray(o + i * w, o + (i + 1) * w)));
}

/** One MoE layer's routing of each token. */
export interface RouterTraceLayer {
  layer: number;
  name: string;
  /** [T][E] the router's scores s. */
  scores: number[][];
  /** [T][E] s + bias after group limiting (-Infinity: an expert of a dropped group). */
  biased: number[][];
  /** [T][k] the chosen experts, best first, and [T][k] their weights. */
  chosen: number[][];
  weights: number[][];
  /** The gate's selection bias [E], or null. */
  bias: number[] | null;
}

/** The router's decisions for one sequence; displays as a tokens x experts heatmap per layer. */
export class RouterTrace {
  constructor(
    readonly tokens: string[],
    readonly ids: number[],
    readonly experts: number,
    readonly layers: RouterTraceLayer[],
  ) {}

  /** Tokens per layer whose chosen set differs from the top-k of the unbiased scores. */
  biasChanged(): number[] {
    return this.layers.map(
      (l) =>
        l.scores.filter((s, t) => {
          const k = l.chosen[t].length;
          const top = [...s.keys()].sort((a, b) => s[b] - s[a] || a - b).slice(0, k);
          return top.some((e) => !l.chosen[t].includes(e));
        }).length,
    );
  }

  toString(): string {
    const changed = this.biasChanged();
    const lines = [
      `Router trace: ${this.tokens.length} tokens x ${this.experts} experts, ${this.layers.length} MoE layers`,
    ];
    this.layers.forEach((l, i) => {
      lines.push(`  ${l.name} (the bias changed ${changed[i]} of ${this.tokens.length} choices):`);
      l.chosen.forEach((c, t) =>
        lines.push(
          `    ${this.tokens[t].padEnd(12)} -> ${c.map((e, j) => `E${e} ${l.weights[t][j].toFixed(3)}`).join(", ")}`,
        ),
      );
    });
    return lines.join("\n");
  }

  [Symbol.for("Jupyter.display")](): Record<string, unknown> {
    return displayBundle("routerTrace", this, this.toString());
  }
}

/** The router trace of row `batch` (default 0) of the tokens, for the MoE layers (default all). */
export function routerTrace(
  model: Transformer,
  tokens: Tokens,
  opts: { batch?: number; layers?: readonly number[] } = {},
): RouterTrace {
  const b = opts.batch ?? 0;
  const { ids, labels, t } = rowOf(model, tokens, b);
  const layers = [...(opts.layers ?? moeLayers(model))];
  for (const L of layers) {
    checkIndex(L, model.blocks.length, "routerTrace: layer");
    if (!model.blocks[L].moe)
      throw new RangeError(
        `routerTrace: layer ${L} is dense; the MoE layers are ${moeLayers(model).join(", ")}`,
      );
  }
  const hooks = [
    "hook_router_scores",
    "hook_router_biased_scores",
    "hook_expert_indices",
    "hook_expert_weights",
  ];
  const names = layers.flatMap((L) => hooks.map((h) => `blocks.${L}.moe.${h}`));
  const { cache } = model.runWithCache(t, { names });
  const Tq = ids.length;
  const E = model.args.n_routed_experts;
  const k = model.args.n_activated_experts;
  const out = layers.map((L) => {
    const g = (h: string): Float32Array | Int32Array => cache.get(`blocks.${L}.moe.${h}`).toArray();
    const bias = model.blocks[L].moe!.gate.bias;
    return {
      layer: L,
      name: `blocks.${L}.moe`,
      scores: rowsOf(g(hooks[0]), b * Tq * E, Tq, E),
      biased: rowsOf(g(hooks[1]), b * Tq * E, Tq, E),
      chosen: rowsOf(g(hooks[2]), b * Tq * k, Tq, k),
      weights: rowsOf(g(hooks[3]), b * Tq * k, Tq, k),
      bias: bias ? Array.from(bias.toArray()) : null,
    };
  });
  for (const n of names) cache.get(n).dispose();
  return new RouterTrace(labels, ids, E, out);
}

/** Attention patterns of one sequence: per layer, [H][T][S] (rows: queries, sum to 1). */
export class AttentionPatterns {
  constructor(
    readonly tokens: string[],
    readonly layers: { layer: number; name: string; pattern: number[][][] }[],
  ) {}

  /** Mean over queries of the entropy (bits) of each head's attention, per layer. */
  entropy(): number[][] {
    return this.layers.map((l) =>
      l.pattern.map((h) => {
        let s = 0;
        for (const row of h) for (const p of row) if (p > 0) s -= p * Math.log2(p);
        return s / h.length;
      }),
    );
  }

  toString(): string {
    const e = this.entropy();
    return [
      `Attention patterns: ${this.tokens.length} tokens, ${this.layers.length} layers x ${this.layers[0]?.pattern.length ?? 0} heads; mean entropy per head (bits):`,
      ...this.layers.map((l, i) => `  ${l.name}: ${e[i].map((x) => x.toFixed(3)).join(" ")}`),
    ].join("\n");
  }

  [Symbol.for("Jupyter.display")](): Record<string, unknown> {
    return displayBundle("attention", this, this.toString());
  }
}

/** Attention patterns (blocks.{L}.attn.hook_pattern) of row `batch`, layers default all. */
export function attentionPatterns(
  model: Transformer,
  tokens: Tokens,
  opts: { batch?: number; layers?: readonly number[] } = {},
): AttentionPatterns {
  const b = opts.batch ?? 0;
  const { labels, t } = rowOf(model, tokens, b);
  const layers = [...(opts.layers ?? model.blocks.map((_, L) => L))];
  for (const L of layers) checkIndex(L, model.blocks.length, "attentionPatterns: layer");
  const names = layers.map((L) => `blocks.${L}.attn.hook_pattern`);
  const { cache } = model.runWithCache(t, { names });
  const out = layers.map((L, i) => {
    const p = cache.get(names[i]);
    const [, H, Tq, S] = p.shape;
    const d = p.toArray();
    const pattern = [...Array(H).keys()].map((h) => rowsOf(d, (b * H + h) * Tq * S, Tq, S));
    p.dispose();
    return { layer: L, name: `blocks.${L}.attn`, pattern };
  });
  return new AttentionPatterns(labels, out);
}

/** One layer's latent c_kv: norms per token and its principal directions over the tokens. */
export interface LatentLayer {
  layer: number;
  name: string;
  /** [T] ||c_kv|| per token. */
  norms: number[];
  /** [components][kv_lora_rank] unit directions, largest variance first. */
  directions: number[][];
  /** Each direction's share of the total variance. */
  explained: number[];
  /** [T][components] each token's centred c_kv projected on the directions. */
  projections: number[][];
}

/** What MLA caches per token: kv_lora_rank latent numbers (+ the shared RoPE key). */
export class LatentKVView {
  constructor(
    readonly tokens: string[],
    readonly rank: number,
    readonly ropeDim: number,
    readonly layers: LatentLayer[],
  ) {}

  toString(): string {
    return [
      `Latent KV c_kv: ${this.tokens.length} tokens, rank ${this.rank} (+ ${this.ropeDim} RoPE key) cached per token per layer`,
      ...this.layers.map(
        (l) =>
          `  ${l.name}: norm mean ${(l.norms.reduce((a, b) => a + b, 0) / l.norms.length).toFixed(3)}, top ${l.explained.length} directions explain ${l.explained.map((x) => (100 * x).toFixed(1) + "%").join(", ")} of the variance`,
      ),
    ].join("\n");
  }

  [Symbol.for("Jupyter.display")](): Record<string, unknown> {
    return displayBundle("latent", this, this.toString());
  }
}

/**
 * The top principal directions of rows x [n][c] (centred): power iteration with deflation on
 * the c x c covariance, seeded so results are deterministic.
 */
export function principalDirections(
  x: number[][],
  components: number,
): { directions: number[][]; explained: number[]; projections: number[][] } {
  const n = x.length;
  const c = x[0]?.length ?? 0;
  const mean = new Float64Array(c);
  for (const r of x) for (let j = 0; j < c; j++) mean[j] += r[j] / n;
  const xc = x.map((r) => r.map((v, j) => v - mean[j]));
  const cov = new Float64Array(c * c);
  for (const r of xc)
    for (let i = 0; i < c; i++) for (let j = 0; j < c; j++) cov[i * c + j] += (r[i] * r[j]) / n;
  let trace = 0;
  for (let i = 0; i < c; i++) trace += cov[i * c + i];
  const rng = new T.Rng(0);
  const directions: number[][] = [];
  const explained: number[] = [];
  for (let q = 0; q < Math.min(components, c); q++) {
    let v = Float64Array.from({ length: c }, () => rng.next() - 0.5);
    let lambda = 0;
    for (let it = 0; it < 500; it++) {
      const w = new Float64Array(c);
      for (let i = 0; i < c; i++) {
        let s = 0;
        for (let j = 0; j < c; j++) s += cov[i * c + j] * v[j];
        w[i] = s;
      }
      const norm = Math.hypot(...w);
      if (norm === 0) break;
      const next = w.map((x) => x / norm);
      const diff = Math.hypot(...next.map((x, i) => Math.abs(x) - Math.abs(v[i])));
      v = next;
      lambda = norm;
      if (diff < 1e-10) break;
    }
    // A fixed sign: the largest component positive.
    let big = 0;
    for (let i = 1; i < c; i++) if (Math.abs(v[i]) > Math.abs(v[big])) big = i;
    if (v[big] < 0) v = v.map((x) => -x);
    directions.push(Array.from(v));
    explained.push(trace > 0 ? lambda / trace : 0);
    for (let i = 0; i < c; i++) for (let j = 0; j < c; j++) cov[i * c + j] -= lambda * v[i] * v[j];
  }
  const projections = xc.map((r) => directions.map((d) => r.reduce((s, x, j) => s + x * d[j], 0)));
  return { directions, explained, projections };
}

/** The latent c_kv (blocks.{L}.attn.hook_kv_latent) of row `batch`: norms and principal directions. */
export function latentKV(
  model: Transformer,
  tokens: Tokens,
  opts: { batch?: number; layers?: readonly number[]; components?: number } = {},
): LatentKVView {
  const b = opts.batch ?? 0;
  const { labels, t } = rowOf(model, tokens, b);
  const layers = [...(opts.layers ?? model.blocks.map((_, L) => L))];
  for (const L of layers) checkIndex(L, model.blocks.length, "latentKV: layer");
  const comps = opts.components ?? 3;
  if (!Number.isInteger(comps) || comps < 1)
    throw new RangeError(`latentKV: components must be a positive integer, got ${comps}`);
  const names = layers.map((L) => `blocks.${L}.attn.hook_kv_latent`);
  const { cache } = model.runWithCache(t, { names });
  const c = model.args.kv_lora_rank;
  const Tq = labels.length;
  const out = layers.map((L, i) => {
    const lat = cache.get(names[i]);
    const rows = rowsOf(f32(lat), b * Tq * c, Tq, c);
    lat.dispose();
    const pca = principalDirections(rows, comps);
    return { layer: L, name: `blocks.${L}.attn`, norms: rows.map((r) => Math.hypot(...r)), ...pca };
  });
  return new LatentKVView(labels, c, model.args.qk_rope_head_dim, out);
}
