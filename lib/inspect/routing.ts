/**
 * Routing statistics for any token stream, per MoE layer: expert counts, MaxVio (lib/train's),
 * the entropy of the routing distribution, expert co-activation; and `by(labels)`: a label x
 * expert table per layer, the mutual information between label and expert choice, and its
 * permutation p-value (labels shuffled between the units they were given for, seeded).
 */
import * as T from "../tensor/index.js";
import type { Corpus } from "../data/index.js";
import type { TextTokenizer, Tokens, Transformer } from "../model/index.js";
import { maxVio } from "../train/index.js";
import { entropyBits, f32, moeLayers } from "./common.js";
import { displayBundle } from "./display.js";

/** One MoE layer's routing over the stream. */
export interface LayerRouting {
  /** Main layer index, and its hook path ("blocks.1.moe"). */
  layer: number;
  name: string;
  /** Tokens routed to each expert [E]. */
  counts: Float64Array;
  /** (max load - mean load) / mean load (lib/train's maxVio). */
  maxVio: number;
  /** Entropy (bits) of the load distribution counts / Σ counts; log2(E) when balanced. */
  loadEntropy: number;
  /** Mean over tokens of the entropy (bits) of its normalised router scores. */
  scoreEntropy: number;
  /** [E x E] row-major: tokens that chose both i and j (the diagonal: the counts). */
  coActivation: Float64Array;
  /** The chosen experts, k per token, tokens in stream order. */
  choices: Int32Array;
}

/** Routing statistics of a token stream (see the file comment). */
export class Routing {
  constructor(
    readonly experts: number,
    readonly k: number,
    /** Tokens in each input sequence, in order (their sum is the stream's length). */
    readonly sequences: number[],
    readonly layers: LayerRouting[],
  ) {}

  /** Total tokens routed per layer. */
  get tokens(): number {
    return this.sequences.reduce((a, b) => a + b, 0);
  }

  /** Routing from the choices alone (k experts per token, per layer), e.g. a recorded stream. */
  static fromChoices(
    experts: number,
    k: number,
    sequences: number[],
    choices: { layer: number; choices: Int32Array; scores?: Float32Array }[],
  ): Routing {
    const n = sequences.reduce((a, b) => a + b, 0);
    return new Routing(
      experts,
      k,
      sequences,
      choices.map((c) => {
        if (c.choices.length !== n * k)
          throw new RangeError(
            `Routing.fromChoices: layer ${c.layer} has ${c.choices.length} choices for ${n} tokens x top-${k}`,
          );
        return layerStats(c.layer, experts, k, c.choices, c.scores ?? null);
      }),
    );
  }

  /**
   * Label x expert tables with mutual information and its permutation p-value. `labels`: one per
   * input sequence, or one per token; the shuffles permute them between those units.
   */
  by(labels: readonly string[], opts: { shuffles?: number; seed?: number } = {}): RoutingByLabel {
    const S = this.sequences.length;
    const n = this.tokens;
    if (!Array.isArray(labels) || (labels.length !== S && labels.length !== n))
      throw new RangeError(
        `routing.by: ${Array.isArray(labels) ? labels.length : "no"} labels for ${S} sequences (${n} tokens); give one per sequence or one per token`,
      );
    const shuffles = opts.shuffles ?? 100;
    if (!Number.isInteger(shuffles) || shuffles < 0)
      throw new RangeError(`routing.by: shuffles must be a non-negative integer, got ${shuffles}`);
    const perToken = labels.length !== S;
    const unitLen = perToken ? new Array<number>(n).fill(1) : this.sequences;
    const names = [...new Set(labels.map(String))].sort();
    const labelOf = Int32Array.from(labels, (l) => names.indexOf(String(l)));
    const U = unitLen.length;
    const E = this.experts;
    const k = this.k;
    // The same permutations for every layer.
    const rng = new T.Rng(opts.seed ?? 0);
    const perms: Int32Array[] = [];
    for (let s = 0; s < shuffles; s++) {
      const p = Int32Array.from(labelOf);
      for (let i = U - 1; i > 0; i--) {
        const j = rng.below(i + 1);
        const t = p[i];
        p[i] = p[j];
        p[j] = t;
      }
      perms.push(p);
    }
    const layers = this.layers.map((l) => {
      // Per-unit expert counts, then tables for the real labels and each shuffle.
      const unit = new Float64Array(U * E);
      let t = 0;
      unitLen.forEach((len, u) => {
        for (let i = 0; i < len; i++, t++)
          for (let j = 0; j < k; j++) unit[u * E + l.choices[t * k + j]]++;
      });
      const table = (lab: Int32Array): Float64Array => {
        const tb = new Float64Array(names.length * E);
        for (let u = 0; u < U; u++)
          for (let e = 0; e < E; e++) tb[lab[u] * E + e] += unit[u * E + e];
        return tb;
      };
      const tb = table(labelOf);
      const mi = mutualInformation(tb, names.length, E);
      let atLeast = 0;
      for (const p of perms)
        if (mutualInformation(table(p), names.length, E) >= mi - 1e-12) atLeast++;
      return { layer: l.layer, name: l.name, table: tb, mi, p: (1 + atLeast) / (1 + shuffles) };
    });
    return new RoutingByLabel(names, E, layers, shuffles, perToken ? "token" : "sequence");
  }

  toString(): string {
    const lines = [
      `Routing of ${this.tokens} tokens (${this.sequences.length} sequences), ${this.experts} experts top-${this.k}:`,
    ];
    for (const l of this.layers)
      lines.push(
        `  ${l.name}: MaxVio ${l.maxVio.toFixed(3)}, load entropy ${l.loadEntropy.toFixed(3)} of ${Math.log2(this.experts).toFixed(3)} bits, score entropy ${l.scoreEntropy.toFixed(3)} bits; tokens per expert ${Array.from(l.counts).join(" ")}`,
      );
    return lines.join("\n");
  }

  [Symbol.for("Jupyter.display")](): Record<string, unknown> {
    return displayBundle("routing", this, this.toString());
  }
}

/** Label x expert choice tables per layer, with MI (bits) and its permutation p-value. */
export class RoutingByLabel {
  constructor(
    /** The distinct labels, sorted: the tables' rows. */
    readonly labels: string[],
    readonly experts: number,
    readonly layers: { layer: number; name: string; table: Float64Array; mi: number; p: number }[],
    readonly shuffles: number,
    /** What the labels were given for, and shuffled between. */
    readonly unit: "sequence" | "token",
  ) {}

  /** Layer i's table as rows: each label's share of its choices per expert (rows sum to 1). */
  frequencies(i: number): number[][] {
    const l = this.layers[i];
    if (!l) throw new RangeError(`frequencies: layer row ${i} of ${this.layers.length}`);
    const E = this.experts;
    return this.labels.map((_, r) => {
      const row = Array.from(l.table.subarray(r * E, (r + 1) * E));
      const z = row.reduce((a, b) => a + b, 0);
      return row.map((v) => (z > 0 ? v / z : 0));
    });
  }

  toString(): string {
    return [
      `Routing by label: ${this.labels.length} labels (per ${this.unit}) x ${this.experts} experts; mutual information, p from ${this.shuffles} label shuffles:`,
      ...this.layers.map((l) => `  ${l.name}: MI ${l.mi.toFixed(4)} bits, p ${l.p.toFixed(3)}`),
    ].join("\n");
  }

  [Symbol.for("Jupyter.display")](): Record<string, unknown> {
    return displayBundle("routingByLabel", this, this.toString());
  }
}

/** I(label; expert) in bits from a joint count table [L x E]. */
export function mutualInformation(table: ArrayLike<number>, L: number, E: number): number {
  let total = 0;
  const pl = new Float64Array(L);
  const pe = new Float64Array(E);
  for (let l = 0; l < L; l++)
    for (let e = 0; e < E; e++) {
      const v = table[l * E + e];
      pl[l] += v;
      pe[e] += v;
      total += v;
    }
  if (!(total > 0)) return 0;
  let mi = 0;
  for (let l = 0; l < L; l++)
    for (let e = 0; e < E; e++) {
      const v = table[l * E + e];
      if (v > 0) mi += (v / total) * Math.log2((v * total) / (pl[l] * pe[e]));
    }
  return Math.max(0, mi);
}

function layerStats(
  layer: number,
  E: number,
  k: number,
  choices: Int32Array,
  scores: Float32Array | null,
): LayerRouting {
  const counts = new Float64Array(E);
  const co = new Float64Array(E * E);
  const n = choices.length / k;
  for (let t = 0; t < n; t++)
    for (let i = 0; i < k; i++) {
      const a = choices[t * k + i];
      if (a < 0 || a >= E)
        throw new RangeError(`routing: expert ${a} of layer ${layer} is not in [0, ${E})`);
      counts[a]++;
      co[a * E + a]++;
      for (let j = i + 1; j < k; j++) {
        const b = choices[t * k + j];
        co[a * E + b]++;
        co[b * E + a]++;
      }
    }
  let se = 0;
  if (scores) for (let t = 0; t < n; t++) se += entropyBits(scores.subarray(t * E, (t + 1) * E));
  return {
    layer,
    name: `blocks.${layer}.moe`,
    counts,
    maxVio: maxVio(counts),
    loadEntropy: entropyBits(counts),
    scoreEntropy: scores && n > 0 ? se / n : NaN,
    coActivation: co,
    choices,
  };
}

/** A token stream (one flat list) or sequences: number[][] (rows may differ in length) or a Tensor [B, T]. */
export type TokenStream = Tokens | readonly number[] | Int32Array | readonly (readonly number[])[];

/** The stream as sequences of at most `window` tokens (a flat list is cut into windows). */
function sequencesOf(input: TokenStream, window: number): number[][] {
  if (input instanceof T.Tensor) {
    if (input.ndim !== 2)
      throw new RangeError(`routing: tokens must be [B, T], got [${input.shape.join(", ")}]`);
    const d = Array.from(input.toArray());
    const [B, Tq] = input.shape;
    return [...Array(B).keys()].map((b) => d.slice(b * Tq, (b + 1) * Tq));
  }
  if (
    input instanceof Int32Array ||
    (Array.isArray(input) && input.every((x) => typeof x === "number"))
  ) {
    const flat = Array.from(input as ArrayLike<number>);
    const out: number[][] = [];
    for (let i = 0; i < flat.length; i += window) out.push(flat.slice(i, i + window));
    return out;
  }
  if (Array.isArray(input) && input.every((r) => Array.isArray(r)))
    return input.map((r) => [...(r as number[])]);
  throw new TypeError(
    "routing: tokens must be a flat id list, number[][] or an int32 Tensor [B, T]",
  );
}

export interface RoutingOptions {
  /** A flat stream is cut into windows of this many tokens (default min(128, max_seq_len)). */
  window?: number;
  /** Sequences of one length run together, this many at a time (default 16). */
  batchSize?: number;
}

/** Runs the model over the stream (no gradients) and gathers every MoE layer's routing. */
export function routingStats(
  model: Transformer,
  input: TokenStream,
  opts: RoutingOptions = {},
): Routing {
  const window = opts.window ?? Math.min(128, model.args.max_seq_len);
  if (!Number.isInteger(window) || window < 1 || window > model.args.max_seq_len)
    throw new RangeError(
      `routing: window must be an integer in [1, ${model.args.max_seq_len}] (max_seq_len), got ${window}`,
    );
  const batchSize = opts.batchSize ?? 16;
  const seqs = sequencesOf(input, window);
  if (seqs.length === 0 || seqs.some((s) => s.length === 0))
    throw new RangeError("routing: the stream is empty (or holds an empty sequence)");
  const layers = moeLayers(model);
  if (layers.length === 0) throw new Error("routing: the model has no MoE layers");
  const E = model.args.n_routed_experts;
  const k = model.args.n_activated_experts;
  const n = seqs.reduce((a, s) => a + s.length, 0);
  const choices = layers.map(() => new Int32Array(n * k));
  const scores = layers.map(() => new Float32Array(n * E));
  const offset: number[] = [];
  seqs.reduce((o, s, i) => ((offset[i] = o), o + s.length), 0);
  // Batches of equal-length sequences; each token's results go back to its place in the stream.
  const byLen = new Map<number, number[]>();
  seqs.forEach((s, i) => byLen.set(s.length, [...(byLen.get(s.length) ?? []), i]));
  const names = layers.flatMap((L) => [
    `blocks.${L}.moe.hook_expert_indices`,
    `blocks.${L}.moe.hook_router_scores`,
  ]);
  for (const [len, idx] of byLen)
    for (let i = 0; i < idx.length; i += batchSize) {
      const rows = idx.slice(i, i + batchSize);
      // Each batch's logits are freed at once: a long stream runs in bounded memory.
      const cache = T.tidy(
        () =>
          model.runWithCache(
            rows.map((r) => seqs[r]),
            { names },
          ).cache,
      );
      layers.forEach((_, li) => {
        const ci = cache.get(names[2 * li]);
        const cs = cache.get(names[2 * li + 1]);
        const ch = ci.toArray();
        const sc = f32(cs);
        rows.forEach((r, b) => {
          choices[li].set(ch.subarray(b * len * k, (b + 1) * len * k), offset[r] * k);
          scores[li].set(sc.subarray(b * len * E, (b + 1) * len * E), offset[r] * E);
        });
        ci.dispose();
        cs.dispose();
      });
    }
  return new Routing(
    E,
    k,
    seqs.map((s) => s.length),
    layers.map((L, li) => layerStats(L, E, k, choices[li], scores[li])),
  );
}

/** routingStats(model, input).by(labels, opts). */
export function routingBy(
  model: Transformer,
  input: TokenStream,
  labels: readonly string[],
  opts: RoutingOptions & { shuffles?: number; seed?: number } = {},
): RoutingByLabel {
  return routingStats(model, input, opts).by(labels, opts);
}

/**
 * Labelled windows of a corpus (e.g. Corpus.brown() and its 15 genres): up to `perDocument`
 * consecutive windows of `window` tokens from the start of each document, each labelled with its
 * document's label ("(none)" for unlabelled documents).
 */
export function corpusWindows(
  corpus: Corpus,
  tokenizer: TextTokenizer,
  opts: { window?: number; perDocument?: number; documents?: number } = {},
): { tokens: number[][]; labels: string[] } {
  const window = opts.window ?? 64;
  const per = opts.perDocument ?? 1;
  if (!Number.isInteger(window) || window < 1)
    throw new RangeError(`corpusWindows: window must be a positive integer, got ${window}`);
  if (!Number.isInteger(per) || per < 1)
    throw new RangeError(`corpusWindows: perDocument must be a positive integer, got ${per}`);
  const tokens: number[][] = [];
  const labels: string[] = [];
  const docs = corpus.documents.slice(0, opts.documents ?? corpus.documents.length);
  for (const d of docs) {
    const ids = Array.from(tokenizer.encode(d.text));
    for (let w = 0; w < per && (w + 1) * window <= ids.length; w++) {
      tokens.push(ids.slice(w * window, (w + 1) * window));
      labels.push(d.label ?? "(none)");
    }
  }
  if (tokens.length === 0)
    throw new RangeError(`corpusWindows: no document of ${corpus.name} holds ${window} tokens`);
  return { tokens, labels };
}
