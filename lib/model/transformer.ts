/**
 * The DeepSeek-V3-style Transformer: embed -> blocks -> norm -> head, plus D MTP modules sharing
 * the embedding and head. Checkpoints use DeepSeek's reference layout (lib/io).
 *
 * Hook points (TransformerLens's scheme, extended for MLA and MoE; `model.hookPoints()` lists
 * those of a given model). L is a main layer 0..n_layers-1, k an MTP module 0..mtp_depth-1:
 *   hook_embed                                [B, T, dim]   token embeddings
 *   blocks.{L}.hook_resid_pre                 [B, T, dim]
 *   blocks.{L}.attn.hook_q                    [B, T, H, nope + rope]   queries before RoPE
 *   blocks.{L}.attn.hook_kv_latent            [B, T, kv_lora_rank]     kv_norm(c_kv)
 *   blocks.{L}.attn.hook_k_pe                 [B, T, rope]             rotated shared RoPE key
 *   blocks.{L}.attn.hook_attn_scores          [B, H, T, S]             scaled, masked
 *   blocks.{L}.attn.hook_pattern              [B, H, T, S]             softmax of the scores
 *   blocks.{L}.attn.hook_z                    [B, T, H, v_head_dim]    per-head outputs before wo
 *   blocks.{L}.hook_attn_out                  [B, T, dim]
 *   blocks.{L}.hook_resid_mid                 [B, T, dim]
 *   blocks.{L}.mlp.hook_post                  [B, T, inter_dim]        dense layers: SwiGLU product
 *   blocks.{L}.moe.hook_router_scores         [B, T, E]                softmax/sigmoid scores
 *   blocks.{L}.moe.hook_router_biased_scores  [B, T, E]                + bias, dropped groups -inf
 *   blocks.{L}.moe.hook_expert_indices        int32 [B, T, k]          chosen experts
 *   blocks.{L}.moe.hook_expert_weights        [B, T, k]                their weights
 *   blocks.{L}.moe.shared_experts.hook_post   [B, T, n_shared * moe_inter_dim]
 *   blocks.{L}.hook_mlp_out                   [B, T, dim]
 *   blocks.{L}.hook_resid_post                [B, T, dim]
 *   hook_final_norm                           [B, T, dim]   norm(h), what the head reads
 *   hook_logits                               [B, T, V]
 *   mtp.{k}.hook_in                           [B, T-k-1, dim]  eh_proj output
 *   mtp.{k}.<every block hook above, e.g. mtp.{k}.attn.hook_pattern, mtp.{k}.moe.hook_expert_indices>
 *   mtp.{k}.hook_logits                       [B, T-k-1, V]    predicts token i + k + 2
 * A hook can read an activation or replace it (same shape) by returning a Tensor.
 */
import { existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as T from "../tensor/index.js";
import type { Precision } from "../fp8/index.js";
import {
  decodeWeights,
  loadCheckpoint,
  quantizeFp8Weights,
  saveCheckpointSync,
  type TensorEntry,
} from "../io/index.js";
import {
  Block,
  Embedding,
  Init,
  LatentKV,
  Linear,
  MTPModule,
  Module,
  ModelContext,
  RMSNorm,
  RopeTables,
  type GradHookFn,
  type HookFn,
} from "../nn/index.js";
import {
  TOKENIZER_FILE,
  checkTokenizer,
  tokenizerFromJSON,
  type TextTokenizer,
} from "./tokenizer.js";
import {
  ModelConfig,
  humanCount,
  resolveConfig,
  type ConfigFields,
  type ModelArgs,
  type PresetName,
} from "../config/index.js";

export interface CreateOptions {
  seed?: number;
  precision?: Precision;
  /** Refuse to allocate more parameters than this (default 2e9); presets can be inspected without allocating. */
  maxParams?: number;
}

export interface SaveOptions {
  /** "deepseek" (default: model0-mp1.safetensors + config.json + moelab.json) or "hf". */
  layout?: "deepseek" | "hf";
}

/** Token ids: an int32 Tensor [B, T] or nested arrays. */
export type Tokens = T.Tensor | number[][];

export interface ForwardOptions {
  /**
   * [B, S] 1 for real tokens, 0 for padding (keys only; pad positions still get outputs). With
   * left padding, prompts of different lengths batch together (RoPE only sees relative positions).
   */
  attentionMask?: Tokens;
  /** Position of the first token (for cached decoding). */
  startPos?: number;
  /** Latent KV cache, one entry per main layer (absorb path). */
  cache?: LatentKV[];
}

export interface LossOptions {
  /** MTP loss weight λ (the loss adds λ/D · Σ_k L_k). Default 0.3, DeepSeek-V3's first phase. */
  mtpWeight?: number;
  /** Padding target id to ignore. Default -100. */
  ignoreIndex?: number;
}

/** Activations recorded by `runWithCache`, by hook name (and their gradients when asked for). */
export class ActivationCache {
  constructor(
    readonly tensors: Map<string, T.Tensor>,
    /** d loss / d activation, by hook name (runWithCache with `grads`). */
    readonly grads: Map<string, T.Tensor> = new Map(),
  ) {}

  /** The gradient of the loss with respect to activation `name` (runWithCache with `grads`). */
  grad(name: string): T.Tensor {
    const t = this.grads.get(name);
    if (!t)
      throw new Error(
        `no gradient of "${name}" in the cache; ${this.grads.size ? `it holds gradients of ${[...this.grads.keys()].join(", ")}` : "run runWithCache with { grads: true }"}`,
      );
    return t;
  }

  get(name: string): T.Tensor {
    const t = this.tensors.get(name);
    if (!t)
      throw new Error(
        `no activation "${name}" in the cache; it holds ${[...this.tensors.keys()].join(", ") || "nothing"}`,
      );
    return t;
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  get names(): string[] {
    return [...this.tensors.keys()];
  }

  toString(): string {
    return [
      `ActivationCache (${this.tensors.size} activations${this.grads.size ? `, ${this.grads.size} gradients` : ""})`,
      ...[...this.tensors].map(([n, t]) => `  ${n} [${t.shape.join(", ")}] ${t.dtype}`),
    ].join("\n");
  }

  [Symbol.for("Jupyter.display")](): Record<string, string> {
    return { "text/plain": this.toString() };
  }
}

function validSeed(seed: number): number {
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new RangeError(`seed must be a non-negative integer, got ${seed}`);
  return seed;
}

export class Transformer extends Module {
  readonly config: ModelConfig;
  readonly args: Readonly<ModelArgs>;
  readonly embed: Embedding;
  readonly layers: Block[] = [];
  readonly mtp: MTPModule[] = [];
  readonly norm: RMSNorm;
  readonly head: Linear;
  private ropeTables: RopeTables | null = null;
  private tok: TextTokenizer | null = null;

  private constructor(config: ModelConfig) {
    super(new ModelContext(config.settings.precision));
    this.config = config;
    const a = (this.args = config.args);
    const s = config.settings;
    const init = new Init(s.seed, s.init_std);
    const biased = s.routing === "noaux_tc";
    this.embed = this.registerModule("embed", new Embedding(this.ctx, init, a.vocab_size, a.dim));
    for (let L = 0; L < a.n_layers; L++)
      this.layers.push(
        this.registerModule(`layers.${L}`, new Block(this.ctx, init, a, L, biased), `blocks.${L}`),
      );
    for (let k = 0; k < s.mtp_depth; k++) {
      const L = a.n_layers + k;
      this.mtp.push(
        this.registerModule(`layers.${L}`, new MTPModule(this.ctx, init, a, L, biased), `mtp.${k}`),
      );
    }
    this.norm = this.registerModule("norm", new RMSNorm(this.ctx, a.dim));
    this.head = this.registerModule("head", new Linear(this.ctx, init, a.dim, a.vocab_size, true));
    this.registerHook("hook_embed", "hook_final_norm", "hook_logits");
  }

  /** The main blocks under their hook names (`model.blocks[1]` is `model.layers[1]`). */
  get blocks(): readonly Block[] {
    return this.layers;
  }

  /** A model with freshly initialised weights: N(0, init_std) Linear/embedding, norms 1, bias 0. */
  static create(
    config: PresetName | ModelConfig | ConfigFields,
    opts: CreateOptions = {},
  ): Transformer {
    const over: ConfigFields = {};
    if (opts.seed !== undefined) over.seed = validSeed(opts.seed);
    if (opts.precision !== undefined) over.precision = opts.precision;
    const cfg = resolveConfig(config, over);
    const n = cfg.params().totalWithMtp;
    const max = opts.maxParams ?? 2e9;
    if (n > max)
      throw new RangeError(
        `Transformer.create: ${cfg.name ? `"${cfg.name}" has ` : ""}${humanCount(n)} parameters, more than maxParams ${humanCount(max)}; inspect the config (presets["${cfg.name ?? "..."}"]) without allocating, or raise maxParams`,
      );
    return new Transformer(cfg);
  }

  /**
   * The tokenizer this model reads and writes text with (saved as tokenizer.json by save()), or
   * null. Its ids must fit the vocabulary.
   */
  get tokenizer(): TextTokenizer | null {
    return this.tok;
  }
  set tokenizer(t: TextTokenizer | null) {
    this.tok = t === null ? null : checkTokenizer(t, this.args.vocab_size);
  }

  /** GEMM precision of the Linear layers (switchable between runs). */
  get precision(): Precision {
    return this.ctx.precision;
  }
  set precision(p: Precision) {
    if (p !== "fp32" && p !== "bf16" && p !== "fp8")
      throw new TypeError(`precision must be "fp32", "bf16" or "fp8", got ${JSON.stringify(p)}`);
    this.ctx.precision = p;
  }

  /** MLA path of full-sequence passes: "naive" (default) or "absorb"; equal outputs. */
  get attnImpl(): "naive" | "absorb" {
    return this.ctx.attnImpl;
  }
  set attnImpl(v: "naive" | "absorb") {
    if (v !== "naive" && v !== "absorb")
      throw new TypeError(`attnImpl must be "naive" or "absorb", got ${JSON.stringify(v)}`);
    this.ctx.attnImpl = v;
  }

  /** RoPE tables for positions 0..max_seq_len-1. */
  rope(): RopeTables {
    if (!this.ropeTables) this.ropeTables = new RopeTables(this.args);
    return this.ropeTables;
  }

  /** Validates token ids and returns them as an int32 Tensor [B, T]. */
  tokensToTensor(tokens: Tokens, what = "tokens", checkRange = true): T.Tensor {
    const V = this.args.vocab_size;
    let t: T.Tensor;
    if (tokens instanceof T.Tensor) {
      if (tokens.dtype !== "int32")
        throw new TypeError(`${what} must be an int32 Tensor, got ${tokens.dtype}`);
      if (tokens.ndim !== 2)
        throw new RangeError(`${what} must be [B, T], got shape [${tokens.shape.join(", ")}]`);
      t = tokens;
    } else {
      if (!Array.isArray(tokens) || tokens.length === 0 || !tokens.every((r) => Array.isArray(r)))
        throw new TypeError(`${what} must be an int32 Tensor [B, T] or a non-empty number[][]`);
      const Tn = tokens[0].length;
      const flat = new Int32Array(tokens.length * Tn);
      tokens.forEach((row, b) => {
        if (row.length !== Tn)
          throw new RangeError(
            `${what}: row ${b} has length ${row.length}, row 0 has ${Tn} (pad them, and pass attentionMask)`,
          );
        row.forEach((v, i) => {
          if (!Number.isInteger(v))
            throw new TypeError(`${what}[${b}][${i}] = ${v} is not an integer`);
          // Checked before the Int32Array store, which would wrap 2^31 to -2^31.
          if (checkRange ? v < 0 || v >= V : v < -(2 ** 31) || v >= 2 ** 31)
            throw new RangeError(
              checkRange
                ? `${what}: token id ${v} at [${b}, ${i}] is out of range [0, ${V}) (vocab_size ${V})`
                : `${what}[${b}][${i}] = ${v} does not fit in int32`,
            );
          flat[b * Tn + i] = v;
        });
      });
      t = T.tensor(flat, { shape: [tokens.length, Tn] });
    }
    if (t.shape[1] === 0) throw new RangeError(`${what}: sequences are empty`);
    if (checkRange) {
      const d = t.toArray();
      for (let i = 0; i < d.length; i++)
        if (d[i] < 0 || d[i] >= V)
          throw new RangeError(
            `${what}: token id ${d[i]} at [${Math.floor(i / t.shape[1])}, ${i % t.shape[1]}] is out of range [0, ${V}) (vocab_size ${V})`,
          );
    }
    return t;
  }

  /** Additive attention mask (see ForwardOptions); null when nothing is masked. */
  buildMask(B: number, Tq: number, startPos: number, pad: T.Tensor | null): T.Tensor | null {
    const S = startPos + Tq;
    if (pad && (pad.shape[0] !== B || pad.shape[1] !== S))
      throw new RangeError(
        `attentionMask must be [${B}, ${S}] (batch, positions so far), got [${pad.shape.join(", ")}]`,
      );
    if (!pad && Tq === 1) return null;
    const Bm = pad ? B : 1;
    const m = new Float32Array(Bm * Tq * S);
    const p = pad ? pad.toArray() : null;
    // A large finite negative, so fully masked rows (left padding) stay finite instead of NaN.
    const NEG = -1e30;
    for (let b = 0; b < Bm; b++)
      for (let t = 0; t < Tq; t++)
        for (let s = 0; s < S; s++)
          if (s > startPos + t || (p !== null && p[b * S + s] === 0)) m[(b * Tq + t) * S + s] = NEG;
    return T.tensor(m, { shape: [Bm, 1, Tq, S] });
  }

  /**
   * The full pass: main logits [B, T, V] and, when `withMtp`, each MTP module's logits
   * [B, T-k-1, V] (module k, 0-based, at position i predicts token i + k + 2); `hidden` is
   * norm(h) [B, T, dim], what the head and the first MTP module read.
   */
  run(
    tokens: Tokens,
    opts: ForwardOptions & { withMtp?: boolean } = {},
  ): { logits: T.Tensor; mtpLogits: T.Tensor[]; hidden: T.Tensor } {
    const ids = this.tokensToTensor(tokens);
    const [B, Tq] = ids.shape;
    const startPos = opts.startPos ?? 0;
    if (!Number.isInteger(startPos) || startPos < 0)
      throw new RangeError(`startPos must be a non-negative integer, got ${startPos}`);
    if (startPos + Tq > this.args.max_seq_len)
      throw new RangeError(
        `sequence length ${startPos + Tq} exceeds max_seq_len ${this.args.max_seq_len}`,
      );
    const cache = opts.cache;
    if (cache) {
      if (!Array.isArray(cache) || cache.length !== this.layers.length)
        throw new RangeError(`cache must have one entry per layer (${this.layers.length})`);
      if (!cache.every((c) => c instanceof LatentKV))
        throw new TypeError(
          "cache entries must be LatentKV objects (model.layers.map(() => new LatentKV()))",
        );
      const held = cache[0].length;
      if (cache.some((c) => c.length !== held))
        throw new RangeError(
          `cache layers hold different numbers of positions (${cache.map((c) => c.length).join(", ")})`,
        );
      if (startPos !== held)
        throw new RangeError(
          `startPos ${startPos} must equal the positions the cache holds (${held}): the new tokens follow them`,
        );
    } else if (startPos !== 0)
      throw new RangeError(
        `startPos ${startPos} needs a cache holding the ${startPos} earlier positions (without one, start at 0)`,
      );
    if (opts.withMtp && this.mtp.length > 0 && cache)
      throw new Error("MTP logits need a full sequence (no cache, startPos 0)");
    const lengths = cache?.map((c) => c.length) ?? [];
    try {
      return this.runLayers(ids, B, Tq, startPos, opts);
    } catch (e) {
      // A step that fails part-way (a hook's error, say) leaves the cache as it found it.
      cache?.forEach((c, L) => c.truncate(Math.min(lengths[L], c.length)));
      throw e;
    }
  }

  private runLayers(
    ids: T.Tensor,
    B: number,
    Tq: number,
    startPos: number,
    opts: ForwardOptions & { withMtp?: boolean },
  ): { logits: T.Tensor; mtpLogits: T.Tensor[]; hidden: T.Tensor } {
    const pad = opts.attentionMask
      ? this.tokensToTensor(opts.attentionMask, "attentionMask", false)
      : null;
    const mask = this.buildMask(B, Tq, startPos, pad);
    const { cos, sin } = this.rope().range(startPos, Tq);
    const emb = this.hook("hook_embed", this.embed.forward(ids));
    let h = emb;
    this.layers.forEach((blk, L) => {
      h = blk.forward(h, { cos, sin, mask, cache: opts.cache?.[L] });
    });
    const hn = this.hook("hook_final_norm", this.norm.forward(h));
    const logits = this.hook("hook_logits", this.head.forward(hn));
    const mtpLogits: T.Tensor[] = [];
    if (opts.withMtp && this.mtp.length > 0) {
      let prev = hn;
      for (let k = 0; k < this.mtp.length; k++) {
        const n = Tq - k - 1;
        if (n <= 0) break;
        const r = this.rope().range(0, n);
        const m = this.buildMask(B, n, 0, pad ? pad.narrow(1, 0, n) : null);
        const { h: hk, normed } = this.mtp[k].step(emb.narrow(1, k + 1, n), prev.narrow(1, 0, n), {
          cos: r.cos,
          sin: r.sin,
          mask: m,
        });
        mtpLogits.push(this.mtp[k].logitsHook(this.head.forward(normed)));
        prev = hk;
      }
    }
    return { logits, mtpLogits, hidden: hn };
  }

  /** tokens [B, T] -> logits [B, T, V] (the MTP modules do not run). */
  forward(tokens: Tokens, opts: ForwardOptions = {}): T.Tensor {
    // A graph scope: the activations go with the logits' graph (freed by backward, or when the
    // logits are disposed), so a loop without tidy() stays flat in memory.
    return T.graphScope(() => this.run(tokens, opts).logits);
  }

  /**
   * Mean cross-entropy of the main head on targets [B, T], plus (mtpWeight / D) · Σ_k L_k where
   * MTP module k's logits at position i are scored against targets[i + k + 1].
   */
  loss(inputs: Tokens, targets: Tokens, opts: LossOptions & ForwardOptions = {}): T.Tensor {
    return this.lossParts(inputs, targets, opts).loss;
  }

  /**
   * The training loss and its parts: `main` (the main head's cross-entropy), `mtp` (the mean of
   * the MTP modules' cross-entropies, unweighted; null without MTP or when every depth's targets
   * are ignored) and `loss` = main + mtpWeight · mtp.
   */
  lossParts(
    inputs: Tokens,
    targets: Tokens,
    opts: LossOptions & ForwardOptions = {},
  ): { loss: T.Tensor; main: T.Tensor; mtp: T.Tensor | null } {
    // A graph scope, as forward(): backward() frees the activations once it has used them.
    return T.graphScope(() => this.lossPartsIn(inputs, targets, opts));
  }

  private lossPartsIn(
    inputs: Tokens,
    targets: Tokens,
    opts: LossOptions & ForwardOptions,
  ): { loss: T.Tensor; main: T.Tensor; mtp: T.Tensor | null } {
    if (opts.cache || opts.startPos)
      throw new Error("loss needs a full sequence: no cache, startPos 0");
    const ids = this.tokensToTensor(inputs, "inputs");
    const tg = this.tokensToTensor(targets, "targets", false);
    if (tg.shape[0] !== ids.shape[0] || tg.shape[1] !== ids.shape[1])
      throw new RangeError(
        `targets shape [${tg.shape.join(", ")}] must equal inputs shape [${ids.shape.join(", ")}]`,
      );
    const ignoreIndex = opts.ignoreIndex ?? -100;
    const td = tg.toArray();
    for (let i = 0; i < td.length; i++)
      if (td[i] !== ignoreIndex && (td[i] < 0 || td[i] >= this.args.vocab_size))
        throw new RangeError(`targets: id ${td[i]} is out of range [0, ${this.args.vocab_size})`);
    const lambda = opts.mtpWeight ?? 0.3;
    const withMtp = this.mtp.length > 0 && lambda !== 0;
    const { logits, mtpLogits } = this.run(ids, { ...opts, withMtp });
    const main = T.crossEntropy(logits, tg, { ignoreIndex });
    if (mtpLogits.length === 0) return { loss: main, main, mtp: null };
    const D = this.mtp.length;
    let sum: T.Tensor | null = null;
    const [Bt, Tt] = tg.shape;
    mtpLogits.forEach((ml, k) => {
      const n = ml.shape[1];
      // A depth whose shifted targets are all ignored adds nothing (its mean would be 0/0).
      let any = false;
      for (let b = 0; b < Bt && !any; b++)
        for (let t = k + 1; t < k + 1 + n && !any; t++) any = td[b * Tt + t] !== ignoreIndex;
      if (!any) return;
      const l = T.crossEntropy(ml, tg.narrow(1, k + 1, n).contiguous(), { ignoreIndex });
      sum = sum === null ? l : sum.add(l);
    });
    if (sum === null) return { loss: main, main, mtp: null };
    const mtpSum: T.Tensor = sum;
    return { loss: main.add(mtpSum.mul(lambda / D)), main, mtp: mtpSum.div(D) };
  }

  /** Every hook point name of this model (see the list at the top of this file). */
  override hookPoints(): string[] {
    return super.hookPoints();
  }

  private checkHookName(name: string): void {
    if (typeof name !== "string")
      throw new TypeError(`a hook point is named by a string, got ${typeof name}`);
    const all = this.hookPoints();
    if (!all.includes(name)) {
      const closest = all
        .map((n) => [n, editDistance(name, n)] as const)
        .sort((a, b) => a[1] - b[1])
        .slice(0, 5)
        .map(([n]) => n);
      throw new Error(
        `unknown hook point "${name}"; the closest: ${closest.join(", ")} (model.hookPoints() lists all)`,
      );
    }
  }

  /** The hook points a name or a predicate selects (a name must exist; a predicate may match none). */
  private selectHooks(sel: string | ((name: string) => boolean)): string[] {
    if (typeof sel === "function") return this.hookPoints().filter((n) => sel(n));
    this.checkHookName(sel);
    return [sel];
  }

  /**
   * Runs the model once with temporary hooks: `fwd` hooks read or replace activations, `bwd`
   * hooks read or replace their gradients when a later backward() runs through this call's
   * graph. Each entry is [hook name or predicate on names, fn]. The hooks never outlive the call,
   * even when it throws. Returns the logits [B, T, V].
   */
  runWithHooks(
    tokens: Tokens,
    opts: ForwardOptions & {
      fwd?: [string | ((name: string) => boolean), HookFn][];
      bwd?: [string | ((name: string) => boolean), GradHookFn][];
    } = {},
  ): T.Tensor {
    const removers: (() => void)[] = [];
    try {
      const { fwd = [], bwd = [], ...forward } = opts;
      for (const [sel, fn] of [...fwd, ...bwd])
        if (typeof fn !== "function")
          throw new TypeError(`runWithHooks: a hook on ${String(sel)} is not a function`);
      for (const [sel, fn] of fwd)
        for (const n of this.selectHooks(sel)) removers.push(this.ctx.addHook(n, fn));
      // Gradient hooks go on the activation each call produces (after any fwd replacement).
      for (const [sel, fn] of bwd)
        for (const n of this.selectHooks(sel))
          removers.push(
            this.ctx.addHook(n, (t, name) => {
              if (t.requiresGrad) t.registerHook((g) => fn(g, name));
            }),
          );
      return T.graphScope(() => this.run(tokens, { ...forward, withMtp: false }).logits);
    } finally {
      for (const rm of removers) rm();
    }
  }

  /** Adds a hook that reads (or, by returning a Tensor, replaces) an activation; returns its remover. */
  addHook(name: string, fn: HookFn): () => void {
    this.checkHookName(name);
    if (typeof fn !== "function") throw new TypeError(`addHook: fn must be a function`);
    return this.ctx.addHook(name, fn);
  }

  resetHooks(): void {
    this.ctx.clearHooks();
  }

  /**
   * Runs the model (with MTP modules when they exist) recording the named activations
   * (default: all), detached copies. Hooks added with addHook also run.
   */
  runWithCache(
    tokens: Tokens,
    opts: ForwardOptions & {
      names?: string[];
      /**
       * Also record d loss / d activation at the same hook points: the model runs with autograd,
       * `loss(logits)` (default: the mean next-token cross-entropy of the tokens themselves) is
       * backpropagated, and the weights' .grad are left as they were.
       */
      grads?: boolean;
      loss?: (logits: T.Tensor) => T.Tensor;
    } = {},
  ): { logits: T.Tensor; cache: ActivationCache } {
    const { names, grads: wantGrads, loss, ...forward } = opts;
    if (names) for (const n of names) this.checkHookName(n);
    if (wantGrads && opts.cache)
      throw new Error("runWithCache: grads need a full sequence (no cache)");
    const grads = new Map<string, T.Tensor>();
    const removers: (() => void)[] = [];
    const rec = this.ctx.startRecording(names ?? "all");
    try {
      // The MTP modules run (and record) only on a full sequence, not on cached steps.
      const withMtp = !opts.cache && !wantGrads;
      if (!wantGrads) {
        const { logits } = T.noGrad(() => this.run(tokens, { ...forward, withMtp }));
        return { logits, cache: new ActivationCache(new Map(rec)) };
      }
      for (const n of names ?? this.hookPoints())
        removers.push(
          this.ctx.addHook(n, (t, name) => {
            if (t.requiresGrad)
              t.registerHook(
                (g) => void grads.set(name, T.keep(T.noGrad(() => g.detach().clone()))),
              );
          }),
        );
      const ids = this.tokensToTensor(tokens);
      const params = [...this.namedParameters().values()];
      const kept = params.map((p) => p.grad);
      for (const p of params) p.grad = null;
      try {
        let logits!: T.Tensor;
        T.tidy(() => {
          const out = this.run(ids, { ...forward, withMtp: false }).logits;
          const l = loss ? loss(out) : this.nextTokenLoss(out, ids);
          if (!(l instanceof T.Tensor) || l.size !== 1)
            throw new TypeError("runWithCache: loss(logits) must return a scalar Tensor");
          l.backward();
          logits = T.keep(out.detach());
        });
        return { logits, cache: new ActivationCache(new Map(rec), grads) };
      } finally {
        params.forEach((p, i) => {
          if (p.grad !== kept[i]) p.grad?.dispose();
          p.grad = kept[i];
        });
      }
    } finally {
      this.ctx.stopRecording();
      for (const rm of removers) rm();
    }
  }

  /** Mean cross-entropy of logits [B, T, V] against the next tokens of ids [B, T]. */
  private nextTokenLoss(logits: T.Tensor, ids: T.Tensor): T.Tensor {
    const Tq = ids.shape[1];
    if (Tq < 2) throw new RangeError("runWithCache: a next-token loss needs at least 2 tokens");
    return T.crossEntropy(logits.narrow(1, 0, Tq - 1), ids.narrow(1, 1, Tq - 1).contiguous());
  }

  /** Named weights as float32 checkpoint entries (DeepSeek's names). */
  stateDict(): Map<string, TensorEntry> {
    const out = new Map<string, TensorEntry>();
    for (const [n, t] of this.namedParameters())
      out.set(n, { dtype: "F32", shape: [...t.shape], data: Float32Array.from(t.toArray()) });
    return out;
  }

  /** Copies weights in (names and shapes must match; BF16 and FP8 + .scale are decoded). */
  loadStateDict(tensors: ReadonlyMap<string, TensorEntry>): void {
    const params = this.namedParameters();
    // Every tensor is checked and decoded before any weight changes: a bad file leaves the
    // model as it was.
    const values = decodeWeights(tensors, new Map([...params].map(([n, p]) => [n, p.shape])));
    T.noGrad(() => {
      for (const [n, p] of params) p.copy_(T.tensor(values.get(n)!, { shape: [...p.shape] }));
    });
  }

  /** Writes dir/model0-mp1.safetensors (float32), config.json (ModelArgs) and moelab.json. */
  async save(dir: string, opts: SaveOptions = {}): Promise<void> {
    this.saveSync(dir, opts);
  }

  /** save() without yielding to the event loop (a training loop's checkpoints). */
  saveSync(dir: string, opts: SaveOptions = {}): void {
    mkdirSync(dir, { recursive: true });
    const settings = { ...this.config.settings, precision: this.precision };
    const cfg = new ModelConfig({ ...this.args }, settings, this.config.name);
    const sd = this.stateDict();
    // DeepSeek's FP8 checkpoints: E4M3 codes with a float32 multiplier per 128x128 block.
    if (this.args.dtype === "fp8") quantizeFp8Weights(sd, cfg.args, cfg.settings);
    saveCheckpointSync(dir, cfg, sd, { layout: opts.layout ?? "deepseek" });
    const tokPath = join(dir, TOKENIZER_FILE);
    if (this.tok) writeFileSync(tokPath, JSON.stringify(this.tok.toJSON()) + "\n");
    else if (existsSync(tokPath)) unlinkSync(tokPath); // an earlier save's, no longer this model's
  }

  /**
   * Reads a checkpoint directory written by save() or DeepSeek's convert.py, or in HF's layout;
   * BF16 and FP8 (E4M3 + block scales) weights are decoded to float32.
   */
  static async load(dir: string): Promise<Transformer> {
    const ck = await loadCheckpoint(dir);
    const tokPath = join(dir, TOKENIZER_FILE);
    let tok: TextTokenizer | null = null;
    if (existsSync(tokPath)) {
      let json: unknown;
      try {
        json = JSON.parse(readFileSync(tokPath, "utf8"));
      } catch (e) {
        throw new Error(`${tokPath}: not valid JSON: ${(e as Error).message}`, { cause: e });
      }
      tok = tokenizerFromJSON(json, tokPath);
    }
    const m = new Transformer(ck.config);
    m.loadStateDict(ck.tensors);
    if (tok) m.tokenizer = tok;
    return m;
  }

  override describe(): string {
    const a = this.args;
    const s = this.config.settings;
    return `Transformer${this.config.name ? ` "${this.config.name}"` : ""} (${a.n_layers} layers, dim ${a.dim}, ${a.n_routed_experts} experts top-${a.n_activated_experts}, mtp ${s.mtp_depth}, ${this.precision})`;
  }

  override toString(): string {
    const p = this.config.params();
    return `${super.toString()}\n${humanCount(p.activated)} parameters activated per token (main model).`;
  }
}

/** Levenshtein distance, for suggesting the closest hook names. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}
