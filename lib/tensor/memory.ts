/**
 * Storage lifetime: reference-counted storages, a buffer pool keyed by dtype and length, `tidy`
 * scopes, and a FinalizationRegistry that reclaims what was never disposed.
 */
import { DType, TypedArray, bytesPer, newArray } from "./dtype.js";

/** A buffer shared by a tensor and its views; returned to the pool when the last one goes. */
export class Storage {
  refs = 1;
  constructor(
    public data: TypedArray,
    public readonly dtype: DType,
  ) {}
}

const stats = { liveTensors: 0, liveBytes: 0, pooledBytes: 0 };
const pools: Map<number, TypedArray[]>[] = [new Map(), new Map(), new Map(), new Map(), new Map()];
const poolIndex: Record<DType, number> = {
  float32: 0,
  int32: 1,
  bfloat16: 2,
  float8_e4m3fn: 3,
  float8_e5m2: 4,
};
let poolLimit = 1024 * 1024 * 1024;
/** The buffers allocStorage made: only these are pooled whole under a shorter view. */
const ownBlocks = new WeakSet<ArrayBufferLike>();

/**
 * The capacity a buffer of n elements is allocated with: n rounded up to a quarter of its power
 * of two (at most 25% more; exact below 64 elements). Sizes that vary from step to step (an
 * expert's share of the tokens) then reuse each other's buffers, as a caching allocator's
 * rounded blocks do, instead of each length waiting for its own.
 */
export function sizeClass(n: number): number {
  if (n <= 64) return n;
  const quarter = 2 ** (Math.floor(Math.log2(n)) - 2);
  return Math.ceil(n / quarter) * quarter;
}

/** Caps the bytes the pool keeps (default 1 GiB); 0 disables pooling. */
export function setPoolLimit(bytes: number): void {
  poolLimit = bytes;
  if (poolLimit <= 0) emptyPool();
}

/** Drops every pooled buffer. */
export function emptyPool(): void {
  for (const p of pools) p.clear();
  stats.pooledBytes = 0;
}

/**
 * A buffer of n elements from the pool (contents undefined unless `zero`): a view of the first n
 * elements of a block of sizeClass(n).
 */
export function allocStorage(dtype: DType, n: number, zero: boolean): Storage {
  const cap = sizeClass(n);
  const list = pools[poolIndex[dtype]].get(cap);
  let block: TypedArray;
  let reused = false;
  if (list !== undefined && list.length > 0) {
    block = list.pop()!;
    stats.pooledBytes -= block.byteLength;
    reused = true;
  } else {
    block = newArray(dtype, cap);
    ownBlocks.add(block.buffer);
  }
  const data = cap === n ? block : block.subarray(0, n);
  if (reused && zero) data.fill(0);
  stats.liveBytes += data.byteLength;
  return new Storage(data, dtype);
}

/** Wraps an existing array (not pooled memory) as a storage. */
export function wrapStorage(data: TypedArray, dtype: DType): Storage {
  stats.liveBytes += data.byteLength;
  return new Storage(data, dtype);
}

export function releaseStorage(s: Storage): void {
  if (s.refs <= 0) return; // released already: never pool the empty stand-in
  if (--s.refs > 0) return;
  const data = s.data;
  stats.liveBytes -= data.byteLength;
  // Only whole blocks of a size class go back: the pool's own, or a wrapped array that is all of
  // its buffer (never a view into memory shared with others, such as Node's Buffer slabs).
  const cap = data.buffer.byteLength / data.BYTES_PER_ELEMENT;
  if (
    data.byteOffset === 0 &&
    cap === sizeClass(cap) &&
    (cap === data.length || ownBlocks.has(data.buffer)) &&
    stats.pooledBytes + data.buffer.byteLength <= poolLimit
  ) {
    const block = cap === data.length ? data : blockOf(data, cap);
    const m = pools[poolIndex[s.dtype]];
    const list = m.get(cap);
    if (list === undefined) m.set(cap, [block]);
    else list.push(block);
    stats.pooledBytes += block.byteLength;
  }
  s.data = EMPTY;
}
const EMPTY = new Float32Array(0);

/** The whole block (cap elements) under a view of its first elements. */
function blockOf(view: TypedArray, cap: number): TypedArray {
  const Ctor = view.constructor as new (b: ArrayBufferLike, o: number, n: number) => TypedArray;
  return new Ctor(view.buffer, 0, cap);
}

/** Hands the last reference's array to the caller instead of the pool. */
export function forgetStorage(s: Storage): void {
  s.refs = 0;
  stats.liveBytes -= s.data.byteLength;
  s.data = EMPTY;
}

export function tensorCreated(): void {
  stats.liveTensors++;
}
export function tensorReleased(): void {
  stats.liveTensors--;
}

export interface MemoryInfo {
  /** Tensors neither disposed nor garbage-collected. */
  liveTensors: number;
  /** Bytes held by live storages (views share theirs). */
  liveBytes: number;
  /** Bytes kept by the buffer pool for reuse. */
  pooledBytes: number;
}

/** Live tensors and bytes, so a notebook or a test can see a leak. */
export function memory(): MemoryInfo {
  return {
    liveTensors: stats.liveTensors,
    liveBytes: stats.liveBytes,
    pooledBytes: stats.pooledBytes,
  };
}

export { bytesPer };

/** Objects tidy() tracks: anything with dispose(), a kept flag and a storage. */
export interface Disposable {
  dispose(): void;
  _kept: boolean;
  _registered: boolean;
  _disposed: boolean;
  _storage: Storage;
}

const scopes: Disposable[][] = [];
/** The scopes opened by graphScope (see graph-scope.ts): their leftovers go with the graph. */
const graphScopes = new WeakSet<Disposable[]>();

// Safety net for tensors never disposed. Registering costs ~1 us, so tensors born inside a
// tidy scope (which disposes them for sure) are registered only if they outlive it.
const registry = new FinalizationRegistry<Storage>((s) => {
  tensorReleased();
  releaseStorage(s);
});

/** What a returned tensor of a graph scope holds (graph-scope.ts's OwnedSet). */
export interface RootOf {
  rootGone(): void;
}

// A graph scope's returned tensors, collected without dispose(): each counts as gone.
const rootRegistry = new FinalizationRegistry<RootOf>((set) => set.rootGone());

/** Registers t as a returned tensor of `set` (see graph-scope.ts). */
export function registerRoot(t: object, set: RootOf): void {
  rootRegistry.register(t, set, t);
}

/** t was disposed: it no longer counts for the sets it was registered with. */
export function rootsDisposed(t: object, sets: RootOf[]): void {
  rootRegistry.unregister(t);
  for (const s of sets) s.rootGone();
}

export function register(t: Disposable): void {
  // A disposed tensor's storage is released already: registering it (a kept tensor disposed
  // inside a tidy) would release it a second time when collected and pool the empty stand-in.
  if (t._registered || t._disposed) return;
  t._registered = true;
  registry.register(t, t._storage, t);
}

export function unregister(t: Disposable): void {
  if (t._registered) registry.unregister(t);
}

/** Called for each new tensor: tracked by the innermost scope, else registered. */
export function adopt(t: Disposable): void {
  if (scopes.length > 0) scopes[scopes.length - 1].push(t);
  else register(t);
}

export function inScope(): boolean {
  return scopes.length > 0;
}

/** The tensors in x (itself, or inside arrays / plain objects / Maps, 4 levels deep). */
export function collect(x: unknown, out: Set<unknown>, depth: number): void {
  if (x === null || typeof x !== "object" || depth > 4) return;
  if ("_kept" in (x as object) && typeof (x as Disposable).dispose === "function") {
    out.add(x);
    return;
  }
  if (Array.isArray(x)) for (const v of x) collect(v, out, depth + 1);
  else if (Object.getPrototypeOf(x) === Object.prototype || x instanceof Map)
    for (const v of x instanceof Map ? x.values() : Object.values(x as object))
      collect(v, out, depth + 1);
}

/**
 * Runs fn and disposes every tensor created inside it, except those it returns (directly, or
 * inside arrays / plain objects / Maps) and those passed to keep(). fn must be synchronous.
 */
export function tidy<T>(fn: () => T): T {
  const scope: Disposable[] = [];
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope) {
      if (!t._kept) t.dispose();
      else register(t);
    }
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise)
    throw new Error("tidy(fn): fn returned a Promise; tidy only scopes synchronous code");
  const keepSet = new Set<unknown>();
  collect(result, keepSet, 0);
  for (const t of scope) {
    if (t._kept) register(t);
    else if (keepSet.has(t)) settleReturned(t);
    else t.dispose();
  }
  return result;
}

/**
 * The scope the user's code runs in: the one just below the outermost graph scope (a tidy around
 * the model call), or null (the garbage collector's). Scopes above it are the model's own.
 */
function userScope(): Disposable[] | null {
  for (let i = 0; i < scopes.length; i++)
    if (graphScopes.has(scopes[i])) return i > 0 ? scopes[i - 1] : null;
  return scopes.length > 0 ? scopes[scopes.length - 1] : null;
}

/** True while a graph scope is open. */
function inGraphScope(): boolean {
  for (let i = scopes.length - 1; i >= 0; i--) if (graphScopes.has(scopes[i])) return true;
  return false;
}

/** Hands an escaped tensor to the user's scope (see userScope), or to the garbage collector. */
export function settleEscaped(t: Disposable): void {
  const s = userScope();
  if (s !== null) s.push(t);
  else register(t);
}

/** Hands a returned tensor to the enclosing scope, as tidy does, or to the garbage collector. */
export function settleReturned(t: Disposable): void {
  if (scopes.length > 0) scopes[scopes.length - 1].push(t);
  else register(t);
}

/**
 * Runs fn in a graph scope: returns what it made, for the caller (graphScope) to hand to the
 * autograd graph. If fn throws, what it made is disposed as tidy would (settled if escaped).
 */
export function runGraphScope<T>(
  fn: () => T,
  escaped: (t: Disposable) => boolean,
): { result: T; made: Disposable[] } {
  const scope: Disposable[] = [];
  graphScopes.add(scope);
  scopes.push(scope);
  try {
    return { result: fn(), made: scope };
  } catch (e) {
    for (const t of scope) {
      if (t._kept) register(t);
      else if (escaped(t)) settleEscaped(t);
      else t.dispose();
    }
    throw e;
  } finally {
    // The top is this scope again: every scope opened inside fn was closed.
    scopes.pop();
  }
}

/**
 * Runs fn (user code called from inside a graph scope: a hook, an observer) so that the tensors
 * it makes belong to the innermost tidy scope, or to the garbage collector, not to the graph.
 */
export function outsideGraph<T>(fn: () => T): T {
  if (!inGraphScope()) return fn();
  const target = userScope();
  const scope: Disposable[] = target ?? [];
  scopes.push(scope);
  try {
    return fn();
  } finally {
    scopes.pop();
    if (target === null) for (const t of scope) register(t);
  }
}

/** Exempts a tensor from every enclosing tidy scope; returns it. */
export function keep<T extends Disposable>(t: T): T {
  t._kept = true;
  if (scopes.length === 0) register(t);
  return t;
}

/** Runs fn in an internal scope that disposes every tensor it made except kept ones. */
export function scoped<T>(fn: () => T): T {
  return tidy(fn);
}
