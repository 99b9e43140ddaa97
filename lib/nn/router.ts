/**
 * Group-limited top-k routing on plain arrays, DeepSeek's Gate selection rule:
 *   sel = s + bias                (the bias only chooses experts; "noaux_tc" routing)
 *   groups (n_expert_groups > 1): group score = sum of its top-2 sel with a bias, max without;
 *          keep the n_limited_groups best groups, the others cannot be chosen
 *   idx = topk(sel, n_activated_experts), ties to the lower expert index
 * The native router (native/src/ops_moe.cc) applies the same rules; the TypeScript one is the
 * reference it is tested against.
 */
import type { ModelArgs } from "../config/index.js";
import { native } from "../tensor/native.js";

/** The config fields routing reads. */
export type RouteArgs = Pick<
  ModelArgs,
  "n_routed_experts" | "n_activated_experts" | "n_expert_groups" | "n_limited_groups"
>;

/** Pure routing on plain arrays: which experts each token picks (for the Gate and for tests). */
export function routeTokens(
  scores: Float32Array,
  bias: Float32Array | null,
  n: number,
  a: RouteArgs,
): { indices: Int32Array; biased: Float32Array } {
  const indices = new Int32Array(n * a.n_activated_experts);
  const biased = new Float32Array(n * a.n_routed_experts);
  routeInto(scores, bias, n, a, indices, biased);
  return { indices, biased };
}

/** routeTokens into given arrays; `biased` null skips writing the biased scores out. */
export function routeInto(
  scores: Float32Array,
  bias: Float32Array | null,
  n: number,
  a: RouteArgs,
  indices: Int32Array,
  biased: Float32Array | null,
): void {
  const E = a.n_routed_experts;
  const nativeRoute = native.moeRoute;
  if (nativeRoute !== undefined)
    nativeRoute(
      scores,
      bias,
      n,
      E,
      a.n_activated_experts,
      a.n_expert_groups,
      a.n_limited_groups,
      indices,
      biased,
    );
  else routeTokensJs(scores, bias, n, a, indices, biased ?? new Float32Array(n * E));
}

/** The TypeScript router (the reference the native one is tested against); fills indices, biased. */
export function routeTokensJs(
  scores: Float32Array,
  bias: Float32Array | null,
  n: number,
  a: RouteArgs,
  indices: Int32Array,
  biased: Float32Array,
): void {
  const E = a.n_routed_experts;
  const k = a.n_activated_experts;
  const G = a.n_expert_groups;
  const per = E / G;
  // Float32 storage rounds exactly as DeepSeek's float32 tensors do, with no Math.fround.
  const gs = new Float32Array(G);
  const keptGroup = new Uint8Array(G);
  const taken = new Uint8Array(E);
  for (let t = 0; t < n; t++) {
    const o = t * E; // this token's row of `biased` (no subarray views: they cost an allocation each)
    // NaN ranks below every number: it is routed as -inf.
    for (let e = 0; e < E; e++) {
      const v = bias ? scores[o + e] + bias[e] : scores[o + e];
      biased[o + e] = v !== v ? -Infinity : v;
    }
    if (G > 1) {
      for (let g = 0; g < G; g++) {
        let m1 = -Infinity;
        let m2 = -Infinity;
        for (let j = o + g * per, end = j + per; j < end; j++) {
          const v = biased[j];
          if (v > m1) {
            m2 = m1;
            m1 = v;
          } else if (v > m2) m2 = v;
        }
        const v = bias ? m1 + m2 : m1;
        gs[g] = v !== v ? -Infinity : v; // -inf + inf, in a row of infinities
      }
      // Keep the n_limited_groups best groups (ties: lower index), mask the others to -inf.
      keptGroup.fill(0);
      for (let j = 0; j < a.n_limited_groups; j++) {
        let best = -1;
        for (let g = 0; g < G; g++)
          if (keptGroup[g] === 0 && (best < 0 || gs[g] > gs[best])) best = g;
        keptGroup[best] = 1;
      }
      for (let g = 0; g < G; g++)
        if (keptGroup[g] === 0)
          for (let j = o + g * per, end = j + per; j < end; j++) biased[j] = -Infinity;
    }
    topkRow(biased, o, E, k, taken, indices, t * k);
  }
}

/**
 * The top k of values[o, o + E) into out[at, at + k): repeated scans (k is small), descending,
 * ties to the lower index (the order a stable sort gives) without sorting all E per token.
 * `taken` is E zeros of scratch, left as it was found.
 */
export function topkRow(
  values: Float32Array,
  o: number,
  E: number,
  k: number,
  taken: Uint8Array,
  out: Int32Array,
  at: number,
): void {
  for (let j = 0; j < k; j++) {
    let best = -1;
    let bv = -Infinity;
    for (let e = 0; e < E; e++)
      if (taken[e] === 0 && (best < 0 || values[o + e] > bv)) {
        best = e;
        bv = values[o + e];
      }
    taken[best] = 1;
    out[at + j] = best;
  }
  for (let j = 0; j < k; j++) taken[out[at + j]] = 0;
}
