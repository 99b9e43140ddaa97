/**
 * The addon's kernels as lib/tensor sees them. Loaded once; a kernel the loaded addon lacks
 * is undefined and the TypeScript path takes over.
 */
import { loadAddon } from "./addon.js";

export type Sgemm = (
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: Float32Array,
  aOffset: number,
  lda: number,
  B: Float32Array,
  bOffset: number,
  ldb: number,
  beta: number,
  C: Float32Array,
  cOffset: number,
  ldc: number,
  batch?: number,
  strideA?: number,
  strideB?: number,
  strideC?: number,
) => void;

/** Signatures of native/src/ops_*.cc exports (see those files for the argument meaning). */
export interface NativeOps {
  sgemm?: Sgemm;
  opsBinary2d?: (
    op: number,
    a: Float32Array,
    aOff: number,
    aso: number,
    asi: number,
    b: Float32Array,
    bOff: number,
    bso: number,
    bsi: number,
    out: Float32Array,
    outOff: number,
    outer: number,
    inner: number,
  ) => void;
  /**
   * out = a OP b over an N-D shape (1 to 8 dims) with per-operand element strides (0: broadcast),
   * the output strided too; op 7 copies a (b ignored). native/src/ops_elementwise.cc.
   */
  opsBinaryNd?: (
    op: number,
    nd: number,
    shape: Int32Array,
    a: Float32Array,
    aOff: number,
    aStrides: Int32Array,
    b: Float32Array,
    bOff: number,
    bStrides: Int32Array,
    out: Float32Array,
    outOff: number,
    outStrides: Int32Array,
  ) => void;
  opsUnary?: (
    op: number,
    x: Float32Array,
    out: Float32Array,
    n: number,
    p0: number,
    p1: number,
  ) => void;
  opsUnaryGrad?: (
    op: number,
    x: Float32Array,
    y: Float32Array,
    g: Float32Array,
    out: Float32Array,
    n: number,
    p0: number,
    p1: number,
  ) => void;
  opsReduce?: (
    op: number,
    x: Float32Array,
    out: Float32Array,
    outer: number,
    r: number,
    inner: number,
  ) => void;
  opsArgReduce?: (
    op: number,
    x: Float32Array,
    out: Int32Array,
    outer: number,
    r: number,
    inner: number,
  ) => void;
  opsSoftmax?: (
    x: Float32Array,
    out: Float32Array,
    rows: number,
    cols: number,
    log: boolean,
  ) => void;
  opsSoftmaxGrad?: (
    y: Float32Array,
    g: Float32Array,
    out: Float32Array,
    rows: number,
    cols: number,
    log: boolean,
  ) => void;
  opsCrossEntropy?: (
    logits: Float32Array,
    targets: Int32Array,
    losses: Float32Array,
    lse: Float32Array,
    rows: number,
    cols: number,
    ignoreIndex: number,
  ) => void;
  opsCrossEntropyGrad?: (
    logits: Float32Array,
    targets: Int32Array,
    lse: Float32Array,
    scale: Float32Array,
    out: Float32Array,
    rows: number,
    cols: number,
    ignoreIndex: number,
  ) => void;
  opsRmsNorm?: (
    x: Float32Array,
    w: Float32Array,
    out: Float32Array,
    rstd: Float32Array,
    rows: number,
    cols: number,
    eps: number,
  ) => void;
  opsRmsNormGrad?: (
    x: Float32Array,
    w: Float32Array,
    rstd: Float32Array,
    g: Float32Array,
    dx: Float32Array,
    dw: Float32Array,
    rows: number,
    cols: number,
  ) => void;
  opsRope?: (
    x: Float32Array,
    cos: Float32Array,
    sin: Float32Array,
    out: Float32Array,
    outer: number,
    t: number,
    h: number,
    d: number,
    inverse: boolean,
  ) => void;
  opsSwiglu?: (a: Float32Array, b: Float32Array, out: Float32Array, n: number) => void;
  opsSwigluGrad?: (
    a: Float32Array,
    b: Float32Array,
    g: Float32Array,
    da: Float32Array,
    db: Float32Array,
    n: number,
  ) => void;
  opsGatherRows?: (
    x: Float32Array,
    index: Int32Array,
    out: Float32Array,
    outer: number,
    n: number,
    m: number,
    inner: number,
  ) => void;
  opsScatterAddRows?: (
    src: Float32Array,
    index: Int32Array,
    out: Float32Array,
    outer: number,
    n: number,
    m: number,
    inner: number,
  ) => void;
  /** Group-limited top-k routing (ops_moe.cc); `biased` null skips writing the biased scores. */
  moeRoute?: (
    scores: Float32Array,
    bias: Float32Array | null,
    n: number,
    E: number,
    k: number,
    groups: number,
    limitedGroups: number,
    indices: Int32Array,
    biased: Float32Array | null,
  ) => void;
  /** out[t] = base[t] + Σ_j w[t·k + j] · chunk row inv[t·k + j] (see tensor/ops/moe.ts). */
  moeCombine?: (
    out: Float32Array,
    base: Float32Array,
    n: number,
    k: number,
    D: number,
    chunks: Float32Array[],
    starts: Int32Array,
    inv: Int32Array,
    w: Float32Array,
  ) => void;
  /** The combine's backward for one expert's rows: dys = w · g[tok], dw[pos] = ys · g[tok]. */
  moeCombineGrad?: (
    grad: Float32Array,
    D: number,
    ys: Float32Array,
    rows: number,
    tok: Int32Array,
    pos: Int32Array,
    w: Float32Array,
    dys: Float32Array,
    dw: Float32Array,
  ) => void;
  /** Fused AdamW update of p, m, v over [0, n) (native/src/ops_optim.cc; m, v float32 or bf16 bits). */
  adamwStep?: (
    p: Float32Array,
    g: Float32Array,
    m: Float32Array | Uint16Array,
    v: Float32Array | Uint16Array,
    n: number,
    step: number,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    gradScale: number,
  ) => void;
  adamwSetKernel?: (name: "auto" | "avx512" | "scalar") => boolean;
  /** Sum of x[i]^2 over [0, n) in double, independent of the thread count. */
  sumSquares?: (x: Float32Array, n: number) => number;
  getNumThreads?: () => number;
  setNumThreads?: (n: number) => void;
}

function load(): NativeOps {
  return (loadAddon() ?? {}) as NativeOps;
}

/** The addon; MOELAB_NO_NATIVE=1 forces the TypeScript paths (tests compare both). */
export const native: NativeOps = process.env.MOELAB_NO_NATIVE === "1" ? {} : load();

/** Below this many elements a JS loop beats an N-API call. */
export const NATIVE_MIN = 2048;
