/**
 * Fused scaled-dot-product attention (softmax(q kᵀ · scale + causal mask) v) as one autograd node
 * with its own backward: a reference and speed baseline for MLA's unfused path in tests and
 * benchmarks.
 */
import { Tensor } from "../tensor.js";
import { record, Node, gradEnabled, checkSaved } from "../autograd.js";
import { shapeStr } from "./iter.js";
import { copyRaw } from "./shape.js";
import { sgemm } from "./matmul.js";
import { checkF, contig, f32, softmaxRows, softmaxGradRows } from "./nn.js";

export interface AttentionOptions {
  /** Mask keys after each query (query i sees keys j <= i + S - T). Default true. */
  causal?: boolean;
  /** Score scale; default 1/sqrt(D). */
  scale?: number;
}

function bAttention(g: Tensor, n: Node): (Tensor | null)[] {
  const [qc, kc, vc, p, BH, T, S, D, Dv, scale] = n.saved as [
    Tensor,
    Tensor,
    Tensor,
    Tensor,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  checkSaved(n.op, qc, kc, vc, p);
  const gemm = sgemm();
  const go = contig(g);
  const gd = f32(go);
  const P = f32(p);
  const q = f32(qc);
  const k = f32(kc);
  const v = f32(vc);
  const dq = Tensor._empty("float32", qc.shape, true);
  const dk = Tensor._empty("float32", kc.shape, true);
  const dv = Tensor._empty("float32", vc.shape, true);
  const dP = new Float32Array(BH * T * S);
  // dV = P^T dO ; dP = dO V^T ; dS = P * (dP - rowsum(dP * P)) * scale ; dQ = dS K ; dK = dS^T Q
  gemm(
    true,
    false,
    S,
    Dv,
    T,
    1,
    P,
    0,
    S,
    gd,
    0,
    Dv,
    0,
    dv._storage.data as Float32Array,
    0,
    Dv,
    BH,
    T * S,
    T * Dv,
    S * Dv,
  );
  gemm(false, true, T, S, Dv, 1, gd, 0, Dv, v, 0, Dv, 0, dP, 0, S, BH, T * Dv, S * Dv, T * S);
  softmaxGradRows(P, dP, dP, BH * T, S, false);
  // The score scale folds into alpha of the two products below.
  gemm(
    false,
    false,
    T,
    D,
    S,
    scale,
    dP,
    0,
    S,
    k,
    0,
    D,
    0,
    dq._storage.data as Float32Array,
    0,
    D,
    BH,
    T * S,
    S * D,
    T * D,
  );
  gemm(
    true,
    false,
    S,
    D,
    T,
    scale,
    dP,
    0,
    S,
    q,
    0,
    D,
    0,
    dk._storage.data as Float32Array,
    0,
    D,
    BH,
    T * S,
    T * D,
    S * D,
  );
  if (go !== g) go.dispose();
  const [qi, ki, vi] = n.inputs;
  const res = [dq, dk, dv];
  const shaped = res.map((r, i) => {
    const target = [qi, ki, vi][i].shape;
    if (r.shape.every((s, j) => s === target[j])) return r;
    const v2 = r._view(target, null, 0);
    r.dispose();
    return v2;
  });
  return shaped;
}

/**
 * Scaled dot-product attention: q [..., T, D], k [..., S, D], v [..., S, Dv] -> [..., T, Dv]
 * (leading dims equal, e.g. [B, H]). Causal by default.
 */
export function attention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts?: AttentionOptions & { returnProbs?: false },
): Tensor;
/** With returnProbs: also the attention probabilities [..., T, S] (for inspection; not differentiable). */
export function attention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts: AttentionOptions & { returnProbs: true },
): { output: Tensor; probs: Tensor };
export function attention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts: AttentionOptions & { returnProbs?: boolean } = {},
): Tensor | { output: Tensor; probs: Tensor } {
  checkF(q, "attention", "q");
  checkF(k, "attention", "k");
  checkF(v, "attention", "v");
  if (q.ndim < 2 || k.ndim !== q.ndim || v.ndim !== q.ndim)
    throw new Error(
      `attention: q, k, v must have the same rank >= 2, got ${shapeStr(q.shape)}, ${shapeStr(k.shape)}, ${shapeStr(v.shape)}`,
    );
  const lead = q.shape.slice(0, -2);
  for (const [nm, t] of [
    ["k", k],
    ["v", v],
  ] as const)
    if (t.shape.slice(0, -2).some((s, i) => s !== lead[i]))
      throw new Error(
        `attention: leading dims of ${nm} ${shapeStr(t.shape)} differ from q ${shapeStr(q.shape)}`,
      );
  const T = q.shape[q.ndim - 2];
  const D = q.shape[q.ndim - 1];
  const S = k.shape[k.ndim - 2];
  const Dv = v.shape[v.ndim - 1];
  if (k.shape[k.ndim - 1] !== D)
    throw new Error(
      `attention: q ${shapeStr(q.shape)} and k ${shapeStr(k.shape)} differ in the last dim`,
    );
  if (v.shape[v.ndim - 2] !== S)
    throw new Error(
      `attention: k ${shapeStr(k.shape)} and v ${shapeStr(v.shape)} differ in length`,
    );
  const causal = opts.causal ?? true;
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const BH = lead.reduce((a, b) => a * b, 1);
  const qc = contig(q);
  const kc = contig(k);
  const vc = contig(v);
  const p = Tensor._empty("float32", [...lead, T, S], true);
  const P = p._storage.data as Float32Array;
  const gemm = sgemm();
  gemm(
    false,
    true,
    T,
    S,
    D,
    scale,
    f32(qc),
    0,
    D,
    f32(kc),
    0,
    D,
    0,
    P,
    0,
    S,
    BH,
    T * D,
    S * D,
    T * S,
  );
  if (causal) {
    const off = S - T;
    for (let b = 0; b < BH; b++)
      for (let i = 0; i < T; i++) {
        const row = (b * T + i) * S;
        for (let j = Math.max(0, i + off + 1); j < S; j++) P[row + j] = -Infinity;
      }
  }
  softmaxRows(P, P, BH * T, S, false);
  const out = Tensor._empty("float32", [...lead, T, Dv], true);
  gemm(
    false,
    false,
    T,
    Dv,
    S,
    1,
    P,
    0,
    S,
    f32(vc),
    0,
    Dv,
    0,
    out._storage.data as Float32Array,
    0,
    Dv,
    BH,
    T * S,
    S * Dv,
    T * Dv,
  );
  let result: Tensor = out;
  const needGrad = gradEnabled() && (q.requiresGrad || k.requiresGrad || v.requiresGrad);
  if (needGrad)
    result = record(
      "attention",
      out,
      [q, k, v],
      bAttention,
      [qc, kc, vc, p, BH, T, S, D, Dv, scale],
      [qc, kc, vc, p],
    );
  else {
    if (qc !== q) qc.dispose();
    if (kc !== k) kc.dispose();
    if (vc !== v) vc.dispose();
  }
  if (opts.returnProbs) return { output: result, probs: needGrad ? copyRaw(p) : p };
  if (!needGrad) p.dispose();
  return result;
}
