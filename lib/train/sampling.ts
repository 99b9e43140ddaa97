/**
 * k completions per prompt with lib/model's batched generation (left padding, the latent KV
 * cache), as text and tokens: what GRPO, rejection sampling and sequence-level distillation draw.
 */
import { generate, type Transformer } from "../model/index.js";
import { quote, stopId, tokenizerOf } from "./sequences.js";

export interface SampleOptions {
  /** Completions per prompt (default 1). */
  k?: number;
  /** Sampling temperature (default 1; 0 is greedy). */
  temperature?: number;
  /** Keep the k most likely tokens (0: all; default 0). */
  topK?: number;
  /** Tokens per completion at most (default 64). */
  maxNewTokens?: number;
  /** The string that ends a completion; one token (default "\n"). */
  stop?: string;
  /** Seed of the sampler (default 0). */
  seed?: number;
  /** Rows decoded together (default 64). */
  batchSize?: number;
}

/** One sampled completion. */
export interface Sample {
  /** The text, stop token excluded. */
  text: string;
  /** The tokens, the stop token included when it was emitted. */
  tokens: number[];
  /** True when the completion ended with the stop token (false: cut at maxNewTokens). */
  stopped: boolean;
}

/** What sampling cost: generated tokens and seconds. */
export interface SampleStats {
  tokens: number;
  seconds: number;
}

/** Checks the options and that the longest prompt plus maxNewTokens fits max_seq_len. */
export function checkSampling(
  model: Transformer,
  prompts: readonly number[][],
  texts: readonly string[],
  maxNewTokens: number,
  where: string,
): void {
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1)
    throw new RangeError(`${where}: maxNewTokens must be an integer >= 1, got ${maxNewTokens}`);
  const max = model.args.max_seq_len;
  prompts.forEach((p, i) => {
    if (p.length === 0) throw new RangeError(`${where}: prompt ${i} is empty`);
    if (p.length + maxNewTokens > max)
      throw new RangeError(
        `${where}: prompt ${quote(texts[i])} (${p.length} tokens) + maxNewTokens ${maxNewTokens} exceeds the model's max_seq_len ${max}; shorten the prompt or lower maxNewTokens`,
      );
  });
}

/**
 * k completions of each prompt (result[i][j]: prompt i's j-th). Rows of the same prompt are
 * decoded in the same batches; `stats` receives the tokens generated and the seconds spent.
 */
export function sampleCompletions(
  model: Transformer,
  prompts: readonly string[],
  opts: SampleOptions = {},
  stats?: SampleStats,
): Sample[][] {
  const where = "sampleCompletions";
  if (!Array.isArray(prompts) || prompts.length === 0)
    throw new TypeError(`${where}: give a non-empty array of prompts`);
  const k = opts.k ?? 1;
  if (!Number.isInteger(k) || k < 1)
    throw new RangeError(`${where}: k (completions per prompt) must be an integer >= 1, got ${k}`);
  const tok = tokenizerOf(model, where);
  const stop = stopId(model, opts.stop ?? "\n", where);
  const maxNewTokens = opts.maxNewTokens ?? 64;
  const ids = prompts.map((p) => Array.from(tok.encode(p)));
  checkSampling(model, ids, prompts, maxNewTokens, where);
  const batch = opts.batchSize ?? 64;
  if (!Number.isInteger(batch) || batch < 1)
    throw new RangeError(`${where}: batchSize must be an integer >= 1, got ${batch}`);
  const rows: number[] = [];
  prompts.forEach((_, i) => {
    for (let j = 0; j < k; j++) rows.push(i);
  });
  const out: Sample[][] = prompts.map(() => []);
  const t0 = Date.now();
  let generated = 0;
  for (let s = 0; s < rows.length; s += batch) {
    const chunk = rows.slice(s, s + batch);
    const r = generate(
      model,
      chunk.map((i) => ids[i]),
      {
        maxNewTokens,
        temperature: opts.temperature ?? 1,
        topK: opts.topK ?? 0,
        stopTokens: [stop],
        seed: ((opts.seed ?? 0) * 1000003 + s) >>> 0,
      },
    );
    r.tokens.forEach((t, j) => {
      generated += t.length;
      const stopped = t[t.length - 1] === stop;
      const body = stopped ? t.slice(0, -1) : t;
      out[chunk[j]].push({
        text: tok.decode(body.filter((x) => x < tok.vocabSize)),
        tokens: t,
        stopped,
      });
    });
  }
  if (stats) {
    stats.tokens += generated;
    stats.seconds += (Date.now() - t0) / 1000;
  }
  return out;
}
