/**
 * Elementwise ops with broadcasting: binary arithmetic and comparisons, unary math, casts, and
 * the in-place updates optimizers use. Small tensors run JS loops; large float32 ones the addon.
 */
import { Tensor } from "../tensor.js";
import { DType, TypedArray, decode, encode, isStorageOnly, promote } from "../dtype.js";
import {
  record,
  gradEnabled,
  hooks,
  Node,
  anomalyEnabled,
  checkForward,
  checkSaved,
} from "../autograd.js";
import { native, NATIVE_MIN } from "../native.js";
import {
  ND_COPY,
  broadcastShapes,
  broadcastStrides,
  collapse,
  forEachBlock,
  nativeNd,
  shapeStr,
} from "./iter.js";
import { sumTo } from "./reduce.js";
import { copyRaw } from "./shape.js";
import { scoped } from "../memory.js";

// Binary op codes (shared with native/src/ops_elementwise.cc).
export const ADD = 0,
  SUB = 1,
  MUL = 2,
  DIV = 3,
  POW = 4,
  MAX = 5,
  MIN = 6,
  EQ = 7,
  NE = 8,
  LT = 9,
  LE = 10,
  GT = 11,
  GE = 12;
const BIN_NAMES = [
  "add",
  "sub",
  "mul",
  "div",
  "pow",
  "maximum",
  "minimum",
  "eq",
  "ne",
  "lt",
  "le",
  "gt",
  "ge",
];

function binScalar(op: number, x: number, y: number): number {
  switch (op) {
    case ADD:
      return x + y;
    case SUB:
      return x - y;
    case MUL:
      return x * y;
    case DIV:
      return x / y;
    case POW:
      return Math.pow(x, y);
    case MAX:
      return x > y || Number.isNaN(x) ? x : y;
    case MIN:
      return x < y || Number.isNaN(x) ? x : y;
    case EQ:
      return x === y ? 1 : 0;
    case NE:
      return x !== y ? 1 : 0;
    case LT:
      return x < y ? 1 : 0;
    case LE:
      return x <= y ? 1 : 0;
    case GT:
      return x > y ? 1 : 0;
    default:
      return x >= y ? 1 : 0;
  }
}

/** out[o*inner+i] = a[ao + o*aso + i*asi] op b[...] over one 2-D block (JS). */
function bin2d(
  op: number,
  a: TypedArray,
  ao: number,
  aso: number,
  asi: number,
  b: TypedArray,
  bo: number,
  bso: number,
  bsi: number,
  out: TypedArray,
  oo: number,
  outer: number,
  inner: number,
): void {
  for (let o = 0; o < outer; o++) {
    let pa = ao + o * aso;
    let pb = bo + o * bso;
    let po = oo + o * inner;
    switch (op) {
      case ADD:
        for (let i = 0; i < inner; i++, pa += asi, pb += bsi) out[po++] = a[pa] + b[pb];
        break;
      case SUB:
        for (let i = 0; i < inner; i++, pa += asi, pb += bsi) out[po++] = a[pa] - b[pb];
        break;
      case MUL:
        for (let i = 0; i < inner; i++, pa += asi, pb += bsi) out[po++] = a[pa] * b[pb];
        break;
      case DIV:
        for (let i = 0; i < inner; i++, pa += asi, pb += bsi) out[po++] = a[pa] / b[pb];
        break;
      default:
        for (let i = 0; i < inner; i++, pa += asi, pb += bsi)
          out[po++] = binScalar(op, a[pa], b[pb]);
    }
  }
}

const SCALAR_BUF = new Float32Array(1);

function computeDType(op: number, a: DType, b: DType | "scalar-int" | "scalar-float"): DType {
  const bd: DType = b === "scalar-int" ? "int32" : b === "scalar-float" ? "float32" : b;
  if (op >= EQ) return "int32";
  if (op === DIV || op === POW)
    return a === "int32" && bd === "int32" && op === POW ? "int32" : "float32";
  return promote(a, bd);
}

function storageError(op: string, t: Tensor): never {
  throw new TypeError(`${op}: dtype ${t.dtype} is a storage type; convert with .float() first`);
}

function asNumberArray(t: Tensor, dtype: DType): Tensor {
  return t.dtype === dtype ? t : cast(t, dtype);
}

/** The raw binary op without autograd. */
export function binaryRaw(opName: string, op: number, a: Tensor, b: Tensor | number): Tensor {
  a._check(opName);
  if (isStorageOnly(a.dtype)) storageError(opName, a);
  if (typeof b === "number") {
    const dt = computeDType(op, a.dtype, Number.isInteger(b) ? "scalar-int" : "scalar-float");
    const inDt = op >= EQ ? promote(a.dtype, Number.isInteger(b) ? "int32" : "float32") : dt;
    const x = asNumberArray(a, inDt);
    const out = Tensor._emptyLike(dt, x);
    const od = out._storage.data;
    const xd = x._storage.data;
    if (x._isContiguous && x.size < NATIVE_MIN) {
      const xo = x.offset;
      const n = x.size;
      switch (op) {
        case ADD:
          for (let i = 0; i < n; i++) od[i] = xd[xo + i] + b;
          break;
        case MUL:
          for (let i = 0; i < n; i++) od[i] = xd[xo + i] * b;
          break;
        default:
          for (let i = 0; i < n; i++) od[i] = binScalar(op, xd[xo + i], b);
      }
    } else {
      SCALAR_BUF[0] = b;
      const sb = dt === "float32" ? SCALAR_BUF : Float32Array.of(b);
      run2d(op, x, sb, 0, [], [], out);
    }
    if (x !== a) x.dispose();
    return out;
  }
  if (!(b instanceof Tensor))
    throw new TypeError(`${opName}: expected a Tensor or a number, got ${typeof b}`);
  b._check(opName);
  if (isStorageOnly(b.dtype)) storageError(opName, b);
  if (a.device !== b.device) throw new Error(`${opName}: tensors on ${a.device} and ${b.device}`);
  const dt = computeDType(op, a.dtype, b.dtype);
  const inDt = op >= EQ ? promote(a.dtype, b.dtype) : dt;
  const x = asNumberArray(a, inDt);
  const y = asNumberArray(b, inDt);
  let out: Tensor;
  const as = a.shape;
  const bs = b.shape;
  let same = as.length === bs.length;
  for (let i = 0; same && i < as.length; i++) if (as[i] !== bs[i]) same = false;
  if (same && x._isContiguous && y._isContiguous && x.size < NATIVE_MIN) {
    out = Tensor._emptyLike(dt, x);
    const od = out._storage.data;
    const xd = x._storage.data;
    const yd = y._storage.data;
    const xo = x.offset;
    const yo = y.offset;
    const n = x.size;
    switch (op) {
      case ADD:
        for (let i = 0; i < n; i++) od[i] = xd[xo + i] + yd[yo + i];
        break;
      case SUB:
        for (let i = 0; i < n; i++) od[i] = xd[xo + i] - yd[yo + i];
        break;
      case MUL:
        for (let i = 0; i < n; i++) od[i] = xd[xo + i] * yd[yo + i];
        break;
      default:
        bin2d(op, xd, xo, 0, 1, yd, yo, 0, 1, od, 0, 1, n);
    }
  } else {
    const shape = same ? as : broadcastShapes(opName, as, bs);
    out = Tensor._empty(dt, shape);
    run2d(op, x, y._storage.data, y.offset, broadcastStrides(bs, y.strides, shape), shape, out);
  }
  if (x !== a) x.dispose();
  if (y !== b) y.dispose();
  return out;
}

/** Runs op over out's shape; b given as raw data + offset + strides broadcast to out.shape. */
function run2d(
  op: number,
  x: Tensor,
  bd: TypedArray,
  bo: number,
  bStrides: number[],
  _shape: readonly number[],
  out: Tensor,
): void {
  const shape = out.shape;
  const aStr = broadcastStrides(x.shape, x.strides, shape);
  const bStr =
    bStrides.length === shape.length ? bStrides : new Array<number>(shape.length).fill(0);
  const plan = collapse(shape, [out.strides, aStr, bStr]);
  const ad = x._storage.data;
  const od = out._storage.data;
  const useNative =
    native.opsBinary2d !== undefined &&
    op <= MIN &&
    od instanceof Float32Array &&
    ad instanceof Float32Array &&
    bd instanceof Float32Array &&
    out.size >= NATIVE_MIN;
  if (
    useNative &&
    plan.shape.length > 2 &&
    nativeNd(
      op,
      plan,
      [od as Float32Array, 0, plan.strides[0]],
      [ad as Float32Array, x.offset, plan.strides[1]],
      [bd as Float32Array, bo, plan.strides[2]],
    )
  )
    return;
  forEachBlock(plan, [0, x.offset, bo], (offs, outer, inner, so, si) => {
    if (useNative)
      native.opsBinary2d!(
        op,
        ad as Float32Array,
        offs[1],
        so[1],
        si[1],
        bd as Float32Array,
        offs[2],
        so[2],
        si[2],
        od as Float32Array,
        offs[0],
        outer,
        inner,
      );
    else bin2d(op, ad, offs[1], so[1], si[1], bd, offs[2], so[2], si[2], od, offs[0], outer, inner);
  });
}

// ---- differentiable binary ops ----

function bAdd(g: Tensor, n: Node): (Tensor | null)[] {
  return [g, n.inputs.length > 1 ? g : null];
}
function bSub(g: Tensor, n: Node): (Tensor | null)[] {
  return [g, n.inputs.length > 1 ? neg(g) : null];
}
function bMul(g: Tensor, n: Node): (Tensor | null)[] {
  const a = n.inputs[0];
  const b = n.saved as Tensor | number;
  if (typeof b === "number") return [binaryRaw("mul", MUL, g, b)];
  return [
    a.requiresGrad ? binaryRaw("mul", MUL, g, b) : null,
    b.requiresGrad ? binaryRaw("mul", MUL, g, a) : null,
  ];
}
function bDiv(g: Tensor, n: Node): (Tensor | null)[] {
  const a = n.inputs[0];
  const b = n.saved as Tensor | number;
  if (typeof b === "number") return [binaryRaw("div", MUL, g, 1 / b)];
  const ga = a.requiresGrad ? binaryRaw("div", DIV, g, b) : null;
  let gb: Tensor | null = null;
  if (b.requiresGrad) {
    const t1 = binaryRaw("div", MUL, g, a);
    const b2 = binaryRaw("div", MUL, b, b);
    const t2 = binaryRaw("div", DIV, t1, b2);
    gb = neg(t2);
    t1.dispose();
    b2.dispose();
    t2.dispose();
  }
  return [ga, gb];
}
function bPow(g: Tensor, n: Node): (Tensor | null)[] {
  const a = n.inputs[0];
  const [p, out] = n.saved as [Tensor | number, Tensor];
  checkSaved(n.op, out);
  if (typeof p === "number") return [unaryGradRaw(POWS, a, out, g, p, 0)];
  let ga: Tensor | null = null;
  let gb: Tensor | null = null;
  if (a.requiresGrad) {
    const pm1 = binaryRaw("pow", SUB, p, 1);
    const ap = binaryRaw("pow", POW, a, pm1);
    const t = binaryRaw("pow", MUL, ap, p);
    ga = binaryRaw("pow", MUL, g, t);
    pm1.dispose();
    ap.dispose();
    t.dispose();
  }
  if (p.requiresGrad) {
    const la = unaryRaw(LOG, a, 0, 0);
    const t = binaryRaw("pow", MUL, out, la);
    gb = binaryRaw("pow", MUL, g, t);
    la.dispose();
    t.dispose();
  }
  return [ga, gb];
}
function binary(
  opName: string,
  op: number,
  a: Tensor,
  b: Tensor | number,
  bwd: ((g: Tensor, n: Node) => (Tensor | null)[]) | null,
): Tensor {
  if (!(a instanceof Tensor))
    throw new TypeError(`${opName}: expected a Tensor as the first argument`);
  const out = binaryRaw(opName, op, a, b);
  if (bwd === null) {
    if (anomalyEnabled()) checkForward(opName, out, [a, b]);
    return out;
  }
  if (typeof b === "number") {
    if (!a.requiresGrad || !gradEnabled()) {
      if (anomalyEnabled()) checkForward(opName, out, [a]);
      return out;
    }
    return record(
      opName,
      out,
      [a],
      bwd,
      op === POW ? [b, out] : op === MAX || op === MIN ? [op === MAX, b] : b,
    );
  }
  if (!(a.requiresGrad || b.requiresGrad) || !gradEnabled()) {
    if (anomalyEnabled()) checkForward(opName, out, [a, b]);
    return out;
  }
  return record(
    opName,
    out,
    [a, b],
    bwd,
    op === POW ? [b, out] : op === MAX || op === MIN ? [op === MAX, b] : b,
  );
}

function scaled(b: Tensor | number, alpha: number | undefined): Tensor | number {
  if (alpha === undefined || alpha === 1) return b;
  return typeof b === "number" ? b * alpha : mul(b, alpha);
}

/** a + alpha * b (broadcasting). */
export function add(a: Tensor, b: Tensor | number, alpha?: number): Tensor {
  return binary("add", ADD, a, scaled(b, alpha), bAdd);
}
/** a - alpha * b (broadcasting). */
export function sub(a: Tensor, b: Tensor | number, alpha?: number): Tensor {
  return binary("sub", SUB, a, scaled(b, alpha), bSub);
}
export function mul(a: Tensor, b: Tensor | number): Tensor {
  return binary("mul", MUL, a, b, bMul);
}
/** True division (int32 / int32 gives float32). */
export function div(a: Tensor, b: Tensor | number): Tensor {
  return binary("div", DIV, a, b, bDiv);
}
export function pow(a: Tensor, b: Tensor | number): Tensor {
  return binary("pow", POW, a, b, bPow);
}
/** Elementwise maximum (gradient goes to a where a >= b). */
export function maximum(a: Tensor, b: Tensor | number): Tensor {
  return binary("maximum", MAX, a, b, bMaxMinFixed);
}
export function minimum(a: Tensor, b: Tensor | number): Tensor {
  return binary("minimum", MIN, a, b, bMaxMinFixed);
}
function bMaxMinFixed(g: Tensor, n: Node): (Tensor | null)[] {
  const a = n.inputs[0];
  const [isMax, bb] = n.saved as [boolean, Tensor | number];
  const maskA = binaryRaw("maximum", isMax ? GE : LE, a, bb);
  const ga = binaryRaw("maximum", MUL, g, maskA);
  let gb: Tensor | null = null;
  if (typeof bb !== "number" && bb.requiresGrad) {
    const gaSum = ga;
    gb = binaryRaw("maximum", SUB, g, gaSum);
  }
  maskA.dispose();
  return [ga, gb];
}
/** Comparisons give int32 0/1 tensors (used as masks). */
export function eq(a: Tensor, b: Tensor | number): Tensor {
  return binary("eq", EQ, a, b, null);
}
export function ne(a: Tensor, b: Tensor | number): Tensor {
  return binary("ne", NE, a, b, null);
}
export function lt(a: Tensor, b: Tensor | number): Tensor {
  return binary("lt", LT, a, b, null);
}
export function le(a: Tensor, b: Tensor | number): Tensor {
  return binary("le", LE, a, b, null);
}
export function gt(a: Tensor, b: Tensor | number): Tensor {
  return binary("gt", GT, a, b, null);
}
export function ge(a: Tensor, b: Tensor | number): Tensor {
  return binary("ge", GE, a, b, null);
}

// ---- unary ----

// Unary op codes (shared with native/src/ops_elementwise.cc).
export const NEG = 0,
  EXP = 1,
  LOG = 2,
  SQRT = 3,
  RSQRT = 4,
  ABS = 5,
  SIGMOID = 6,
  SILU = 7,
  TANH = 8,
  RELU = 9,
  CLAMP = 10,
  POWS = 11;
const UN_NAMES = [
  "neg",
  "exp",
  "log",
  "sqrt",
  "rsqrt",
  "abs",
  "sigmoid",
  "silu",
  "tanh",
  "relu",
  "clamp",
  "pow",
];

function un(op: number, x: number, p0: number, p1: number): number {
  switch (op) {
    case NEG:
      return -x;
    case EXP:
      return Math.exp(x);
    case LOG:
      return Math.log(x);
    case SQRT:
      return Math.sqrt(x);
    case RSQRT:
      return 1 / Math.sqrt(x);
    case ABS:
      return Math.abs(x);
    case SIGMOID:
      return 1 / (1 + Math.exp(-x));
    case SILU:
      return x / (1 + Math.exp(-x));
    case TANH:
      return Math.tanh(x);
    case RELU:
      return x > 0 ? x : 0;
    case CLAMP:
      return x < p0 ? p0 : x > p1 ? p1 : x;
    default:
      return Math.pow(x, p0);
  }
}

function unGrad(op: number, x: number, y: number, g: number, p0: number, p1: number): number {
  switch (op) {
    case NEG:
      return -g;
    case EXP:
      return g * y;
    case LOG:
      return g / x;
    case SQRT:
      return (0.5 * g) / y;
    case RSQRT:
      return -0.5 * g * y * y * y;
    case ABS:
      return x > 0 ? g : x < 0 ? -g : 0;
    case SIGMOID:
      return g * y * (1 - y);
    case SILU: {
      const s = 1 / (1 + Math.exp(-x));
      return g * s * (1 + x * (1 - s));
    }
    case TANH:
      return g * (1 - y * y);
    case RELU:
      return x > 0 ? g : 0;
    case CLAMP:
      return x >= p0 && x <= p1 ? g : 0;
    default:
      return p0 === 0 ? 0 : g * p0 * Math.pow(x, p0 - 1);
  }
}

function floatInput(op: string, t: Tensor): Tensor {
  t._check(op);
  if (t.dtype === "float32") return t._isContiguous ? t : copyRaw(t);
  if (t.dtype === "int32" || isStorageOnly(t.dtype)) return cast(t, "float32");
  return t;
}

/** y = f(x) on a float32 copy-free contiguous input (no autograd). */
export function unaryRaw(op: number, t: Tensor, p0: number, p1: number): Tensor {
  const name = UN_NAMES[op];
  if (t.dtype === "int32" && (op === NEG || op === ABS || op === RELU || op === CLAMP)) {
    const x = t._isContiguous ? t : copyRaw(t);
    const out = Tensor._empty("int32", t.shape);
    const xd = x._storage.data;
    const od = out._storage.data;
    for (let i = 0, o = x.offset; i < x.size; i++, o++) od[i] = un(op, xd[o], p0, p1);
    if (x !== t) x.dispose();
    return out;
  }
  const x = floatInput(name, t);
  const out = Tensor._empty("float32", t.shape);
  const xd = x._storage.data as Float32Array;
  const od = out._storage.data as Float32Array;
  const n = x.size;
  if (n >= NATIVE_MIN && native.opsUnary !== undefined)
    native.opsUnary(op, x.offset === 0 ? xd : xd.subarray(x.offset, x.offset + n), od, n, p0, p1);
  else if (op === NEG) for (let i = 0, o = x.offset; i < n; i++, o++) od[i] = -xd[o];
  else if (op === EXP) for (let i = 0, o = x.offset; i < n; i++, o++) od[i] = Math.exp(xd[o]);
  else for (let i = 0, o = x.offset; i < n; i++, o++) od[i] = un(op, xd[o], p0, p1);
  if (x !== t) x.dispose();
  return out;
}

/** dx from x, y = f(x), and dy. */
export function unaryGradRaw(
  op: number,
  x: Tensor,
  y: Tensor,
  g: Tensor,
  p0: number,
  p1: number,
): Tensor {
  const xc = floatInput("backward", x);
  const yc = floatInput("backward", y);
  const gc = floatInput("backward", g);
  const out = Tensor._empty("float32", x.shape);
  const n = x.size;
  const xd = xc._storage.data as Float32Array;
  const yd = yc._storage.data as Float32Array;
  const gd = gc._storage.data as Float32Array;
  const od = out._storage.data as Float32Array;
  if (n >= NATIVE_MIN && native.opsUnaryGrad !== undefined)
    native.opsUnaryGrad(
      op,
      xd.subarray(xc.offset, xc.offset + n),
      yd.subarray(yc.offset, yc.offset + n),
      gd.subarray(gc.offset, gc.offset + n),
      od,
      n,
      p0,
      p1,
    );
  else
    for (let i = 0; i < n; i++)
      od[i] = unGrad(op, xd[xc.offset + i], yd[yc.offset + i], gd[gc.offset + i], p0, p1);
  if (xc !== x) xc.dispose();
  if (yc !== y) yc.dispose();
  if (gc !== g) gc.dispose();
  return out;
}

function bUnary(g: Tensor, n: Node): (Tensor | null)[] {
  const s = n.saved as [number, Tensor, number, number];
  checkSaved(n.op, s[1]);
  return [unaryGradRaw(s[0], n.inputs[0], s[1], g, s[2], s[3])];
}

function unary(op: number, t: Tensor, p0 = 0, p1 = 0): Tensor {
  if (!(t instanceof Tensor)) throw new TypeError(`${UN_NAMES[op]}: expected a Tensor`);
  const out = unaryRaw(op, t, p0, p1);
  if (!t.requiresGrad || !gradEnabled()) {
    if (anomalyEnabled()) checkForward(UN_NAMES[op], out, [t]);
    return out;
  }
  return record(UN_NAMES[op], out, [t], bUnary, [op, out, p0, p1]);
}

export const neg = (t: Tensor): Tensor => unary(NEG, t);
export const exp = (t: Tensor): Tensor => unary(EXP, t);
export const log = (t: Tensor): Tensor => unary(LOG, t);
export const sqrt = (t: Tensor): Tensor => unary(SQRT, t);
export const rsqrt = (t: Tensor): Tensor => unary(RSQRT, t);
export const abs = (t: Tensor): Tensor => unary(ABS, t);
export const sigmoid = (t: Tensor): Tensor => unary(SIGMOID, t);
export const silu = (t: Tensor): Tensor => unary(SILU, t);
export const tanh = (t: Tensor): Tensor => unary(TANH, t);
export const relu = (t: Tensor): Tensor => unary(RELU, t);
/** Clamps to [min, max]; either bound may be null/undefined. */
export function clamp(t: Tensor, min?: number | null, max?: number | null): Tensor {
  const lo = min === null || min === undefined ? -Infinity : min;
  const hi = max === null || max === undefined ? Infinity : max;
  if (lo > hi) throw new RangeError(`clamp: min ${lo} is greater than max ${hi}`);
  return unary(CLAMP, t, lo, hi);
}
void BIN_NAMES;

// ---- casts ----

/** Converts to dtype (float32<->int32 truncates toward zero; storage types round to nearest even). */
export function cast(t: Tensor, dtype: DType): Tensor {
  t._check("to");
  if (t.dtype === dtype) return t;
  const src = t._isContiguous ? t : copyRaw(t);
  const out = Tensor._empty(dtype, t.shape);
  const sd = src._storage.data.subarray(src.offset, src.offset + src.size);
  if (isStorageOnly(t.dtype)) {
    const f = decode(
      sd,
      t.dtype,
      dtype === "float32" ? (out._storage.data as Float32Array) : new Float32Array(t.size),
    );
    if (dtype !== "float32") encode(f, dtype, out._storage.data);
  } else encode(sd as Float32Array | Int32Array, dtype, out._storage.data);
  if (src !== t) src.dispose();
  if (t.requiresGrad && gradEnabled() && dtype === "float32")
    return record("to", out, [t], bCast, null);
  return out;
}
function bCast(g: Tensor): (Tensor | null)[] {
  return [g];
}

// ---- in place ----

function checkInPlace(t: Tensor, op: string): void {
  t._check(op);
  if (t.requiresGrad && gradEnabled())
    throw new Error(
      `${op}: in-place update of a tensor that requires grad; run it inside noGrad() (as optimizers do)`,
    );
  if (isStorageOnly(t.dtype)) storageError(op, t);
}

/** t = t op other, other broadcast to t.shape. Not recorded by autograd. */
export function inplace(
  t: Tensor,
  kind: "add_" | "mul_" | "div_" | "copy_",
  other: Tensor | number,
  alpha: number,
): void {
  checkInPlace(t, kind);
  if (other instanceof Tensor) {
    other._check(kind);
    const bs = broadcastShapes(kind, t.shape, other.shape);
    if (bs.length !== t.shape.length || bs.some((d, i) => d !== t.shape[i]))
      throw new Error(
        `${kind}: shape ${shapeStr(other.shape)} cannot be broadcast to ${shapeStr(t.shape)}`,
      );
  } else if (typeof other !== "number")
    throw new TypeError(`${kind}: expected a Tensor or a number`);
  let src: Tensor | number = other;
  let tmpSrc: Tensor | null = null;
  if (other instanceof Tensor && other.dtype !== t.dtype) src = tmpSrc = cast(other, t.dtype);
  if (kind === "add_" && alpha !== 1) {
    const s = typeof src === "number" ? src * alpha : binaryRaw(kind, MUL, src, alpha);
    if (tmpSrc !== null) tmpSrc.dispose();
    src = s;
    tmpSrc = typeof s === "number" ? null : s;
  }
  const op = kind === "add_" ? ADD : kind === "mul_" ? MUL : kind === "div_" ? DIV : -1;
  const td = t._storage.data;
  if (typeof src === "number") {
    const v = src;
    if (t._isContiguous) {
      const e = t.offset + t.size;
      if (op === -1) td.fill(v, t.offset, e);
      else if (op === ADD) for (let i = t.offset; i < e; i++) td[i] += v;
      else if (op === MUL) for (let i = t.offset; i < e; i++) td[i] *= v;
      else for (let i = t.offset; i < e; i++) td[i] /= v;
      return;
    }
    src = Tensor._empty(t.dtype, [], false);
    src._storage.data[0] = v;
    tmpSrc = src;
  }
  const s = src as Tensor;
  const sd = s._storage.data;
  if (t._isContiguous && s._isContiguous && s.size === t.size) {
    const to = t.offset;
    const so = s.offset;
    const n = t.size;
    // Gradient accumulation and optimizer updates are large: one vectorised native pass.
    if (
      op !== -1 &&
      native.opsBinary2d !== undefined &&
      n >= NATIVE_MIN &&
      td instanceof Float32Array &&
      sd instanceof Float32Array
    ) {
      native.opsBinary2d(op, td, to, 0, 1, sd, so, 0, 1, td, to, 1, n);
      if (tmpSrc !== null) tmpSrc.dispose();
      return;
    }
    if (op === -1 && td instanceof Float32Array && sd instanceof Float32Array) {
      td.set(sd.subarray(so, so + n), to);
      if (tmpSrc !== null) tmpSrc.dispose();
      return;
    }
    if (op === -1) for (let i = 0; i < n; i++) td[to + i] = sd[so + i];
    else if (op === ADD) for (let i = 0; i < n; i++) td[to + i] += sd[so + i];
    else if (op === MUL) for (let i = 0; i < n; i++) td[to + i] *= sd[so + i];
    else for (let i = 0; i < n; i++) td[to + i] /= sd[so + i];
    if (tmpSrc !== null) tmpSrc.dispose();
    return;
  }
  const plan = collapse(t.shape, [t.strides, broadcastStrides(s.shape, s.strides, t.shape)]);
  // A strided or broadcast source, or a strided target (gradient accumulation into a slice, of
  // a transposed or expanded gradient): one native N-D call, reading the target in place.
  const nativeBlocks =
    native.opsBinary2d !== undefined &&
    t.size >= NATIVE_MIN &&
    td instanceof Float32Array &&
    sd instanceof Float32Array;
  if (
    nativeBlocks &&
    (op === -1
      ? nativeNd(
          ND_COPY,
          plan,
          [td as Float32Array, t.offset, plan.strides[0]],
          [sd as Float32Array, s.offset, plan.strides[1]],
          null,
        )
      : nativeNd(
          op,
          plan,
          [td as Float32Array, t.offset, plan.strides[0]],
          [td as Float32Array, t.offset, plan.strides[0]],
          [sd as Float32Array, s.offset, plan.strides[1]],
        ))
  ) {
    if (tmpSrc !== null) tmpSrc.dispose();
    return;
  }
  forEachBlock(plan, [t.offset, s.offset], (offs, outer, inner, so, si) => {
    for (let o = 0; o < outer; o++) {
      let pt = offs[0] + o * so[0];
      let ps = offs[1] + o * so[1];
      if (op === -1) for (let i = 0; i < inner; i++, pt += si[0], ps += si[1]) td[pt] = sd[ps];
      else if (op === ADD)
        for (let i = 0; i < inner; i++, pt += si[0], ps += si[1]) td[pt] += sd[ps];
      else if (op === MUL)
        for (let i = 0; i < inner; i++, pt += si[0], ps += si[1]) td[pt] *= sd[ps];
      else for (let i = 0; i < inner; i++, pt += si[0], ps += si[1]) td[pt] /= sd[ps];
    }
  });
  if (tmpSrc !== null) tmpSrc.dispose();
}

/** t += value * a * b (or a / b). */
export function addcmulInPlace(
  t: Tensor,
  a: Tensor,
  b: Tensor,
  value: number,
  divide: boolean,
): void {
  const name = divide ? "addcdiv_" : "addcmul_";
  checkInPlace(t, name);
  const ab = binaryRaw(name, divide ? DIV : MUL, a, b);
  inplace(t, "add_", ab, value);
  ab.dispose();
}

export function clampInPlace(t: Tensor, min?: number | null, max?: number | null): void {
  checkInPlace(t, "clamp_");
  const c = clamp(t, min, max);
  inplace(t, "copy_", c, 1);
  c.dispose();
}

/** Registers the helpers the autograd engine needs. */
hooks.add = (a, b) => binaryRaw("add", ADD, a, b);
hooks.addInPlace = (a, b) => {
  inplace(a, "add_", b, 1);
  return a;
};
hooks.sumTo = (g, shape) => sumTo(g, shape);
hooks.clone = (t) => copyRaw(t);
hooks.scoped = (fn) => scoped(fn);
hooks.onesLike = (t) => {
  const o = Tensor._empty("float32", t.shape);
  o._storage.data.fill(1);
  return o;
};
