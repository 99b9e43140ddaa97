/**
 * Text generation with MLA's latent KV cache: per layer and token only kv_norm(c_kv)
 * [kv_lora_rank] and the rotated k_pe [qk_rope_head_dim] are kept, and decoding runs the absorb
 * path. Greedy, temperature, top-k and top-p sampling; stop tokens; prompts of different lengths
 * batched with left padding and an attention mask.
 */
import * as T from "../tensor/index.js";
import { Rng } from "../tensor/index.js";
import { LatentKV } from "../nn/index.js";
import { kvCacheSizes, type KvCacheSizes } from "../config/index.js";
import type { Transformer } from "./transformer.js";

export interface GenerateOptions {
  /** Tokens to generate per prompt (at most). */
  maxNewTokens: number;
  /** 0 (default): greedy. Otherwise logits are divided by it before sampling. */
  temperature?: number;
  /** Keep only the k most likely tokens (0: all). */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p (1: all). */
  topP?: number;
  /** A row stops after emitting one of these (the stop token is included in its output). */
  stopTokens?: number[];
  /** Seed of the sampler. */
  seed?: number;
  /** Decode with the latent KV cache (default true) or recompute the whole sequence each step. */
  useCache?: boolean;
  /** Called after each step with the new token of every row still running (-1 for finished rows). */
  onToken?: (tokens: number[], step: number) => void;
  /** Padding id for left padding (never attended to). Default 0. */
  padId?: number;
}

export interface GenerateResult {
  /** The generated tokens of each prompt (prompt not included). */
  tokens: number[][];
  /** The generated text of each prompt, when the model has a tokenizer (ids beyond its vocabulary, which a model with a larger vocab_size can sample, are left out). */
  text?: string[];
  /** Elements the latent cache held at the end (layers x batch x positions x (kv_lora_rank + rope)). */
  cacheElements: number;
  /** Per token and layer: MLA's latent cache next to the naive path's, MHA's and GQA's for this config. */
  cacheSizes: KvCacheSizes;
  /** One line comparing the cache held with what MHA and GQA would need for the same positions. */
  cacheReport: string;
}

/** Picks the next token from one row of logits. */
export function sampleToken(
  logits: Float32Array,
  opts: Pick<GenerateOptions, "temperature" | "topK" | "topP">,
  rand: () => number,
): number {
  const temp = opts.temperature ?? 0;
  const V = logits.length;
  if (temp === 0) {
    let best = 0;
    for (let i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  let order = [...Array(V).keys()].sort((a, b) => logits[b] - logits[a] || a - b);
  const k = opts.topK ?? 0;
  if (k > 0) order = order.slice(0, k);
  const m = logits[order[0]];
  const p = order.map((i) => Math.exp((logits[i] - m) / temp));
  const z = p.reduce((x, y) => x + y, 0);
  for (let i = 0; i < p.length; i++) p[i] /= z;
  const topP = opts.topP ?? 1;
  let n = p.length;
  if (topP < 1) {
    let c = 0;
    for (n = 0; n < p.length;) {
      c += p[n++];
      if (c >= topP) break;
    }
  }
  const total = p.slice(0, n).reduce((x, y) => x + y, 0);
  let u = rand() * total;
  for (let i = 0; i < n; i++) {
    u -= p[i];
    if (u < 0) return order[i];
  }
  return order[n - 1];
}

function checkOptions(
  model: Transformer,
  prompts: number[][],
  o: Pick<GenerateOptions, "maxNewTokens" | "temperature" | "topK" | "topP" | "padId">,
): void {
  if (
    !Array.isArray(prompts) ||
    prompts.length === 0 ||
    prompts.some((p) => !Array.isArray(p) || p.length === 0)
  )
    throw new TypeError("generate: prompts must be a non-empty array of non-empty token arrays");
  if (!Number.isInteger(o.maxNewTokens) || o.maxNewTokens < 1)
    throw new RangeError(
      `generate: maxNewTokens must be a positive integer, got ${o.maxNewTokens}`,
    );
  const longest = Math.max(...prompts.map((p) => p.length));
  if (longest + o.maxNewTokens > model.args.max_seq_len)
    throw new RangeError(
      `generate: prompt length ${longest} + maxNewTokens ${o.maxNewTokens} exceeds max_seq_len ${model.args.max_seq_len}`,
    );
  if (o.temperature !== undefined && !(o.temperature >= 0))
    throw new RangeError(`generate: temperature must be >= 0, got ${o.temperature}`);
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0))
    throw new RangeError(`generate: topK must be a non-negative integer, got ${o.topK}`);
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1))
    throw new RangeError(`generate: topP must be in (0, 1], got ${o.topP}`);
  const V = model.args.vocab_size;
  if (o.padId !== undefined && !(Number.isInteger(o.padId) && o.padId >= 0 && o.padId < V))
    throw new RangeError(`generate: padId must be a token id in [0, ${V}), got ${o.padId}`);
  prompts.forEach((p, b) =>
    p.forEach((t, i) => {
      if (!(Number.isInteger(t) && t >= 0 && t < V))
        throw new RangeError(
          `generate: prompt ${b} token ${i} is ${t}, not a token id in [0, ${V})`,
        );
    }),
  );
}

/** Continues each prompt; see GenerateOptions. */
/** Prompts as token ids, or as text when the model carries a tokenizer. */
export type Prompts = number[][] | string | string[];

/** Token ids of the prompts (text encoded with the model's tokenizer). */
function promptIds(model: Transformer, prompts: Prompts, where: string): number[][] {
  if (typeof prompts !== "string" && !(Array.isArray(prompts) && typeof prompts[0] === "string"))
    return prompts as number[][];
  const tok = model.tokenizer;
  if (!tok)
    throw new TypeError(
      `${where}: text prompts need a tokenizer (model.tokenizer = new ByteTokenizer(), or pass token ids)`,
    );
  const texts = typeof prompts === "string" ? [prompts] : (prompts as string[]);
  return texts.map((t) => {
    if (typeof t !== "string") throw new TypeError(`${where}: prompts mix text and token ids`);
    return Array.from(tok.encode(t));
  });
}

export function generate(
  model: Transformer,
  promptsIn: Prompts,
  opts: GenerateOptions,
): GenerateResult {
  const prompts = promptIds(model, promptsIn, "generate");
  checkOptions(model, prompts, opts);
  const B = prompts.length;
  const P = Math.max(...prompts.map((p) => p.length));
  const pad = opts.padId ?? 0;
  const rows = prompts.map((p) => [...new Array(P - p.length).fill(pad), ...p]);
  const mask = prompts.map((p) => [
    ...new Array(P - p.length).fill(0),
    ...new Array(p.length).fill(1),
  ]);
  const padded = prompts.some((p) => p.length < P);
  const stop = new Set(opts.stopTokens ?? []);
  const gen = Rng.fromState((opts.seed ?? 0) >>> 0);
  const rand = (): number => gen.next();
  const useCache = opts.useCache ?? true;
  const cache: LatentKV[] | undefined = useCache
    ? model.layers.map(() => new LatentKV())
    : undefined;
  const out: number[][] = prompts.map(() => []);
  const done = new Array(B).fill(false);
  const V = model.args.vocab_size;
  try {
    T.noGrad(decodeLoop);
    return result(cache ? cache[0].length : 0);
  } finally {
    // The buffers are freed now, not whenever the garbage collector gets to them.
    for (const c of cache ?? []) c.dispose();
  }
  function decodeLoop(): void {
    let next: number[][] = rows;
    let start = 0;
    for (let step = 0; step < opts.maxNewTokens; step++) {
      const logits = T.tidy(() => {
        const l = useCache
          ? model.forward(next, {
              startPos: start,
              cache,
              attentionMask: padded ? mask : undefined,
            })
          : model.forward(rows, { attentionMask: padded ? mask : undefined });
        const Tn = l.shape[1];
        return l
          .narrow(1, Tn - 1, 1)
          .contiguous()
          .toArray() as Float32Array;
      });
      start += next.length > 0 ? next[0].length : 0;
      const picked: number[] = [];
      for (let b = 0; b < B; b++) {
        if (done[b]) {
          picked.push(-1);
          continue;
        }
        const tok = sampleToken(logits.subarray(b * V, (b + 1) * V), opts, rand);
        out[b].push(tok);
        picked.push(tok);
        if (stop.has(tok)) done[b] = true;
      }
      opts.onToken?.(picked, step);
      if (done.every((d) => d)) break;
      const fed = picked.map((t) => (t < 0 ? pad : t));
      rows.forEach((r, b) => r.push(fed[b]));
      mask.forEach((m) => m.push(1));
      next = fed.map((t) => [t]);
    }
  }
  function result(cached: number): GenerateResult {
    const a = model.args;
    const sizes = kvCacheSizes(a);
    const per = a.n_layers * B * cached;
    const cacheReport =
      `latent KV cache: ${per * sizes.mla} elements (${a.n_layers} layers x ${B} rows x ${cached} positions x ${sizes.mla}); ` +
      `MHA would hold ${per * sizes.mha}, GQA-${sizes.groups} ${per * sizes.gqa}`;
    const tok = model.tokenizer;
    return {
      tokens: out,
      ...(tok
        ? { text: out.map((t) => tok.decode(t.filter((id) => id >= 0 && id < tok.vocabSize))) }
        : {}),
      cacheElements: per * sizes.mla,
      cacheSizes: sizes,
      cacheReport,
    };
  }
}

export interface SpeculativeOptions {
  maxNewTokens: number;
  stopTokens?: number[];
  onToken?: (token: number, step: number) => void;
}

export interface SpeculativeResult {
  tokens: number[];
  /** The generated text, when the model has a tokenizer. */
  text?: string;
  /** Drafts proposed by the MTP module, and how many the main model accepted. */
  drafted: number;
  accepted: number;
  acceptanceRate: number;
  /** Main-model forward calls, against one per token for plain decoding. */
  mainCalls: number;
  /** Tokens per main-model call (plain greedy decoding: 1). */
  tokensPerCall: number;
}

function argmaxRow(d: Float32Array, row: number, V: number): number {
  let best = 0;
  for (let i = 1; i < V; i++) if (d[row * V + i] > d[row * V + best]) best = i;
  return best;
}

/**
 * Greedy speculative decoding with the first MTP module as the draft (one prompt): each step the
 * main model verifies [current, draft] in one call; on a match it keeps the draft and its own next
 * token, otherwise it keeps its own token and drops the draft's cache entry. The output equals
 * plain greedy decoding wherever the top two logits are not tied within float error.
 */
export function generateSpeculative(
  model: Transformer,
  promptIn: number[] | string,
  opts: SpeculativeOptions,
): SpeculativeResult {
  const prompt =
    typeof promptIn === "string" ? promptIds(model, promptIn, "generateSpeculative")[0] : promptIn;
  checkOptions(model, [prompt], opts);
  // A step feeds positions pos and pos + 1 only while fewer than maxNewTokens are out, and the
  // token at pos is the (pos - P + 1)-th: the last position fed is P + maxNewTokens - 1, as in
  // plain decoding (checkOptions).
  if (model.mtp.length === 0)
    throw new Error("generateSpeculative: the model has no MTP module (mtp_depth 0) to draft with");
  const V = model.args.vocab_size;
  const mtp = model.mtp[0];
  const stop = new Set(opts.stopTokens ?? []);
  const main: LatentKV[] = model.layers.map(() => new LatentKV());
  const draftKV = new LatentKV();
  const out: number[] = [];
  let drafted = 0;
  let accepted = 0;
  let mainCalls = 0;
  /** Runs the main model on `toks` at `start`; returns greedy picks per position and norm(h). */
  const mainStep = (toks: number[], start: number): { picks: number[]; hidden: T.Tensor } => {
    mainCalls++;
    const r = model.run([toks], { startPos: start, cache: main });
    const d = r.logits.toArray() as Float32Array;
    return { picks: toks.map((_, i) => argmaxRow(d, i, V)), hidden: r.hidden };
  };
  /** MTP positions start..: hidden [1, n, dim] with the next tokens; returns the last draft. */
  const draftStep = (hidden: T.Tensor, next: number[], start: number): number => {
    const n = next.length;
    const { cos, sin } = model.rope().range(start, n);
    const emb = model.embed.forward(T.tensor(Int32Array.from(next), { shape: [1, n] }));
    const mask = model.buildMask(1, n, start, null);
    const { normed } = mtp.step(emb, hidden, { cos, sin, mask, cache: draftKV });
    const l = model.head.forward(normed.narrow(1, n - 1, 1)).toArray() as Float32Array;
    return argmaxRow(l, 0, V);
  };
  try {
    T.noGrad(() => {
      let pos = prompt.length;
      let draft = -1;
      let cur = -1;
      const emit = (t: number): boolean => {
        out.push(t);
        opts.onToken?.(t, out.length - 1);
        return stop.has(t) || out.length >= opts.maxNewTokens;
      };
      T.tidy(() => {
        const r = mainStep(prompt, 0);
        cur = r.picks[prompt.length - 1];
        draft = draftStep(r.hidden, [...prompt.slice(1), cur], 0);
      });
      if (emit(cur)) return;
      for (;;) {
        // cur sits at position pos (not yet fed to the main model); draft guesses position pos + 1.
        drafted++;
        let finished = false;
        T.tidy(() => {
          const r = mainStep([cur, draft], pos);
          const truth = r.picks[0];
          if (truth === draft) {
            accepted++;
            const bonus = r.picks[1];
            finished = emit(draft) || emit(bonus);
            if (!finished) draft = draftStep(r.hidden, [draft, bonus], pos);
            cur = bonus;
            pos += 2;
          } else {
            // Drop the rejected draft's entry from every layer's cache.
            for (const c of main) c.truncate(pos + 1);
            finished = emit(truth);
            if (!finished) draft = draftStep(r.hidden.narrow(1, 0, 1), [truth], pos);
            cur = truth;
            pos += 1;
          }
        });
        if (finished) return;
      }
    });
  } finally {
    for (const c of [...main, draftKV]) c.dispose();
  }
  const tok = model.tokenizer;
  return {
    tokens: out,
    ...(tok ? { text: tok.decode(out) } : {}),
    drafted,
    accepted,
    acceptanceRate: drafted > 0 ? accepted / drafted : 0,
    mainCalls,
    tokensPerCall: out.length / mainCalls,
  };
}
