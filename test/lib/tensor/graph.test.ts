/**
 * Autograd fuzzing: random computation graphs (DAGs whose nodes reuse leaves and intermediates
 * through paths of different lengths, in random operand order: residual chains h + f(h),
 * diamonds, x*x, cat(x, x), x @ xᵀ) built from a fixed seed, run in moelab and in TensorFlow.js;
 * the loss and every leaf's gradient must agree. Each graph runs twice in moelab: as generated,
 * and with one reused node's consumers swapped (commutative operands reversed, independent nodes
 * evaluated in another topological order, loss terms summed in reverse), so a backward pass whose
 * result depends on graph order shows up. A failure prints the graph; rerun one graph with
 * GRAPH_FUZZ_SEED=<seed> (and GRAPH_FUZZ_COUNT=<n> for more or fewer graphs).
 */
import * as assert from "node:assert/strict";
import * as T from "../../../lib/tensor/index.js";
import { tf, TfT, rng, randInt } from "./oracle.js";
import { skipBecause } from "../../helpers/env.js";

type Rand = () => number;
type Shape = number[];

const TOL = 1e-4;
/**
 * Gradient errors are relative to max(‖reference‖, FLOOR·√n): where a leaf's true gradient is
 * about 0 (it only reaches the loss through paths that cancel) both sides return rounding noise.
 */
const FLOOR = 1e-2;
/** Values every node must stay within (generation rejects ops that leave it). */
const BOUND = 25;
const BASE_SEED = 0x6a7f;
const COUNT = Number(process.env.GRAPH_FUZZ_COUNT ?? 300);
const ONLY = process.env.GRAPH_FUZZ_SEED === undefined ? null : Number(process.env.GRAPH_FUZZ_SEED);

// ---------------------------------------------------------------------------------------------
// Shapes

const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
const sameShape = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((d, i) => d === b[i]);
const show = (s: readonly number[]): string => `[${s.join(",")}]`;

function broadcast(a: Shape, b: Shape): Shape | null {
  const n = Math.max(a.length, b.length);
  const out: Shape = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return null;
    out.push(Math.max(x, y));
  }
  return out;
}

function pick<X>(r: Rand, xs: readonly X[]): X {
  return xs[Math.floor(r() * xs.length)];
}

function shuffle<X>(r: Rand, xs: X[]): X[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

/** A random shape of 1-3 dims with the same element count (null when it comes out unchanged). */
function reshapeTarget(r: Rand, s: Shape): Shape | null {
  const primes: number[] = [];
  let n = numel(s);
  for (let p = 2; n > 1; p++)
    while (n % p === 0) {
      primes.push(p);
      n /= p;
    }
  shuffle(r, primes);
  const k = randInt(r, 1, 3);
  const out = new Array<number>(k).fill(1);
  for (const p of primes) out[randInt(r, 0, k - 1)] *= p;
  return sameShape(out, s) ? null : out;
}

// ---------------------------------------------------------------------------------------------
// Ops: how each applies in moelab and in tfjs, and when it applies to given input shapes.

// Each op kind draws its own parameters (numbers, dims, flags, shapes) and reads them back; one
// loose record keeps the 25 op specs short where a typed union would add nothing a test checks.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Params = Record<string, any>;

interface OpSpec {
  name: string;
  arity: 1 | 2;
  /** Relative frequency. */
  weight: number;
  /** Swapping the operands (see `mine`'s `swapped`) computes the same value. */
  commutative?: boolean;
  /** Parameters and output shape for these input shapes; null when the op does not apply. */
  plan(r: Rand, a: Shape, b: Shape): { p: Params; shape: Shape } | null;
  /** Rejects inputs that would make the test ill-conditioned. */
  ok?(x: TfT[]): boolean;
  /** moelab; `swapped` computes the same value with the operands in the other order. */
  mine(p: Params, x: T.Tensor[], swapped: boolean): T.Tensor;
  ref(p: Params, x: TfT[]): TfT;
  /** Parameters for the printed graph. */
  show?(p: Params): string;
}

const same = (_r: Rand, a: Shape) => ({ p: {}, shape: a });
/**
 * Softmax is invariant to adding a constant to a row, so on rows that are constant (a broadcast
 * reduction, an expanded size-1 dim) the true gradient through it is 0 and both sides return
 * rounding noise: leave those out.
 */
const rowsVary = ([x]: TfT[]): boolean =>
  x.shape[x.rank - 1] === 1 || tf.min(tf.sub(tf.max(x, -1), tf.min(x, -1))).dataSync()[0] > 1e-2;
const bin = (_r: Rand, a: Shape, b: Shape) => {
  const s = broadcast(a, b);
  return s === null || numel(s) > 4096 ? null : { p: {}, shape: s };
};

const OPS: OpSpec[] = [
  // Elementwise unary.
  {
    name: "expClamp",
    arity: 1,
    weight: 3,
    plan: same,
    mine: (_p, [x]) => x.clamp(-3, 3).exp(),
    ref: (_p, [x]) => tf.exp(tf.clipByValue(x, -3, 3)),
  },
  {
    name: "tanh",
    arity: 1,
    weight: 3,
    plan: same,
    mine: (_p, [x]) => x.tanh(),
    ref: (_p, [x]) => tf.tanh(x),
  },
  {
    name: "sigmoid",
    arity: 1,
    weight: 3,
    plan: same,
    mine: (_p, [x]) => x.sigmoid(),
    ref: (_p, [x]) => tf.sigmoid(x),
  },
  {
    name: "silu",
    arity: 1,
    weight: 2,
    plan: same,
    mine: (_p, [x]) => x.silu(),
    ref: (_p, [x]) => tf.mul(x, tf.sigmoid(x)),
  },
  {
    name: "square",
    arity: 1,
    weight: 3,
    plan: same,
    mine: (_p, [x]) => x.square(),
    ref: (_p, [x]) => tf.square(x),
  },
  {
    name: "neg",
    arity: 1,
    weight: 2,
    plan: same,
    mine: (_p, [x]) => x.neg(),
    ref: (_p, [x]) => tf.neg(x),
  },
  {
    name: "scale",
    arity: 1,
    weight: 3,
    plan: (r, a) => ({ p: { c: pick(r, [-1.5, -0.5, 0.25, 0.5, 0.75, 1.25, 2]) }, shape: a }),
    mine: (p, [x]) => x.mul(p.c),
    ref: (p, [x]) => tf.mul(x, p.c),
    show: (p) => `c=${p.c}`,
  },
  {
    name: "shift",
    arity: 1,
    weight: 1,
    plan: (r, a) => ({ p: { c: pick(r, [-1, -0.5, 0.5, 1]) }, shape: a }),
    mine: (p, [x]) => x.add(p.c),
    ref: (p, [x]) => tf.add(x, p.c),
    show: (p) => `c=${p.c}`,
  },
  // Reductions, either kept reduced or broadcast back to the input's shape.
  {
    name: "reduce",
    arity: 1,
    weight: 5,
    plan: (r, a) => {
      if (a.length === 0) return null;
      const p = {
        fn: pick(r, ["sum", "mean"]),
        dim: randInt(r, 0, a.length - 1),
        keepdim: r() < 0.5,
        back: r() < 0.5,
      };
      const red = a.filter((_d, i) => i !== p.dim);
      const kept = a.map((d, i) => (i === p.dim ? 1 : d));
      return { p, shape: p.back ? a : p.keepdim ? kept : red };
    },
    mine: (p, [x]) => {
      let y = p.fn === "sum" ? x.sum(p.dim, p.keepdim) : x.mean(p.dim, p.keepdim);
      if (p.back) y = (p.keepdim ? y : y.unsqueeze(p.dim)).expand([...x.shape]);
      return y;
    },
    ref: (p, [x]) => {
      let y = p.fn === "sum" ? tf.sum(x, p.dim, p.keepdim) : tf.mean(x, p.dim, p.keepdim);
      if (p.back) y = tf.broadcastTo(p.keepdim ? y : tf.expandDims(y, p.dim), x.shape);
      return y;
    },
    show: (p) =>
      `${p.fn}, dim=${p.dim}, keepdim=${p.keepdim}` +
      (p.back ? (p.keepdim ? " -> expand" : " -> unsqueeze -> expand") : ""),
  },
  {
    name: "sumAll",
    arity: 1,
    weight: 1.5,
    plan: (_r, a) => (a.length === 0 ? null : { p: {}, shape: [] }),
    mine: (_p, [x]) => x.sum(),
    ref: (_p, [x]) => tf.sum(x),
  },
  // Views.
  {
    name: "transpose",
    arity: 1,
    weight: 3,
    plan: (r, a) => {
      if (a.length < 2) return null;
      const [d0, d1] = shuffle(r, [...a.keys()]);
      const s = a.slice();
      [s[d0], s[d1]] = [s[d1], s[d0]];
      return { p: { d0, d1 }, shape: s };
    },
    mine: (p, [x]) => x.transpose(p.d0, p.d1),
    ref: (p, [x]) => {
      const perm = [...Array(x.rank).keys()];
      [perm[p.d0], perm[p.d1]] = [perm[p.d1], perm[p.d0]];
      return tf.transpose(x, perm);
    },
    show: (p) => `${p.d0}, ${p.d1}`,
  },
  {
    name: "permute",
    arity: 1,
    weight: 3,
    plan: (r, a) => {
      if (a.length < 3) return null;
      const perm = shuffle(r, [...a.keys()]);
      if (perm.every((d, i) => d === i)) return null;
      return { p: { perm }, shape: perm.map((d) => a[d]) };
    },
    mine: (p, [x]) => x.permute(p.perm),
    ref: (p, [x]) => tf.transpose(x, p.perm),
    show: (p) => show(p.perm),
  },
  {
    name: "reshape",
    arity: 1,
    weight: 3,
    plan: (r, a) => {
      const s = a.length === 0 ? null : reshapeTarget(r, a);
      return s === null ? null : { p: { s }, shape: s };
    },
    mine: (p, [x]) => x.reshape(p.s),
    ref: (p, [x]) => tf.reshape(x, p.s),
    show: (p) => show(p.s),
  },
  {
    name: "narrow",
    arity: 1,
    weight: 3,
    plan: (r, a) => {
      const dims = [...a.keys()].filter((d) => a[d] >= 2);
      if (dims.length === 0) return null;
      const dim = pick(r, dims);
      const length = randInt(r, 1, a[dim] - 1);
      const start = randInt(r, 0, a[dim] - length);
      return { p: { dim, start, length }, shape: a.map((d, i) => (i === dim ? length : d)) };
    },
    mine: (p, [x]) => x.narrow(p.dim, p.start, p.length),
    ref: (p, [x]) => {
      const begin = x.shape.map((_d, i) => (i === p.dim ? p.start : 0));
      const size = x.shape.map((d, i) => (i === p.dim ? p.length : d));
      return tf.slice(x, begin, size);
    },
    show: (p) => `dim=${p.dim}, start=${p.start}, length=${p.length}`,
  },
  {
    name: "expand",
    arity: 1,
    weight: 3,
    plan: (r, a) => {
      const ones = [...a.keys()].filter((d) => a[d] === 1);
      let s: Shape;
      if (ones.length > 0 && (a.length >= 3 || r() < 0.6)) {
        const d = pick(r, ones);
        s = a.map((n, i) => (i === d ? randInt(r, 2, 4) : n));
      } else if (a.length < 3) s = [randInt(r, 2, 3), ...a];
      else return null;
      return numel(s) > 4096 ? null : { p: { s }, shape: s };
    },
    mine: (p, [x]) => x.expand(p.s),
    ref: (p, [x]) => tf.broadcastTo(x, p.s),
    show: (p) => show(p.s),
  },
  {
    name: "unsqueeze",
    arity: 1,
    weight: 2,
    plan: (r, a) => {
      if (a.length >= 3) return null;
      const dim = randInt(r, 0, a.length);
      const s = a.slice();
      s.splice(dim, 0, 1);
      return { p: { dim }, shape: s };
    },
    mine: (p, [x]) => x.unsqueeze(p.dim),
    ref: (p, [x]) => tf.expandDims(x, p.dim),
    show: (p) => `dim=${p.dim}`,
  },
  {
    name: "indexSelect",
    arity: 1,
    weight: 2,
    plan: (r, a) => {
      if (a.length === 0) return null;
      const dim = randInt(r, 0, a.length - 1);
      const n = randInt(r, 1, a[dim] + 2);
      const idx = Array.from({ length: n }, () => randInt(r, 0, a[dim] - 1));
      return { p: { dim, idx }, shape: a.map((d, i) => (i === dim ? n : d)) };
    },
    mine: (p, [x]) => x.indexSelect(p.dim, T.tensor(Int32Array.from(p.idx))),
    ref: (p, [x]) => tf.gather(x, tf.tensor1d(p.idx, "int32"), p.dim),
    show: (p) => `dim=${p.dim}, index=${show(p.idx)}`,
  },
  // Fused.
  {
    name: "softmax",
    arity: 1,
    weight: 2,
    plan: (_r, a) => (a.length === 0 ? null : { p: {}, shape: a }),
    ok: rowsVary,
    mine: (_p, [x]) => x.softmax(-1),
    ref: (_p, [x]) => tf.softmax(x, -1),
  },
  {
    name: "logSoftmax",
    arity: 1,
    weight: 1,
    plan: (_r, a) => (a.length === 0 ? null : { p: {}, shape: a }),
    ok: rowsVary,
    mine: (_p, [x]) => x.logSoftmax(-1),
    ref: (_p, [x]) => tf.logSoftmax(x, -1),
  },
  // Binary, with broadcasting.
  {
    name: "add",
    arity: 2,
    weight: 6,
    commutative: true,
    plan: bin,
    mine: (_p, [a, b], sw) => (sw ? b.add(a) : a.add(b)),
    ref: (_p, [a, b]) => tf.add(a, b),
  },
  {
    name: "sub",
    arity: 2,
    weight: 3,
    plan: bin,
    mine: (_p, [a, b]) => a.sub(b),
    ref: (_p, [a, b]) => tf.sub(a, b),
  },
  {
    name: "mul",
    arity: 2,
    weight: 5,
    commutative: true,
    plan: bin,
    mine: (_p, [a, b], sw) => (sw ? b.mul(a) : a.mul(b)),
    ref: (_p, [a, b]) => tf.mul(a, b),
  },
  {
    // a / (1.5 + tanh(b)): the divisor stays in [0.5, 2.5].
    name: "div",
    arity: 2,
    weight: 3,
    plan: bin,
    mine: (_p, [a, b]) => a.div(b.tanh().add(1.5)),
    ref: (_p, [a, b]) => tf.div(a, tf.add(tf.tanh(b), 1.5)),
    show: () => "a / (1.5 + tanh(b))",
  },
  {
    // a @ b or a @ bᵀ (batch dims broadcast); swapped: (bᵀ @ aᵀ)ᵀ.
    name: "matmul",
    arity: 2,
    weight: 4,
    commutative: true,
    plan: (r, a, b) => {
      if (a.length < 2 || b.length < 2) return null;
      const k = a[a.length - 1];
      const modes = (["nn", "nt"] as const).filter(
        (m) => (m === "nn" ? b[b.length - 2] : b[b.length - 1]) === k,
      );
      if (modes.length === 0) return null;
      const mode = pick(r, modes);
      const batch = broadcast(a.slice(0, -2), b.slice(0, -2));
      if (batch === null) return null;
      const n = mode === "nn" ? b[b.length - 1] : b[b.length - 2];
      const s = [...batch, a[a.length - 2], n];
      return numel(s) > 4096 ? null : { p: { mode }, shape: s };
    },
    mine: (p, [a, b], sw) => {
      const bb = p.mode === "nt" ? b.mT : b;
      return sw ? bb.mT.matmul(a.mT).mT : a.matmul(bb);
    },
    // tfjs's matMul gradient does not sum over broadcast batch dims: broadcast them first.
    ref: (p, [a, b]) => {
      const batch = broadcast(a.shape.slice(0, -2), b.shape.slice(0, -2))!;
      const full = (x: TfT): TfT => tf.broadcastTo(x, [...batch, ...x.shape.slice(-2)]);
      return tf.matMul(full(a), full(b), false, p.mode === "nt");
    },
    show: (p) => (p.mode === "nt" ? "a @ bᵀ" : "a @ b"),
  },
  {
    name: "cat",
    arity: 2,
    weight: 2,
    plan: (r, a, b) => {
      if (a.length === 0 || a.length !== b.length) return null;
      const diff = [...a.keys()].filter((i) => a[i] !== b[i]);
      if (diff.length > 1) return null;
      const dim = diff.length === 1 ? diff[0] : randInt(r, 0, a.length - 1);
      const s = a.map((d, i) => (i === dim ? d + b[i] : d));
      return numel(s) > 4096 ? null : { p: { dim }, shape: s };
    },
    mine: (p, [a, b]) => T.cat([a, b], p.dim),
    ref: (p, [a, b]) => tf.concat([a, b], p.dim),
    show: (p) => `dim=${p.dim}`,
  },
];
const OP = new Map(OPS.map((o) => [o.name, o]));
const VIEWS = new Set([
  "transpose",
  "permute",
  "reshape",
  "narrow",
  "expand",
  "unsqueeze",
  "indexSelect",
]);

// ---------------------------------------------------------------------------------------------
// Graphs

interface GNode {
  /** "leaf" or an OPS name. */
  op: string;
  inputs: number[];
  shape: Shape;
  p: Params;
  /** Leaf values (row-major). */
  value?: Float32Array;
}

interface Graph {
  seed: number;
  nodes: GNode[];
  /** The loss is Σ sum(nodes[o.node] * o.w). */
  outputs: { node: number; w: Float32Array }[];
  /** Generation events, for the coverage check. */
  residuals: number;
  diamonds: number;
}

function randValues(r: Rand, n: number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

const SMALL: Shape[] = [[3, 4], [2, 3, 4], [4], [3, 1], [2, 1, 4], [1, 4]];
// Over 2048 elements, so the native kernels run too.
const LARGE: Shape[] = [[2, 40, 32], [40, 32], [32], [40, 1]];

function weightedPick(r: Rand, ops: OpSpec[]): OpSpec {
  let t = r() * ops.reduce((a, o) => a + o.weight, 0);
  for (const o of ops) if ((t -= o.weight) < 0) return o;
  return ops[ops.length - 1];
}

function finiteAndBounded(t: TfT): boolean {
  const d = t.dataSync();
  for (let i = 0; i < d.length; i++) if (!(Math.abs(d[i]) <= BOUND)) return false;
  return true;
}

/**
 * A random graph: 1-3 leaves, then nodes up to 5-25 in all. Each node is a random op of earlier
 * nodes (often the newest, otherwise any), built as one node, a residual block h + f(h) / f(h) + h
 * (f = 1-3 shape-keeping unary ops), or a diamond g(f1(x), f2(x)). Ops whose values leave
 * [-BOUND, BOUND] are redrawn (values come from tfjs).
 */
function makeGraph(seed: number): Graph {
  const r = rng(seed);
  const fam = r() < 0.12 ? LARGE : SMALL;
  const nLeaves = randInt(r, 1, 3);
  const total = Math.max(randInt(r, 5, 25), nLeaves + 2);
  const nodes: GNode[] = [];
  let residuals = 0;
  let diamonds = 0;
  let outputs: Graph["outputs"] = [];
  tf.tidy(() => {
    // Node values, to keep the graph well-conditioned (the tidy disposes them).
    const vals: TfT[] = [];
    for (let i = 0; i < nLeaves; i++) {
      const shape = pick(r, fam).slice();
      const value = randValues(r, numel(shape), 1.5);
      nodes.push({ op: "leaf", inputs: [], shape, p: {}, value });
      vals.push(tf.tensor(value, shape));
    }
    // Adds a node if the op applies (giving `keep`'s shape, when set) and its values stay
    // bounded; returns its index or -1.
    const tryAdd = (o: OpSpec, ins: number[], keep?: Shape): number => {
      const planned = o.plan(r, nodes[ins[0]].shape, nodes[ins[ins.length - 1]].shape);
      if (planned === null || (keep !== undefined && !sameShape(planned.shape, keep))) return -1;
      const xs = ins.map((i) => vals[i]);
      if (o.ok && !o.ok(xs)) return -1;
      const v = o.ref(planned.p, xs);
      assert.deepEqual(v.shape, planned.shape, `${o.name}: planned shape`);
      if (!finiteAndBounded(v)) return -1;
      nodes.push({ op: o.name, inputs: ins, shape: planned.shape, p: planned.p });
      vals.push(v);
      return nodes.length - 1;
    };
    const recent = (): number => (r() < 0.5 ? nodes.length - 1 : randInt(r, 0, nodes.length - 1));
    const unary = OPS.filter((o) => o.arity === 1);
    const binary = OPS.filter((o) => o.arity === 2);
    const views = OPS.filter((o) => VIEWS.has(o.name));
    // f(x) keeping x's shape: 1-3 unary ops; the last node, or -1.
    const chain = (x: number, len: number): number => {
      let h = x;
      for (let k = 0; k < len; k++) {
        let next = -1;
        for (let tries = 0; tries < 20 && next < 0; tries++)
          next = tryAdd(weightedPick(r, unary), [h], nodes[h].shape);
        if (next < 0) return -1;
        h = next;
      }
      return h;
    };
    // A binary op on (a, b) in either order, or -1.
    const combine = (o: OpSpec, a: number, b: number): number =>
      r() < 0.5 ? tryAdd(o, [a, b]) : tryAdd(o, [b, a]);
    let guard = 0;
    while (nodes.length < total && guard++ < 1000) {
      const left = total - nodes.length;
      const mode = r();
      if (mode < 0.2 && left >= 2) {
        // Residual: h + f(h), in either order; h is often a leaf or a residual output.
        const h = recent();
        const f = chain(h, randInt(r, 1, Math.min(3, left - 1)));
        if (f >= 0 && combine(OP.get(pick(r, ["add", "add", "mul", "sub"]))!, h, f) >= 0)
          residuals++;
      } else if (mode < 0.32 && left >= 3) {
        // Diamond: g(f1(x), f2(x)).
        const x = recent();
        const f1 = chain(x, 1);
        const f2 = f1 < 0 ? -1 : chain(x, 1);
        if (f2 >= 0 && combine(weightedPick(r, binary), f1, f2) >= 0) diamonds++;
      } else if (mode < 0.65) {
        // Views and gathers get a share of their own: their gradients are strided or share
        // storage, which is where accumulation goes wrong.
        tryAdd(weightedPick(r, r() < 0.35 ? views : unary), [recent()]);
      } else {
        const o = weightedPick(r, binary);
        const a = recent();
        // The partner: a itself sometimes (x * x, x @ xᵀ, cat(x, x)), else any earlier node.
        const cands =
          r() < 0.15
            ? [a]
            : shuffle(r, [...nodes.keys()])
                .filter((i) => i !== a)
                .concat([a]);
        for (const b of cands) if (combine(o, a, b) >= 0) break;
      }
    }
    // Loss terms: the last node, 1-3 others (any node, leaves included), and whatever is needed
    // so every leaf reaches the loss.
    const outs = new Set<number>([nodes.length - 1]);
    const extra = randInt(r, 1, 3);
    for (let k = 0; k < extra; k++) outs.add(randInt(r, 0, nodes.length - 2));
    for (;;) {
      const reach = reachesLoss(nodes, outs);
      const missing = [...nodes.keys()].find((i) => nodes[i].op === "leaf" && !reach[i]);
      if (missing === undefined) break;
      // The newest node computed from it (or itself).
      let last = missing;
      const from = new Set([missing]);
      nodes.forEach((n, i) => {
        if (n.inputs.some((j) => from.has(j))) {
          from.add(i);
          last = i;
        }
      });
      outs.add(last);
    }
    outputs = [...outs].map((node) => ({ node, w: randValues(r, numel(nodes[node].shape), 1) }));
  });
  return { seed, nodes, outputs, residuals, diamonds };
}

function reachesLoss(nodes: GNode[], outs: Set<number>): boolean[] {
  const reach = nodes.map((_n, i) => outs.has(i));
  for (let i = nodes.length - 1; i >= 0; i--)
    if (reach[i]) for (const j of nodes[i].inputs) reach[j] = true;
  return reach;
}

const nodeName = (g: Graph, i: number): string => (g.nodes[i].op === "leaf" ? `x${i}` : `n${i}`);

function describeGraph(g: Graph, v?: Variant): string {
  const lines = g.nodes.map((n, i) => {
    const name = nodeName(g, i);
    if (n.op === "leaf") return `  ${name} = leaf ${show(n.shape)}`;
    const o = OP.get(n.op)!;
    const args = n.inputs.map((j) => nodeName(g, j)).join(", ");
    const extra = o.show ? `; ${o.show(n.p)}` : "";
    const sw = v?.swapped.has(i) ? "  (operands swapped)" : "";
    return `  ${name} = ${n.op}(${args}${extra}) -> ${show(n.shape)}${sw}`;
  });
  const terms = g.outputs.map((o) => `sum(${nodeName(g, o.node)} * W)`);
  if (v?.reverseLoss) terms.reverse();
  lines.push(`  loss = ${terms.join(" + ")}`);
  if (v?.order) lines.push(`  evaluation order: ${v.order.map((i) => nodeName(g, i)).join(" ")}`);
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------
// Runs

interface Variant {
  label: string;
  /** Nodes computed with their operands in the other order. */
  swapped: Set<number>;
  /** Evaluation order (a topological order); null for index order. */
  order: number[] | null;
  reverseLoss: boolean;
}

/**
 * The second run: a node with several consumers (preferring one consumed by commutative ops)
 * gets those consumers' operands swapped; nodes are evaluated in the topological order that
 * takes the newest ready node first (so independent consumers run in reverse), and the loss
 * terms are summed in reverse.
 */
function swappedVariant(g: Graph): Variant {
  const consumers = g.nodes.map(() => [] as number[]);
  g.nodes.forEach((n, i) => new Set(n.inputs).forEach((j) => consumers[j].push(i)));
  const comm = (i: number): boolean => OP.get(g.nodes[i].op)?.commutative === true;
  let best = -1;
  let bestScore = 0;
  consumers.forEach((cs, j) => {
    const score = cs.length >= 2 ? 1 + cs.filter(comm).length : 0;
    if (score > bestScore) [best, bestScore] = [j, score];
  });
  const swapped = new Set(best < 0 ? [] : consumers[best].filter(comm));
  // Kahn's algorithm, newest ready node first.
  const indeg = g.nodes.map((n) => new Set(n.inputs).size);
  const ready = g.nodes.flatMap((_n, i) => (indeg[i] === 0 ? [i] : []));
  const order: number[] = [];
  while (ready.length > 0) {
    ready.sort((a, b) => a - b);
    const i = ready.pop()!;
    order.push(i);
    for (const c of consumers[i]) if (--indeg[c] === 0) ready.push(c);
  }
  const label =
    best < 0
      ? "reversed evaluation order"
      : `consumers of ${nodeName(g, best)} (${consumers[best].map((c) => nodeName(g, c)).join(", ")}) swapped`;
  return { label, swapped, order, reverseLoss: true };
}

const PLAIN: Variant = {
  label: "as generated",
  swapped: new Set(),
  order: null,
  reverseLoss: false,
};

interface Result {
  loss: number;
  /** Σ |terms of the loss| (the scale its rounding error is relative to); reference only. */
  scale?: number;
  grads: Float32Array[];
}

function runMine(g: Graph, v: Variant): Result {
  return T.tidy(() => {
    const vals: T.Tensor[] = new Array(g.nodes.length);
    const order = v.order ?? [...g.nodes.keys()];
    for (const i of order) {
      const n = g.nodes[i];
      if (n.op === "leaf") vals[i] = T.tensor(n.value!, { shape: n.shape, requiresGrad: true });
      else
        vals[i] = OP.get(n.op)!.mine(
          n.p,
          n.inputs.map((j) => vals[j]),
          v.swapped.has(i),
        );
    }
    const outs = v.reverseLoss ? g.outputs.slice().reverse() : g.outputs;
    let loss: T.Tensor | null = null;
    for (const o of outs) {
      const term = vals[o.node].mul(T.tensor(o.w, { shape: g.nodes[o.node].shape })).sum();
      loss = loss === null ? term : loss.add(term);
    }
    loss!.backward();
    // Leaves in index order (the evaluation order may differ).
    const byIndex = g.nodes.flatMap((n, i) => (n.op === "leaf" ? [vals[i]] : []));
    return {
      loss: loss!.item(),
      grads: byIndex.map((x, k) => {
        assert.ok(x.grad !== null, `leaf ${k} got no gradient`);
        return x.grad.toArray() as Float32Array;
      }),
    };
  });
}

function runTf(g: Graph): Result {
  return tf.tidy(() => {
    const leafIdx = g.nodes.flatMap((n, i) => (n.op === "leaf" ? [i] : []));
    const xs = leafIdx.map((i) => tf.tensor(g.nodes[i].value!, g.nodes[i].shape));
    let scale = 0;
    const f = (...ls: TfT[]): TfT => {
      const vals: TfT[] = [];
      g.nodes.forEach((n, i) => {
        vals[i] =
          n.op === "leaf"
            ? ls[leafIdx.indexOf(i)]
            : OP.get(n.op)!.ref(
                n.p,
                n.inputs.map((j) => vals[j]),
              );
      });
      const terms = g.outputs.map((o) =>
        tf.mul(vals[o.node], tf.tensor(o.w, g.nodes[o.node].shape)),
      );
      scale = terms.reduce((a, t) => a + (tf.sum(tf.abs(t)).dataSync()[0] as number), 0);
      return tf.addN(terms.map((t) => tf.sum(t)));
    };
    const { value, grads } = tf.valueAndGrads(f)(xs);
    return {
      loss: value.dataSync()[0] as number,
      scale,
      grads: grads.map((t) => t.dataSync() as Float32Array),
    };
  });
}

/** Compares one run with the reference; returns a failure message or null. */
function check(g: Graph, v: Variant, ref: Result): string | null {
  let got: Result;
  try {
    got = runMine(g, v);
  } catch (e) {
    return `threw: ${(e as Error).message}`;
  }
  const problems: string[] = [];
  // The loss is a sum of signed terms: its error is relative to their magnitude.
  const lossErr =
    Math.abs(got.loss - ref.loss) / Math.max(Math.abs(ref.loss), ref.scale ?? 0, 1e-30);
  if (!(lossErr <= TOL))
    problems.push(`loss ${got.loss} vs ${ref.loss} (relative error ${lossErr.toExponential(2)})`);
  got.grads.forEach((gr, k) => {
    const want = ref.grads[k];
    let diff = 0;
    let norm = 0;
    for (let i = 0; i < want.length; i++) {
      diff += (gr[i] - want[i]) ** 2;
      norm += want[i] ** 2;
    }
    [diff, norm] = [Math.sqrt(diff), Math.sqrt(norm)];
    const e = diff / Math.max(norm, FLOOR * Math.sqrt(want.length));
    if (!(e <= TOL))
      problems.push(
        `grad of leaf #${k}: relative error ${e.toExponential(2)} (‖diff‖ ${diff.toExponential(2)}, ‖reference‖ ${norm.toExponential(2)})`,
      );
  });
  return problems.length === 0 ? null : problems.join("; ");
}

function report(g: Graph, v: Variant, msg: string): string {
  return (
    `graph seed ${g.seed} (${v.label}): ${msg}\n${describeGraph(g, v)}\n` +
    `  rerun: GRAPH_FUZZ_SEED=${g.seed} npx mocha dist/test/lib/tensor/graph.test.js`
  );
}

describe("autograd: random graphs against TensorFlow.js", () => {
  const seeds =
    ONLY !== null ? [ONLY] : Array.from({ length: COUNT }, (_x, i) => BASE_SEED + 7919 * i);
  let graphs: Graph[] = [];

  before(() => {
    graphs = seeds.map(makeGraph);
  });

  it("the generated graphs cover every op, reuse, residual chains and diamonds", function () {
    if (ONLY !== null)
      skipBecause(this, "GRAPH_FUZZ_SEED runs one seed; the coverage check needs them all");
    const uses = new Map<string, number>();
    let nodes = 0;
    let reused = 0;
    for (const g of graphs) {
      nodes += g.nodes.length;
      for (const n of g.nodes) uses.set(n.op, (uses.get(n.op) ?? 0) + 1);
      const consumers = new Array<number>(g.nodes.length).fill(0);
      for (const n of g.nodes) for (const j of n.inputs) consumers[j]++;
      if (consumers.some((c) => c >= 2)) reused++;
      assert.ok(g.nodes.length >= 5 && g.nodes.length <= 25, `seed ${g.seed}: node count`);
    }
    for (const o of OPS)
      assert.ok((uses.get(o.name) ?? 0) >= 10, `${o.name} used ${uses.get(o.name) ?? 0} times`);
    assert.ok(nodes >= graphs.length * 10, `only ${nodes} nodes`);
    assert.ok(reused >= graphs.length * 0.7, `only ${reused} graphs reuse a node`);
    assert.ok(graphs.reduce((a, g) => a + g.residuals, 0) >= graphs.length / 2, "residuals");
    assert.ok(graphs.reduce((a, g) => a + g.diamonds, 0) >= graphs.length / 4, "diamonds");
  });

  it("loss and every leaf's gradient match, as generated and with consumers swapped", () => {
    const failures: string[] = [];
    for (const g of graphs) {
      const ref = runTf(g);
      for (const v of [PLAIN, swappedVariant(g)]) {
        const msg = check(g, v, ref);
        if (msg !== null) failures.push(report(g, v, msg));
      }
    }
    assert.ok(
      failures.length === 0,
      `${failures.length} of ${graphs.length * 2} runs differ from TensorFlow.js:\n\n` +
        failures.slice(0, 3).join("\n\n"),
    );
  });
});
