/** What the analyses share: the MoE layers of a model, checked layer/expert/head numbers. */
import type { Transformer } from "../model/index.js";
import type { MoE } from "../nn/index.js";

/** A main layer's MoE, or an error naming the MoE layers there are. */
export function moeOf(model: Transformer, layer: number, what: string): MoE {
  checkIndex(layer, model.blocks.length, `${what}: layer`);
  const moe = model.blocks[layer].moe;
  if (!moe)
    throw new RangeError(
      `${what}: layer ${layer} is dense (no router); the MoE layers are ${moeLayers(model).join(", ") || "none"}`,
    );
  return moe;
}

/** The indices of the main layers that are MoE. */
export function moeLayers(model: Transformer): number[] {
  const out: number[] = [];
  model.blocks.forEach((b, L) => {
    if (b.moe) out.push(L);
  });
  return out;
}

/** Throws unless i is an integer in [0, n). */
export function checkIndex(i: unknown, n: number, what: string): asserts i is number {
  if (typeof i !== "number" || !Number.isInteger(i) || i < 0 || i >= n)
    throw new RangeError(`${what} must be an integer in [0, ${n}), got ${String(i)}`);
}

/** Plain row-major copy of a float tensor's values. */
export function f32(t: { toArray(): Float32Array | Int32Array }): Float32Array {
  const a = t.toArray();
  return a instanceof Float32Array ? a : Float32Array.from(a);
}

/** Entropy in bits of non-negative weights (normalised here); 0 for an all-zero vector. */
export function entropyBits(w: ArrayLike<number>): number {
  let z = 0;
  for (let i = 0; i < w.length; i++) z += w[i];
  if (!(z > 0)) return 0;
  let h = 0;
  for (let i = 0; i < w.length; i++) if (w[i] > 0) h -= (w[i] / z) * Math.log2(w[i] / z);
  return h;
}

/**
 * A printable label of a token id: the tokenizer's text, or "#id" without a tokenizer or for an id
 * it does not cover (a model's vocabulary may be larger than its tokenizer's).
 */
export function tokenLabel(
  tok: { vocabSize: number; tokenText(id: number): string } | null,
  id: number,
): string {
  return tok && id >= 0 && id < tok.vocabSize ? tok.tokenText(id) : `#${id}`;
}
