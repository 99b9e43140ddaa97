/** User-defined differentiable ops (like torch.autograd.Function). */
import { Tensor } from "./tensor.js";
import { Node, gradEnabled, noGrad, record } from "./autograd.js";

/** Passed to forward and backward: save what backward needs. */
export class OpContext {
  saved: Tensor[] = [];
  /** Any other values backward needs. */
  data: Record<string, unknown> = {};
  /** Inputs as passed to the op. */
  inputs: Tensor[] = [];
  save(...tensors: Tensor[]): void {
    this.saved.push(...tensors);
  }
}

export interface OpDefinition {
  /** Name shown in errors, gradFn and anomaly reports. */
  name: string;
  /** Computes the output from the inputs (runs without recording). */
  forward(ctx: OpContext, ...inputs: Tensor[]): Tensor;
  /** Gradients for each input from the output's gradient (null for none). */
  backward(ctx: OpContext, gradOutput: Tensor): (Tensor | null | undefined)[];
}

function runCustomBackward(g: Tensor, n: Node): (Tensor | null)[] {
  const [def, ctx] = n.saved as [OpDefinition, OpContext];
  const res = def.backward(ctx, g);
  if (!Array.isArray(res))
    throw new Error(`custom op '${def.name}': backward must return an array of gradients`);
  return n.inputs.map((x, i) => {
    const gi = res[i] ?? null;
    if (
      gi !== null &&
      (!(gi instanceof Tensor) ||
        gi.shape.length !== x.shape.length ||
        gi.shape.some((s, j) => s !== x.shape[j]))
    )
      throw new Error(
        `custom op '${def.name}': backward returned ${gi instanceof Tensor ? `shape [${gi.shape.join(", ")}]` : typeof gi} for input ${i} of shape [${x.shape.join(", ")}]`,
      );
    return gi;
  });
}

/** Defines a differentiable op from a forward and a backward; returns the op as a function. */
export function defineOp(def: OpDefinition): (...inputs: Tensor[]) => Tensor {
  if (
    typeof def?.forward !== "function" ||
    typeof def?.backward !== "function" ||
    typeof def?.name !== "string"
  )
    throw new TypeError(
      "defineOp: expected { name, forward(ctx, ...inputs), backward(ctx, grad) }",
    );
  return (...inputs: Tensor[]): Tensor => {
    for (const x of inputs) {
      if (!(x instanceof Tensor))
        throw new TypeError(`custom op '${def.name}': inputs must be Tensors`);
      x._check(def.name);
    }
    const ctx = new OpContext();
    ctx.inputs = inputs;
    const out = noGrad(() => def.forward(ctx, ...inputs));
    if (!(out instanceof Tensor))
      throw new Error(`custom op '${def.name}': forward must return a Tensor`);
    if (!gradEnabled() || !inputs.some((x) => x.requiresGrad)) return out;
    return record(def.name, out, inputs, runCustomBackward, [def, ctx]);
  };
}
/** Alias of defineOp. */
export const customOp = defineOp;
