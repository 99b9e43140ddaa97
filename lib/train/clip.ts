/**
 * Gradient clipping by global L2 norm, as torch.nn.utils.clip_grad_norm_: the norm over every
 * gradient together, and the scale min(1, maxNorm / (norm + 1e-6)). Either applied to the
 * gradients here (clipGradNorm), or returned (clipGradScale) for AdamW.step({ gradScale }) to
 * apply in its own pass over each buffer.
 */
import { Tensor, noGrad } from "../tensor/index.js";
import { KernelImpl, defaultImpl, sumSquares } from "./kernels.js";
import { namedParams } from "./optim.js";
import { checkNumber } from "./options.js";

/** Parameters as AdamW takes them: named (`model.trainableParameters()`) or a list. */
export type Params = ReadonlyMap<string, Tensor> | readonly Tensor[];

/** The global L2 norm of every set gradient (parameters without one are skipped). */
export function gradNorm(params: Params, impl: KernelImpl = defaultImpl): number {
  let total = 0;
  for (const [name, t] of namedParams(params, "gradNorm")) {
    const g = t.grad;
    if (g === null) continue;
    if (g.dtype !== "float32")
      throw new TypeError(`gradNorm: the gradient of "${name}" is ${g.dtype}, not float32`);
    total += sumSquares(g._contiguousData() as Float32Array, impl);
  }
  return Math.sqrt(total);
}

/**
 * The norm before clipping and the scale that clips it, without touching the gradients:
 * pass `scale` to AdamW.step({ gradScale }). A non-finite norm gives scale NaN, which step()
 * refuses, so a NaN or Inf gradient can never reach the weights through it.
 */
export function clipGradScale(
  params: Params,
  maxNorm: number,
  impl: KernelImpl = defaultImpl,
): { norm: number; scale: number } {
  checkNumber(maxNorm, "maxNorm", "clipGradScale", 0, Infinity, { openLo: true, allowInf: true });
  const norm = gradNorm(params, impl);
  if (!Number.isFinite(norm)) return { norm, scale: NaN };
  return { norm, scale: Math.min(1, maxNorm / (norm + 1e-6)) };
}

/**
 * Scales every gradient in place so that the global norm is at most maxNorm; returns the norm
 * before clipping (torch's clip_grad_norm_). A non-finite norm is returned and nothing is scaled.
 */
export function clipGradNorm(
  params: Params,
  maxNorm: number,
  impl: KernelImpl = defaultImpl,
): number {
  checkNumber(maxNorm, "maxNorm", "clipGradNorm", 0, Infinity, { openLo: true, allowInf: true });
  const { norm, scale } = clipGradScale(params, maxNorm, impl);
  if (!Number.isFinite(norm) || scale === 1) return norm;
  // float32(g * float32(scale)): the same rounding as the fused gradScale of AdamW.step.
  const s = Math.fround(scale);
  noGrad(() => {
    for (const t of namedParams(params, "clipGradNorm").values()) {
      const g = t.grad;
      if (g === null) continue;
      if (!g._isContiguous) {
        g.mul_(s);
        continue;
      }
      const d = g._contiguousData() as Float32Array;
      for (let i = 0; i < d.length; i++) d[i] *= s;
    }
  });
  return norm;
}
