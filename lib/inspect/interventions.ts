/**
 * Ready-made interventions: each is a list of forward hooks, so it works inside
 * `model.runWithHooks(tokens, { fwd: iv.hooks })`, or through `withInterventions(model, ivs, fn)`,
 * which adds the hooks for the duration of `fn` only. None writes a weight: the gate bias is
 * scaled by re-routing with a scaled copy, an expert is ablated through its routing weight, a head
 * through its output z. So the model is bitwise the same afterwards, whether `fn` returns or throws.
 */
import * as T from "../tensor/index.js";
import type { Transformer } from "../model/index.js";
import { routeTokens, type HookFn } from "../nn/index.js";
import { checkIndex, f32, moeOf } from "./common.js";

/** Forward hooks by hook name, usable as `runWithHooks`'s `fwd`. */
export interface Intervention {
  /** What it does, in words ("layer 2: expert 5 ablated (renormalised)"). */
  readonly description: string;
  readonly hooks: [string, HookFn][];
}

const asList = (x: number | readonly number[]): number[] => (typeof x === "number" ? [x] : [...x]);

function intervention(description: string, hooks: [string, HookFn][]): Intervention {
  return Object.freeze({
    description,
    hooks,
    toString: () => `Intervention: ${description}`,
    [Symbol.for("Jupyter.display")]: () => ({ "text/plain": `Intervention: ${description}` }),
  });
}

/** A position index (negative counts from the end) resolved against T, or a clear error. */
function position(p: number, Tq: number, what: string): number {
  if (!Number.isInteger(p) || p >= Tq || p < -Tq)
    throw new RangeError(`${what}: position ${p} is outside the ${Tq} tokens of the input`);
  return p < 0 ? Tq + p : p;
}

export interface ForceExpertOptions {
  /** Main layer index (an MoE layer), or several. */
  layer: number | readonly number[];
  /** The routed expert the tokens must use. */
  expert: number;
  /** Token positions (negative: from the end); default every position. */
  position?: number | readonly number[];
  /** Batch rows; default every row. */
  batch?: number | readonly number[];
}

/**
 * Routes the chosen tokens to `expert`: it takes the first top-k slot and the others move down,
 * the last dropped (a token that already chose it keeps its choices). Its weight is the gate's own
 * for that expert (the gate computes weights from the indices).
 */
export function forceExpert(model: Transformer, opts: ForceExpertOptions): Intervention {
  const layers = asList(opts.layer);
  const E = model.args.n_routed_experts;
  for (const L of layers) moeOf(model, L, "forceExpert");
  checkIndex(opts.expert, E, "forceExpert: expert");
  const e = opts.expert;
  const fn: HookFn = (t, name) => {
    const [B, Tq, k] = t.shape;
    const rows = opts.batch === undefined ? [...Array(B).keys()] : asList(opts.batch);
    for (const b of rows) checkIndex(b, B, `forceExpert (${name}): batch row`);
    const pos =
      opts.position === undefined
        ? [...Array(Tq).keys()]
        : asList(opts.position).map((p) => position(p, Tq, `forceExpert (${name})`));
    const idx = Int32Array.from(t.toArray());
    for (const b of rows)
      for (const p of pos) {
        const o = (b * Tq + p) * k;
        if (idx.subarray(o, o + k).includes(e)) continue;
        for (let j = k - 1; j > 0; j--) idx[o + j] = idx[o + j - 1];
        idx[o] = e;
      }
    return T.tensor(idx, { shape: [B, Tq, k] });
  };
  const where =
    opts.position === undefined ? "every token" : `position ${asList(opts.position).join(", ")}`;
  return intervention(
    `layer ${layers.join(", ")}: ${where} routed to expert ${e}`,
    layers.map((L) => [`blocks.${L}.moe.hook_expert_indices`, fn]),
  );
}

export interface AblateExpertOptions {
  layer: number | readonly number[];
  expert: number | readonly number[];
  /**
   * Rescale the token's other routing weights so they keep their sum (default false: the ablated
   * expert's weight is simply zero).
   */
  renormalise?: boolean;
}

/** Sets the routing weight of `expert` to zero wherever it was chosen (renormalised or not). */
export function ablateExpert(model: Transformer, opts: AblateExpertOptions): Intervention {
  const layers = asList(opts.layer);
  const E = model.args.n_routed_experts;
  for (const L of layers) moeOf(model, L, "ablateExpert");
  const experts = new Set(asList(opts.expert));
  for (const e of experts) checkIndex(e, E, "ablateExpert: expert");
  const hooks: [string, HookFn][] = [];
  for (const L of layers) {
    let indices: Int32Array | null = null;
    hooks.push([
      `blocks.${L}.moe.hook_expert_indices`,
      (t) => void (indices = Int32Array.from(t.toArray())),
    ]);
    hooks.push([
      `blocks.${L}.moe.hook_expert_weights`,
      (w, name) => {
        const idx = indices;
        if (!idx || idx.length !== w.size)
          throw new Error(`ablateExpert (${name}): the layer's expert indices were not seen`);
        const k = w.shape[w.ndim - 1];
        const wd = f32(w);
        const m = new Float32Array(w.size);
        for (let o = 0; o < w.size; o += k) {
          let all = 0;
          let kept = 0;
          for (let j = 0; j < k; j++) {
            all += wd[o + j];
            if (!experts.has(idx[o + j])) kept += wd[o + j];
          }
          const f = opts.renormalise && kept !== 0 ? all / kept : 1;
          for (let j = 0; j < k; j++) m[o + j] = experts.has(idx[o + j]) ? 0 : f;
        }
        return w.mul(T.tensor(m, { shape: [...w.shape] }));
      },
    ]);
  }
  return intervention(
    `layer ${layers.join(", ")}: expert ${[...experts].join(", ")} ablated${opts.renormalise ? " (others renormalised)" : ""}`,
    hooks,
  );
}

/**
 * Takes experts out of the router's reach: the layer's experts are chosen again from its scores
 * with theirs at -inf, so a token that chose one takes its next best (with that expert's own
 * weight), where ablateExpert leaves the slot empty.
 */
export function excludeExpert(
  model: Transformer,
  opts: { layer: number | readonly number[]; expert: number | readonly number[] },
): Intervention {
  const layers = asList(opts.layer);
  const E = model.args.n_routed_experts;
  const experts = asList(opts.expert);
  for (const e of experts) checkIndex(e, E, "excludeExpert: expert");
  if (E - experts.length < model.args.n_activated_experts)
    throw new RangeError(
      `excludeExpert: ${E - experts.length} experts left for top-${model.args.n_activated_experts}`,
    );
  const hooks: [string, HookFn][] = [];
  for (const L of layers) {
    const moe = moeOf(model, L, "excludeExpert");
    let scores: Float32Array | null = null;
    hooks.push([`blocks.${L}.moe.hook_router_scores`, (s) => void (scores = f32(s))]);
    hooks.push([
      `blocks.${L}.moe.hook_expert_indices`,
      (t) => {
        const s = scores ? Float32Array.from(scores) : null;
        if (!s) throw new Error(`excludeExpert: layer ${L}'s router scores were not seen`);
        for (let o = 0; o < s.length; o += E) for (const e of experts) s[o + e] = -Infinity;
        const bias = moe.gate.bias ? f32(moe.gate.bias) : null;
        const { indices } = routeTokens(s, bias, s.length / E, moe.args);
        return T.tensor(indices, { shape: [...t.shape] });
      },
    ]);
  }
  return intervention(
    `layer ${layers.join(", ")}: expert ${experts.join(", ")} excluded from routing`,
    hooks,
  );
}

export interface AblateHeadOptions {
  layer: number | readonly number[];
  head: number | readonly number[];
  /** "zero" (default) or "mean": the head's output z replaced by its mean over batch and positions. */
  mode?: "zero" | "mean";
  /**
   * For "mean": the activation to average, hook_z [B', T', H, v_head_dim] of a reference run (a
   * cache's `blocks.{L}.attn.hook_z`); default the current run's own.
   */
  reference?: T.Tensor;
}

/** Zero- or mean-ablates attention heads through their outputs z (blocks.{L}.attn.hook_z). */
export function ablateHead(model: Transformer, opts: AblateHeadOptions): Intervention {
  const layers = asList(opts.layer);
  for (const L of layers) checkIndex(L, model.blocks.length, "ablateHead: layer");
  const H = model.args.n_heads;
  const dv = model.args.v_head_dim;
  const heads = asList(opts.head);
  for (const h of heads) checkIndex(h, H, "ablateHead: head");
  const mode = opts.mode ?? "zero";
  if (mode !== "zero" && mode !== "mean")
    throw new TypeError(`ablateHead: mode must be "zero" or "mean", got ${JSON.stringify(mode)}`);
  const ref = opts.reference;
  if (ref !== undefined) {
    if (mode !== "mean") throw new TypeError('ablateHead: a reference is for mode "mean"');
    if (!(ref instanceof T.Tensor) || ref.ndim !== 4 || ref.shape[2] !== H || ref.shape[3] !== dv)
      throw new RangeError(
        `ablateHead: reference must be a hook_z activation [B, T, ${H}, ${dv}], got ${ref instanceof T.Tensor ? `[${ref.shape.join(", ")}]` : typeof ref}`,
      );
  }
  const keep = new Float32Array(H).fill(1);
  for (const h of heads) keep[h] = 0;
  const fn: HookFn = (z) => {
    const mask = T.tensor(keep, { shape: [1, 1, H, 1] });
    if (mode === "zero") return z.mul(mask);
    const src = f32(T.noGrad(() => (ref ?? z).float().mean([0, 1])));
    const fill = new Float32Array(H * dv);
    for (const h of heads) fill.set(src.subarray(h * dv, (h + 1) * dv), h * dv);
    return z.mul(mask).add(T.tensor(fill, { shape: [1, 1, H, dv] }));
  };
  return intervention(
    `layer ${layers.join(", ")}: head ${heads.join(", ")} ${mode}-ablated`,
    layers.map((L) => [`blocks.${L}.attn.hook_z`, fn]),
  );
}

export interface ScaleGateBiasOptions {
  layer: number | readonly number[];
  /** The bias used for selection is factor · bias (0 routes on the scores alone). */
  factor: number;
}

/**
 * Routes with the gate's selection bias scaled by `factor`: the layer's experts are chosen again
 * from its scores + factor · bias (the bias tensor itself is not written).
 */
export function scaleGateBias(model: Transformer, opts: ScaleGateBiasOptions): Intervention {
  const layers = asList(opts.layer);
  if (typeof opts.factor !== "number" || !Number.isFinite(opts.factor))
    throw new TypeError(
      `scaleGateBias: factor must be a finite number, got ${String(opts.factor)}`,
    );
  const hooks: [string, HookFn][] = [];
  for (const L of layers) {
    const moe = moeOf(model, L, "scaleGateBias");
    const bias = moe.gate.bias;
    if (!bias)
      throw new Error(
        `scaleGateBias: layer ${L}'s gate has no bias (routing "${model.config.settings.routing}"; "noaux_tc" has one)`,
      );
    let scores: Float32Array | null = null;
    hooks.push([`blocks.${L}.moe.hook_router_scores`, (s) => void (scores = f32(s))]);
    hooks.push([
      `blocks.${L}.moe.hook_expert_indices`,
      (t) => {
        const s = scores;
        if (!s) throw new Error(`scaleGateBias: layer ${L}'s router scores were not seen`);
        const b = f32(bias).map((v) => v * opts.factor);
        const n = t.size / t.shape[t.ndim - 1];
        const { indices } = routeTokens(s, b, n, moe.args);
        return T.tensor(indices, { shape: [...t.shape] });
      },
    ]);
  }
  return intervention(`layer ${layers.join(", ")}: gate bias x ${opts.factor}`, hooks);
}

/**
 * Runs fn with the interventions' hooks on the model (hook names checked first, with the closest
 * names for an unknown one), and removes them when fn returns, throws, or its promise settles.
 */
export function withInterventions<R>(
  model: Transformer,
  interventions: Intervention | readonly Intervention[],
  fn: () => R,
): R {
  const list = Array.isArray(interventions)
    ? (interventions as readonly Intervention[])
    : [interventions as Intervention];
  const removers: (() => void)[] = [];
  const removeAll = (): void => {
    for (const rm of removers.splice(0)) rm();
  };
  let async = false;
  try {
    for (const iv of list) {
      if (!iv || !Array.isArray(iv.hooks))
        throw new TypeError("withInterventions: expected interventions ({ description, hooks })");
      for (const [name, h] of iv.hooks) removers.push(model.addHook(name, h));
    }
    const out = fn();
    if (out instanceof Promise) {
      async = true;
      return out.finally(removeAll) as R;
    }
    return out;
  } finally {
    if (!async) removeAll();
  }
}

/** The logits [B, T, V] of one pass with the interventions (no gradients recorded). */
export function runWithInterventions(
  model: Transformer,
  tokens: T.Tensor | number[][],
  interventions: Intervention | readonly Intervention[],
): T.Tensor {
  return withInterventions(model, interventions, () => T.noGrad(() => model.forward(tokens)));
}
