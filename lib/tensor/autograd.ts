/**
 * Reverse-mode autograd: every differentiable op that sees an input with requiresGrad records a
 * Node on its output; backward() walks the nodes in reverse topological order. Backward functions
 * are module-level functions (no closure per op), and they run with gradient recording off.
 */
import type { Tensor } from "./tensor.js";

/** Gradients for each input (null where the input needs none). */
export type BackwardFn = (grad: Tensor, node: Node) => (Tensor | null)[];

export class Node {
  released = false;
  /** Temporaries only this node references (contiguous copies, saved probabilities); freed after backward. */
  owned: Tensor[] | null = null;
  /**
   * The intermediates of graph-scoped calls (a model's forward) whose result this node made:
   * freed once backward() has run through it (graph-scope.ts).
   */
  scopeOwned: { free(): void }[] | null = null;
  /** Where the op ran, when anomaly detection was on. */
  stack: string | undefined = undefined;
  constructor(
    public readonly op: string,
    public readonly inputs: Tensor[],
    public readonly backward: BackwardFn,
    /** Saved tensors and values; cleared after backward unless retainGraph. */
    public saved: unknown,
  ) {}
}

const state = { enabled: true, anomaly: false };

export function gradEnabled(): boolean {
  return state.enabled;
}

/** Runs fn with gradient recording off (like torch.no_grad()). */
export function noGrad<T>(fn: () => T): T {
  const prev = state.enabled;
  state.enabled = false;
  try {
    return fn();
  } finally {
    state.enabled = prev;
  }
}

/** Runs fn with gradient recording on (inside a noGrad). */
export function enableGrad<T>(fn: () => T): T {
  const prev = state.enabled;
  state.enabled = true;
  try {
    return fn();
  } finally {
    state.enabled = prev;
  }
}

/**
 * Anomaly mode: every op checks its output (and every backward its gradients) for NaN/Inf and
 * throws naming the op that produced the first one, with where it was called.
 */
export function setAnomalyDetection(on: boolean): void {
  state.anomaly = on;
}

export function anomalyEnabled(): boolean {
  return state.anomaly;
}

/** Runs fn with anomaly detection on. */
export function detectAnomaly<T>(fn: () => T): T {
  const prev = state.anomaly;
  state.anomaly = true;
  try {
    return fn();
  } finally {
    state.anomaly = prev;
  }
}

function firstNonFinite(t: Tensor): number {
  if (t.dtype !== "float32") return -1;
  const d = t._contiguousData();
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) return i;
  return -1;
}

function describeNonFinite(t: Tensor, i: number): string {
  const v = t._contiguousData()[i];
  return `${Number.isNaN(v) ? "NaN" : v > 0 ? "Inf" : "-Inf"} at flat index ${i} of shape [${t.shape.join(", ")}]`;
}

/** Called by ops after computing `out` when anomaly mode is on. */
export function checkForward(
  op: string,
  out: Tensor,
  inputs: readonly (Tensor | number | undefined)[],
): void {
  const i = firstNonFinite(out);
  if (i < 0) return;
  for (const x of inputs) if (typeof x === "object" && x !== null && firstNonFinite(x) >= 0) return;
  throw new Error(`anomaly: op '${op}' produced ${describeNonFinite(out, i)} from finite inputs`);
}

/** Throws a clear error when a tensor a backward needs was disposed before backward ran. */
export function checkSaved(op: string, ...ts: (Tensor | null)[]): void {
  for (const t of ts)
    if (t !== null && t._disposed)
      throw new Error(
        `backward of '${op}': a tensor it saved (shape [${t.shape.join(", ")}]) was disposed before backward(); dispose after backward, or run both inside one tidy()`,
      );
}

/** Attaches a node to `out` if grad mode is on and any input requires grad; returns out. */
export function record(
  op: string,
  out: Tensor,
  inputs: Tensor[],
  backward: BackwardFn,
  saved: unknown,
  owned?: (Tensor | null)[],
): Tensor {
  if (state.anomaly) checkForward(op, out, inputs);
  if (!state.enabled) return out;
  let need = false;
  for (let i = 0; i < inputs.length; i++) if (inputs[i].requiresGrad) need = true;
  if (!need) return out;
  const node = new Node(op, inputs, backward, saved);
  if (owned !== undefined) {
    // Inputs themselves are never owned (an op may save an input when it was already contiguous).
    const own = owned.filter((t): t is Tensor => t !== null && !inputs.includes(t));
    if (own.length > 0) node.owned = own;
  }
  if (state.anomaly) node.stack = new Error().stack?.split("\n").slice(3, 7).join("\n");
  out._node = node;
  out.requiresGrad = true;
  return out;
}

/** True when an op should record: grad on and some input requires grad. */
export function needsGrad(a: Tensor, b?: Tensor | number | null): boolean {
  return (
    state.enabled && (a.requiresGrad || (typeof b === "object" && b !== null && b.requiresGrad))
  );
}

// Filled in by ops/ at load time, so this file does not import them.
export const hooks = {
  add: null as unknown as (a: Tensor, b: Tensor) => Tensor,
  addInPlace: null as unknown as (a: Tensor, b: Tensor) => Tensor,
  onesLike: null as unknown as (t: Tensor) => Tensor,
  clone: null as unknown as (t: Tensor) => Tensor,
  sumTo: null as unknown as (g: Tensor, shape: readonly number[]) => Tensor,
  scoped: null as unknown as (fn: () => void) => void,
};

export interface BackwardOptions {
  /** Keep saved tensors so backward can run through this graph again. */
  retainGraph?: boolean;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

let pass = 0;

/** The engine behind tensor.backward(). */
export function runBackward(
  root: Tensor,
  gradient: Tensor | undefined,
  opts: BackwardOptions = {},
): void {
  if (!root.requiresGrad)
    throw new Error(
      "backward(): this tensor does not require grad (no input had requiresGrad, or it was made under noGrad)",
    );
  if (gradient === undefined) {
    if (root.size !== 1)
      throw new Error(
        `backward(): grad can be implicitly created only for scalar outputs; this tensor has shape [${root.shape.join(", ")}], so pass a gradient of that shape`,
      );
  } else {
    gradient._check("backward");
    if (!sameShape(gradient.shape, root.shape))
      throw new Error(
        `backward(): gradient shape [${gradient.shape.join(", ")}] does not match tensor shape [${root.shape.join(", ")}]`,
      );
  }
  const prev = state.enabled;
  state.enabled = false;
  try {
    hooks.scoped(() => backwardPass(root, gradient, opts.retainGraph === true));
  } finally {
    state.enabled = prev;
  }
}

/** The tensor's gradient hooks on its complete gradient g; a replacement is copied and owned. */
function runGradHooks(t: Tensor, g: Tensor, free: (t: Tensor) => void): Tensor {
  for (const fn of [...t._gradHooks!]) {
    const r = fn(g);
    if (r === undefined || r === null) continue;
    // (Tensor is a type here: autograd.ts cannot import tensor.ts's value without a cycle.)
    const isT = typeof r === "object" && Array.isArray((r as Tensor).shape);
    if (!isT || !sameShape(r.shape, g.shape) || r.dtype !== g.dtype)
      throw new Error(
        `a gradient hook returned ${isT ? `${r.dtype} [${r.shape.join(", ")}]` : typeof r}; expected ${g.dtype} [${g.shape.join(", ")}] or nothing`,
      );
    const owned = hooks.clone(r);
    free(g);
    g = owned;
  }
  return g;
}

function backwardPass(root: Tensor, gradient: Tensor | undefined, retainGraph: boolean): void {
  const id = ++pass;
  // Topological order by iterative DFS post-order: a tensor enters `order` after every tensor it
  // was computed from; the pass below walks it backwards. A tensor is marked when it is expanded,
  // not when it is pushed: one reached again through a longer path while an earlier stack entry
  // still waits is finished under that path, and the stale entry is skipped. (Marking on push
  // ordered x before f(x) in x + f(x), and f's share of x's gradient was lost.)
  const order: Tensor[] = [];
  const stack: Tensor[] = [root];
  const expanded: boolean[] = [false];
  while (stack.length > 0) {
    const top = stack.length - 1;
    const t = stack[top];
    if (expanded[top]) {
      stack.pop();
      expanded.pop();
      order.push(t);
      continue;
    }
    if (t._mark === id) {
      // Already expanded through another path.
      stack.pop();
      expanded.pop();
      continue;
    }
    t._mark = id;
    expanded[top] = true;
    const node = t._node;
    if (node !== null) {
      if (node.released)
        throw new Error(
          `backward(): trying to backward through the graph a second time (op '${node.op}'); pass { retainGraph: true } the first time`,
        );
      const ins = node.inputs;
      for (let i = 0; i < ins.length; i++) {
        const x = ins[i];
        if (x.requiresGrad && x._mark !== id) {
          stack.push(x);
          expanded.push(false);
        }
      }
    }
  }
  // The caller's gradient is read, never copied up front, modified or disposed.
  const user = gradient ?? null;
  const free = (t: Tensor): void => {
    if (t !== user) t.dispose();
  };
  // Graph scopes' intermediates of the nodes released below: freed after the whole pass (later
  // nodes still read them).
  const scopesDone: { free(): void }[] = [];
  try {
    walkBack(order, root, gradient, user, free, retainGraph, id, scopesDone);
  } finally {
    for (const s of scopesDone) s.free();
  }
}

function walkBack(
  order: Tensor[],
  root: Tensor,
  gradient: Tensor | undefined,
  user: Tensor | null,
  free: (t: Tensor) => void,
  retainGraph: boolean,
  id: number,
  scopesDone: { free(): void }[],
): void {
  const rootGrad = gradient ?? hooks.onesLike(root);
  root._gradAcc = rootGrad;
  rootGrad._claim = id;
  for (let k = order.length - 1; k >= 0; k--) {
    const t = order[k];
    let g = t._gradAcc;
    if (g === null) continue;
    t._gradAcc = null;
    g._claim = 0;
    if (t._gradHooks !== null) g = runGradHooks(t, g, free);
    const node = t._node;
    if (node === null) {
      // Leaf: accumulate into .grad.
      if (t.grad === null) {
        const owned = g !== user && g._isContiguous && g._storage.refs === 1 ? g : hooks.clone(g);
        if (owned !== g) free(g);
        t.grad = owned;
        owned._kept = true;
      } else {
        hooks.addInPlace(t.grad, g);
        free(g);
      }
      continue;
    }
    if (t._retainGrad) {
      if (t.grad === null) {
        t.grad = hooks.clone(g);
        t.grad._kept = true;
      } else hooks.addInPlace(t.grad, g);
    }
    const ins = node.inputs;
    for (let i = 0; i < ins.length; i++)
      if (ins[i]._disposed) ins[i]._check(`backward of '${node.op}'`);
    const gin = node.backward(g, node);
    let passed = false;
    for (let i = 0; i < gin.length; i++) {
      let gi = gin[i];
      const x = ins[i];
      if (gi === null || x === undefined || !x.requiresGrad) {
        if (gi !== null && gi !== g) free(gi);
        continue;
      }
      if (state.anomaly) {
        const bad = firstNonFinite(gi);
        if (bad >= 0)
          throw new Error(
            `anomaly: backward of op '${node.op}' produced ${describeNonFinite(gi, bad)} in the gradient of input ${i}` +
              (node.stack ? `\nforward was called at:\n${node.stack}` : ""),
          );
      }
      if (!sameShape(gi.shape, x.shape)) {
        const r = hooks.sumTo(gi, x.shape);
        if (gi !== g) free(gi);
        gi = r;
      }
      const prevG = x._gradAcc;
      if (prevG !== null && prevG._isContiguous && prevG._storage.refs === 1) {
        // Accumulate in place; gi is only read, so g and claimed grads need no copy.
        hooks.addInPlace(prevG, gi);
        if (gi !== g && gi._claim !== id) free(gi);
        continue;
      }
      if (gi === g) {
        if (passed || g === user) gi = hooks.clone(g);
        else passed = true;
      } else if (gi._claim === id) gi = hooks.clone(gi);
      if (prevG === null) {
        x._gradAcc = gi;
        gi._claim = id;
      } else {
        const sum = hooks.add(prevG, gi);
        prevG._claim = 0;
        prevG.dispose();
        // g itself was only lent here: later inputs may still need it (freed once, below).
        if (gi === g) passed = false;
        else free(gi);
        x._gradAcc = sum;
        sum._claim = id;
      }
    }
    if (!passed) free(g);
    if (!retainGraph) {
      node.released = true;
      node.saved = null;
      if (node.owned !== null) for (const o of node.owned) o.dispose();
      node.owned = null;
      if (node.scopeOwned !== null) for (const so of node.scopeOwned) scopesDone.push(so);
      node.scopeOwned = null;
    }
  }
}
