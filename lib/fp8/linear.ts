/**
 * The Linear layer's GEMMs at a selectable precision, as DeepSeek-V3 trains them (report §3.3):
 *
 *   y = x · Wᵀ        x [..., in], W [out, in] (FP32 master weight), y [..., out] in FP32
 *
 * - `fp32`: the reference (plain matmul).
 * - `bf16`: the three GEMMs' inputs rounded to bfloat16 (round-to-nearest-even), FP32 accumulation.
 * - `fp8`: all three GEMMs in FP8 E4M3 with FP32 accumulation promoted every 128 elements:
 *     Fprop  y  = Q_1x128(x)       · Q_128x128(W)ᵀ
 *     Dgrad  dx = Q_1x128(dy)      · Q_128x128(W)            (the weight blocks, transposed)
 *     Wgrad  dW = Q_128x1(dy)ᵀ     · Q_128x1(x)              (both along the token dimension)
 *   where Q_1x128 is per-token-per-128-channel tile scaling, Q_128x128 per-block weight scaling
 *   and Q_128x1 the transposed tile scaling; the quantized x for Wgrad is made in the forward pass.
 */
import * as T from "../tensor/index.js";
import type { Fp8Format } from "./format.js";
import type { Fp8Matrix } from "./fp8matrix.js";
import { gemm, gemmQuantized } from "./gemm.js";
import { quantizeBlocks, quantizeTilesT } from "./scaling.js";

export type Precision = "fp32" | "bf16" | "fp8";
export const PRECISIONS: readonly Precision[] = ["fp32", "bf16", "fp8"];

export interface LinearFp8Options {
  /** Default "e4m3" for all three GEMMs, as DeepSeek-V3 (not the hybrid E4M3/E5M2 recipe). */
  format?: Fp8Format;
  /** ue8m0 (power-of-two) scales. Default false. */
  pow2Scale?: boolean;
  /** Emulate a tensor core keeping this many mantissa bits inside each K-block (see fp8.gemm). */
  accumBits?: number;
}

/** Checks x [..., in] and W [out, in]; returns M (rows of x), K (in) and N (out). */
function dims(op: string, x: T.Tensor, w: T.Tensor): { m: number; k: number; n: number } {
  if (!(x instanceof T.Tensor) || !(w instanceof T.Tensor))
    throw new TypeError(`${op}: x and W must be Tensors`);
  if (x.dtype !== "float32" || w.dtype !== "float32") {
    throw new TypeError(
      `${op}: x and W must be float32 (FP32 master weights), got ${x.dtype} and ${w.dtype}`,
    );
  }
  if (w.shape.length !== 2)
    throw new RangeError(`${op}: W must be 2-D [out, in], got [${w.shape.join(", ")}]`);
  if (x.shape.length < 1) throw new RangeError(`${op}: x must have at least one dimension`);
  const k = x.shape[x.shape.length - 1];
  if (k !== w.shape[1]) {
    throw new RangeError(
      `${op}: x's last dimension (${k}) must equal W's in-features (W is [${w.shape.join(", ")}])`,
    );
  }
  return { m: x.size / Math.max(k, 1), k, n: w.shape[0] };
}

const f32 = (t: T.Tensor): Float32Array => t.toArray() as Float32Array;

const linearFp8Op = (opts: LinearFp8Options) =>
  T.defineOp({
    name: "linearFp8",
    forward(ctx, x, w) {
      const { m, k, n } = dims("linearFp8", x, w);
      const q = { format: opts.format ?? "e4m3", pow2Scale: opts.pow2Scale ?? false };
      const xs = f32(x);
      const wq = quantizeBlocks(f32(w), n, k, q);
      // the Wgrad operand: x along the token dimension, kept in FP8 instead of the FP32 x
      ctx.data.xqT = x.requiresGrad || w.requiresGrad ? quantizeTilesT(xs, m, k, q) : null;
      ctx.data.wq = wq;
      ctx.data.dims = { m, k, n };
      ctx.data.q = q;
      // x is quantized in 1x128 tiles while it is packed for the GEMM (bit-identical to
      // gemm(quantizeTiles(x), wq), one pass less over x).
      const y = gemmQuantized(xs, m, wq, { ...q, accumBits: opts.accumBits }).c;
      return T.fromStorage(y, [...x.shape.slice(0, -1), n], "float32");
    },
    backward(ctx, g) {
      const { m, k, n } = ctx.data.dims as { m: number; k: number; n: number };
      const q = ctx.data.q as { format: Fp8Format; pow2Scale: boolean };
      const [x, w] = ctx.inputs;
      const dy = f32(g);
      let dx: T.Tensor | null = null;
      let dw: T.Tensor | null = null;
      if (x.requiresGrad) {
        const wqT = (ctx.data.wq as Fp8Matrix).transpose(); // [in, out] blocks
        const d = gemmQuantized(dy, m, wqT, { ...q, accumBits: opts.accumBits }).c;
        dx = T.fromStorage(d, [...x.shape], "float32");
      }
      if (w.requiresGrad) {
        const dyT = quantizeTilesT(dy, m, n, q).transpose(); // [out, M], 1x128 along tokens
        const xT = (ctx.data.xqT as Fp8Matrix).transpose(); // [in, M]
        dw = T.fromStorage(gemm(dyT, xT, { accumBits: opts.accumBits }), [n, k], "float32");
      }
      return [dx, dw];
    },
  });

/** y = x · Wᵀ with DeepSeek-V3's FP8 Fprop, Dgrad and Wgrad (FP32 outputs and gradients). */
export function linearFp8(x: T.Tensor, w: T.Tensor, opts: LinearFp8Options = {}): T.Tensor {
  return linearFp8Op(opts)(x, w);
}

/** Rounds float32 values to bfloat16 and back (round-to-nearest-even; NaN stays NaN). */
export function roundBf16(v: Float32Array): Float32Array {
  return roundBf16InPlace(Float32Array.from(v));
}

/**
 * Rounds float32 values to bfloat16 (nearest, ties to even; NaN stays NaN) in place, on their
 * bits: f32ToBf16 then bf16ToF32 without a call per element.
 */
function roundBf16InPlace(v: Float32Array): Float32Array {
  const u = new Uint32Array(v.buffer, v.byteOffset, v.length);
  for (let i = 0; i < u.length; i++) {
    const b = u[i];
    u[i] =
      (b & 0x7fffffff) > 0x7f800000
        ? (b | 0x400000) & 0xffff0000 // quiet NaN, payload's top bits kept
        : ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) << 16;
  }
  return v;
}

/** A float32 tensor of x's values rounded to bfloat16, [rows, cols]. */
const bf16Matrix = (x: T.Tensor, rows: number, cols: number): T.Tensor =>
  T.fromStorage(roundBf16InPlace(f32(x)), [rows, cols], "float32");

// The GEMMs run in float32 on bfloat16-rounded operands (products of bf16 values are exact in
// float32; sums accumulate in float32, as bf16 tensor cores do). Transposes are views.
const linearBf16Op = T.defineOp({
  name: "linearBf16",
  forward(ctx, x, w) {
    const { m, k, n } = dims("linearBf16", x, w);
    const xb = bf16Matrix(x, m, k);
    const wb = bf16Matrix(w, n, k);
    // Kept as arrays: tensors made here would not outlive a tidy() around the forward pass.
    ctx.data.xb = xb.toArray();
    ctx.data.wb = wb.toArray();
    ctx.data.dims = { m, k, n };
    return T.matmul(xb, wb.transpose(0, 1)).reshape(...x.shape.slice(0, -1), n);
  },
  backward(ctx, g) {
    const { m, k, n } = ctx.data.dims as { m: number; k: number; n: number };
    const [x, w] = ctx.inputs;
    const gb = bf16Matrix(g, m, n);
    const dx = x.requiresGrad
      ? T.matmul(gb, T.tensor(ctx.data.wb as Float32Array, { shape: [n, k] })).reshape(...x.shape)
      : null;
    const dw = w.requiresGrad
      ? T.matmul(gb.transpose(0, 1), T.tensor(ctx.data.xb as Float32Array, { shape: [m, k] }))
      : null;
    return [dx, dw];
  },
});

/** y = x · Wᵀ with bfloat16-rounded GEMM inputs in Fprop, Dgrad and Wgrad. */
export function linearBf16(x: T.Tensor, w: T.Tensor): T.Tensor {
  return linearBf16Op(x, w);
}

/** y = x · Wᵀ at the given precision: what the model's Linear layers call. */
export function linear(
  x: T.Tensor,
  w: T.Tensor,
  precision: Precision = "fp32",
  opts: LinearFp8Options = {},
): T.Tensor {
  switch (precision) {
    case "fp32":
      dims("linear", x, w);
      return T.matmul(x, w.transpose(0, 1));
    case "bf16":
      return linearBf16(x, w);
    case "fp8":
      return linearFp8(x, w, opts);
    default:
      throw new TypeError(
        `linear: precision must be "fp32", "bf16" or "fp8", got ${JSON.stringify(precision)}`,
      );
  }
}
