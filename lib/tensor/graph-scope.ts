/**
 * Graph scopes: what lets the loop a newcomer writes, without `tidy`,
 *
 *   const loss = model.loss(x, y); loss.backward(); opt.step(); model.zeroGrad();
 *
 * run in flat memory at the speed of the tidy one. A model's forward runs in a graph scope: the
 * intermediate tensors it makes and does not return (activations, masks, saved probabilities) are
 * handed to the autograd graph of what it returns, instead of waiting for the garbage collector.
 * They are freed
 *   - when backward() has run through that graph (PyTorch's retain_graph=False: the graph's saved
 *     tensors go once used; `{ retainGraph: true }` keeps them for a second pass), or
 *   - when every returned tensor of the call is disposed (a tidy around the call does that), or
 *   - by the garbage collector once the returned tensors are unreachable (the safety net),
 * and their buffers go back to the pool, so the next step reuses them.
 * When nothing returned is in a graph (noGrad, or no parameter requires grad), the leftovers are
 * freed when the scope ends, as tidy would.
 *
 * Tensors that reach user code stay the user's: an activation handed to a hook or to the route
 * observer, and whatever those make, belong to the caller's tidy scope or to the collector
 * (see outsideGraph), so a hook may keep what it was given.
 */
import type { Node } from "./autograd.js";
import {
  collect,
  register,
  registerRoot,
  runGraphScope,
  settleEscaped,
  settleReturned,
} from "./memory.js";
import { Tensor } from "./tensor.js";

/** The intermediates of one graph-scoped call, freed once (see the file comment). */
export class OwnedSet {
  private done = false;
  constructor(
    private readonly tensors: Tensor[],
    /** Returned tensors in a graph that are not yet disposed or collected. */
    private roots: number,
  ) {}

  /** Frees every tensor of the set (idempotent). */
  free(): void {
    if (this.done) return;
    this.done = true;
    for (const t of this.tensors) t.dispose();
    this.tensors.length = 0;
  }

  /** One returned tensor was disposed or collected; the last one frees the set. */
  rootGone(): void {
    if (--this.roots <= 0) this.free();
  }
}

/** Marks a tensor as handed to user code: it is never owned by a graph (see the file comment). */
export function markEscaped(t: Tensor): void {
  t._escaped = true;
}

/** Runs fn (a model's forward) in a graph scope; see the file comment. fn must be synchronous. */
export function graphScope<R>(fn: () => R): R {
  const { result, made } = runGraphScope(fn, (t) => (t as Tensor)._escaped);
  if (result instanceof Promise)
    throw new Error("graphScope(fn): fn returned a Promise; scopes only cover synchronous code");
  const returned = new Set<unknown>();
  collect(result, returned, 0);
  const nodes: Node[] = [];
  const rootTensors: Tensor[] = [];
  for (const t of returned)
    if (t instanceof Tensor && t._node !== null && !t._node.released) {
      rootTensors.push(t);
      if (!nodes.includes(t._node)) nodes.push(t._node);
    }
  const owned: Tensor[] = [];
  for (const d of made) {
    const t = d as Tensor;
    if (t._disposed) continue;
    if (t._kept) register(t);
    else if (returned.has(t)) settleReturned(t);
    else if (t._escaped) settleEscaped(t);
    else owned.push(t);
  }
  if (owned.length === 0) return result;
  if (nodes.length === 0) {
    for (const t of owned) t.dispose();
    return result;
  }
  const set = new OwnedSet(owned, rootTensors.length);
  for (const n of nodes) (n.scopeOwned ??= []).push(set);
  for (const t of rootTensors) {
    (t._ownedRoots ??= []).push(set);
    registerRoot(t, set);
  }
  return result;
}
