/**
 * matmul / bmm through one strided, batched SGEMM: transposed views become transpose flags and
 * broadcast batch dims become stride 0, so no operand is copied unless its last two dims are
 * not row- or column-contiguous.
 */
import { Tensor } from "../tensor.js";
import { record, Node, gradEnabled } from "../autograd.js";
import { native, Sgemm } from "../native.js";
import { broadcastShapes, broadcastStrides, collapse, forEachBlock, shapeStr } from "./iter.js";
import { copyRaw, reshape, squeeze, transpose, unsqueeze } from "./shape.js";
import { add, cast } from "./elementwise.js";

/** Reference SGEMM in JS (row-major, same contract as the addon's sgemm). */
export const jsSgemm: Sgemm = (
  tA,
  tB,
  M,
  N,
  K,
  alpha,
  A,
  ao,
  lda,
  B,
  bo,
  ldb,
  beta,
  C,
  co,
  ldc,
  batch = 1,
  sA = 0,
  sB = 0,
  sC = 0,
) => {
  for (let b = 0; b < batch; b++) {
    const a0 = ao + b * sA;
    const b0 = bo + b * sB;
    const c0 = co + b * sC;
    for (let i = 0; i < M; i++) {
      const cr = c0 + i * ldc;
      if (beta === 0) for (let j = 0; j < N; j++) C[cr + j] = 0;
      else if (beta !== 1) for (let j = 0; j < N; j++) C[cr + j] *= beta;
      for (let k = 0; k < K; k++) {
        const aik = alpha * (tA ? A[a0 + k * lda + i] : A[a0 + i * lda + k]);
        if (tB) for (let j = 0, p = b0 + k; j < N; j++, p += ldb) C[cr + j] += aik * B[p];
        else for (let j = 0, p = b0 + k * ldb; j < N; j++, p++) C[cr + j] += aik * B[p];
      }
    }
  }
};

/** One SGEMM call as the tracer sees it: op(A) [m, k] · op(B) [k, n], `batch` products. */
export interface GemmCall {
  ta: boolean;
  tb: boolean;
  m: number;
  n: number;
  k: number;
  batch: number;
}

let gemmTracer: ((call: GemmCall) => void) | undefined;

/**
 * Calls `fn` with the shape of every SGEMM the tensor library issues through sgemm() until the
 * returned function is called (benchmarks log the shapes a training step issues). One tracer at a
 * time: a second call replaces the first.
 */
export function traceGemms(fn: (call: GemmCall) => void): () => void {
  if (typeof fn !== "function")
    throw new TypeError(`traceGemms(fn): fn must be a function, got ${typeof fn}`);
  gemmTracer = fn;
  return () => {
    if (gemmTracer === fn) gemmTracer = undefined;
  };
}

/** The SGEMM in use: the addon's when built, else the JS one (traced while a tracer is set). */
export function sgemm(): Sgemm {
  const g = native.sgemm ?? jsSgemm;
  const trace = gemmTracer;
  if (trace === undefined) return g;
  return (tA, tB, M, N, K, alpha, A, ao, lda, B, bo, ldb, beta, C, co, ldc, batch, sA, sB, sC) => {
    trace({ ta: tA, tb: tB, m: M, n: N, k: K, batch: batch ?? 1 });
    g(tA, tB, M, N, K, alpha, A, ao, lda, B, bo, ldb, beta, C, co, ldc, batch, sA, sB, sC);
  };
}

interface Operand {
  t: Tensor; // possibly a contiguous copy
  trans: boolean;
  ld: number;
}

function operand(x: Tensor): Operand {
  const n = x.ndim;
  const R = x.shape[n - 2];
  const C = x.shape[n - 1];
  const sr = x.strides[n - 2];
  const sc = x.strides[n - 1];
  if ((sc === 1 || C === 1) && (R === 1 || sr >= C))
    return { t: x, trans: false, ld: R === 1 ? Math.max(C, 1) : sr };
  if ((sr === 1 || R === 1) && (C === 1 || sc >= R))
    return { t: x, trans: true, ld: C === 1 ? Math.max(R, 1) : sc };
  const c = copyRaw(x);
  return { t: c, trans: false, ld: Math.max(C, 1) };
}

/** [..., M, K] x [..., K, N] -> [..., M, N] for float32 with >= 2 dims each (no autograd). */
function matmulRaw(a: Tensor, b: Tensor): Tensor {
  const M = a.shape[a.ndim - 2];
  const K = a.shape[a.ndim - 1];
  const N = b.shape[b.ndim - 1];
  const batch = broadcastShapes("matmul", a.shape.slice(0, -2), b.shape.slice(0, -2));
  // Every output is written by the GEMM (beta 0 does not read C); only K = 0 needs the zeros.
  const out = Tensor._empty("float32", [...batch, M, N], K === 0);
  if (out.size === 0) return out;
  const A = operand(a);
  const B = operand(b);
  // The native call costs ~0.5 us; the JS loop ~3 ns per multiply-add: native from 128 of them.
  const gemm = M * N * K < 128 ? jsSgemm : sgemm();
  const ad = A.t._storage.data as Float32Array;
  const bd = B.t._storage.data as Float32Array;
  const cd = out._storage.data as Float32Array;
  if (batch.length === 0) {
    if (K === 0) return out;
    gemm(A.trans, B.trans, M, N, K, 1, ad, A.t.offset, A.ld, bd, B.t.offset, B.ld, 0, cd, 0, N);
  } else {
    const sa = broadcastStrides(a.shape.slice(0, -2), A.t.strides.slice(0, -2), batch);
    const sb = broadcastStrides(b.shape.slice(0, -2), B.t.strides.slice(0, -2), batch);
    const sc = out.strides.slice(0, -2);
    const plan = collapse(batch, [sc, sa, sb]);
    if (plan.shape.length === 0) {
      // All batch dims were 1: one product.
      plan.shape.push(1);
      plan.strides.forEach((s) => s.push(0));
    }
    if (K > 0)
      forEachBlock(plan, [0, A.t.offset, B.t.offset], (offs, outer, inner, so, si) => {
        for (let o = 0; o < outer; o++)
          gemm(
            A.trans,
            B.trans,
            M,
            N,
            K,
            1,
            ad,
            offs[1] + o * so[1],
            A.ld,
            bd,
            offs[2] + o * so[2],
            B.ld,
            0,
            cd,
            offs[0] + o * so[0],
            N,
            inner,
            si[1],
            si[2],
            si[0],
          );
      });
  }
  if (A.t !== a) A.t.dispose();
  if (B.t !== b) B.t.dispose();
  return out;
}

function bMatmul(g: Tensor, n: Node): (Tensor | null)[] {
  const [a, b] = n.inputs;
  let ga: Tensor | null = null;
  let gb: Tensor | null = null;
  if (a.requiresGrad) {
    const bt = transpose(b, -2, -1);
    ga = matmulRaw(g, bt);
    bt.dispose();
  }
  if (b.requiresGrad) {
    const at = transpose(a, -2, -1);
    gb = matmulRaw(at, g);
    at.dispose();
  }
  return [ga, gb];
}

function checkOperands(op: string, a: Tensor, b: Tensor): void {
  if (!(a instanceof Tensor) || !(b instanceof Tensor))
    throw new TypeError(`${op}: expected two Tensors`);
  a._check(op);
  b._check(op);
  if (a.ndim === 0 || b.ndim === 0)
    throw new Error(
      `${op}: both arguments need at least 1 dim, got ${shapeStr(a.shape)} and ${shapeStr(b.shape)}`,
    );
  const K1 = a.shape[a.ndim - 1];
  const K2 =
    op === "linear" ? b.shape[b.ndim - 1] : b.ndim === 1 ? b.shape[0] : b.shape[b.ndim - 2];
  if (K1 !== K2)
    throw new Error(
      `${op}: shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)} cannot be multiplied (${K1} vs ${K2})`,
    );
}

/** Matrix product with NumPy/PyTorch semantics (1-D promotion, batch broadcasting). */
export function matmul(a: Tensor, b: Tensor): Tensor {
  checkOperands("matmul", a, b);
  if (a.dtype !== "float32" || b.dtype !== "float32") {
    const x = a.dtype === "float32" ? a : cast(a, "float32");
    const y = b.dtype === "float32" ? b : cast(b, "float32");
    return matmul(x, y);
  }
  if (a.ndim === 1) {
    const a2 = unsqueeze(a, 0);
    const r = matmul(a2, b);
    return squeeze(r, r.ndim - 2);
  }
  if (b.ndim === 1) {
    const b2 = unsqueeze(b, 1);
    const r = matmul(a, b2);
    return squeeze(r, r.ndim - 1);
  }
  if (b.ndim === 2 && a.ndim > 2 && a._isContiguous) {
    // Fold batch into M: one large GEMM (and one for each gradient).
    const K = a.shape[a.ndim - 1];
    const a2 = reshape(a, [-1, K]);
    const r = matmul(a2, b);
    return reshape(r, [...a.shape.slice(0, -1), b.shape[1]]);
  }
  const out = matmulRaw(a, b);
  if (!gradEnabled() || !(a.requiresGrad || b.requiresGrad)) return out;
  return record("matmul", out, [a, b], bMatmul, null);
}

/** Batched product of [B, M, K] and [B, K, N]. */
export function bmm(a: Tensor, b: Tensor): Tensor {
  checkOperands("bmm", a, b);
  if (a.ndim !== 3 || b.ndim !== 3 || a.shape[0] !== b.shape[0])
    throw new Error(
      `bmm: expected [B, M, K] and [B, K, N] with equal B, got ${shapeStr(a.shape)} and ${shapeStr(b.shape)}`,
    );
  return matmul(a, b);
}

/** x @ weightᵀ (+ bias): weight [out, in] as in PyTorch's F.linear; no weight copy. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  checkOperands("linear", x, weight);
  if (weight.ndim !== 2)
    throw new Error(`linear: weight must be [out, in], got ${shapeStr(weight.shape)}`);
  const y = matmul(x, transpose(weight, 0, 1));
  if (bias === undefined || bias === null) return y;
  return add(y, bias);
}
