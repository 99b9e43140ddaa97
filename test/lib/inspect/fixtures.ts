/** A small MoE model for the inspect tests: 3 layers (1 dense), 4 experts top-2, biased routing. */
import * as T from "../../../lib/tensor/index.js";
import { Transformer } from "../../../lib/model/index.js";

export const CFG = {
  vocab_size: 64,
  dim: 32,
  inter_dim: 64,
  moe_inter_dim: 16,
  n_layers: 3,
  n_dense_layers: 1,
  n_heads: 2,
  n_routed_experts: 4,
  n_shared_experts: 1,
  n_activated_experts: 2,
  score_func: "sigmoid" as const,
  kv_lora_rank: 16,
  q_lora_rank: 0,
  qk_nope_head_dim: 8,
  qk_rope_head_dim: 8,
  v_head_dim: 8,
  max_seq_len: 32,
  mtp_depth: 0,
  routing: "noaux_tc" as const,
};
export const TOKS = [
  [1, 5, 9, 3, 7, 2, 8, 4],
  [6, 2, 11, 30, 17, 12, 40, 9],
];

/** A model with init_std large enough that routing and attention are far from uniform. */
export function model(seed = 1, over: Record<string, unknown> = {}): Transformer {
  return Transformer.create({ ...CFG, init_std: 0.2, ...over }, { seed });
}

/** Every parameter's bits, to compare a model before and after. */
export function snapshot(m: Transformer): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [n, p] of m.namedParameters()) out.set(n, Float32Array.from(p.toArray()));
  return out;
}

export const logitsOf = (m: Transformer, toks: number[][] = TOKS): Float32Array =>
  Float32Array.from(T.noGrad(() => m.forward(toks)).toArray());

export function closeTo(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: number,
  what = "",
): void {
  if (got.length !== want.length)
    throw new Error(`${what}: length ${got.length} != ${want.length}`);
  for (let i = 0; i < got.length; i++)
    if (!(Math.abs(got[i] - want[i]) <= tol * (1 + Math.abs(want[i]))))
      throw new Error(`${what}[${i}]: ${got[i]} != ${want[i]} (tol ${tol})`);
}
