/**
 * Fused neural-network kernels, each one autograd node with its own backward: softmax,
 * logSoftmax, crossEntropy, rmsNorm, rope, swiglu (attention: ./attention.ts).
 */
import { Tensor } from "../tensor.js";
import { record, Node, gradEnabled, checkSaved } from "../autograd.js";
import { native, NATIVE_MIN } from "../native.js";
import { normDim, shapeStr } from "./iter.js";
import { copyRaw, transpose } from "./shape.js";

export function checkF(t: unknown, op: string, what = "input"): Tensor {
  if (!(t instanceof Tensor)) throw new TypeError(`${op}: expected a Tensor as ${what}`);
  t._check(op);
  if (t.dtype !== "float32")
    throw new TypeError(`${op}: ${what} must be float32, got ${t.dtype} (use .float())`);
  return t;
}

export function contig(t: Tensor): Tensor {
  return t._isContiguous ? t : copyRaw(t);
}

export function f32(t: Tensor): Float32Array {
  const d = t._storage.data as Float32Array;
  return t.offset === 0 && d.length === t.size ? d : d.subarray(t.offset, t.offset + t.size);
}

// ---- softmax / logSoftmax over the last dim of a contiguous [rows, cols] ----

export function softmaxRows(
  x: Float32Array,
  out: Float32Array,
  rows: number,
  cols: number,
  log: boolean,
): void {
  if (rows * cols >= NATIVE_MIN && native.opsSoftmax !== undefined) {
    native.opsSoftmax(x, out, rows, cols, log);
    return;
  }
  for (let r = 0; r < rows; r++) {
    const b = r * cols;
    let m = -Infinity;
    for (let j = 0; j < cols; j++) if (x[b + j] > m) m = x[b + j];
    let s = 0;
    for (let j = 0; j < cols; j++) s += Math.exp(x[b + j] - m);
    if (log) {
      const l = m + Math.log(s);
      for (let j = 0; j < cols; j++) out[b + j] = x[b + j] - l;
    } else {
      const inv = 1 / s;
      for (let j = 0; j < cols; j++) out[b + j] = Math.exp(x[b + j] - m) * inv;
    }
  }
}

export function softmaxGradRows(
  y: Float32Array,
  g: Float32Array,
  out: Float32Array,
  rows: number,
  cols: number,
  log: boolean,
): void {
  if (rows * cols >= NATIVE_MIN && native.opsSoftmaxGrad !== undefined) {
    native.opsSoftmaxGrad(y, g, out, rows, cols, log);
    return;
  }
  for (let r = 0; r < rows; r++) {
    const b = r * cols;
    let s = 0;
    if (log) {
      for (let j = 0; j < cols; j++) s += g[b + j];
      for (let j = 0; j < cols; j++) out[b + j] = g[b + j] - Math.exp(y[b + j]) * s;
    } else {
      for (let j = 0; j < cols; j++) s += g[b + j] * y[b + j];
      for (let j = 0; j < cols; j++) out[b + j] = y[b + j] * (g[b + j] - s);
    }
  }
}

function bSoftmax(g: Tensor, n: Node): (Tensor | null)[] {
  const [y, d, log] = n.saved as [Tensor, number, boolean];
  checkSaved(n.op, y);
  const last = y.ndim - 1;
  const gm = d === last ? g : transpose(g, d, last);
  const gc = contig(gm);
  const yc = d === last ? y : copyRaw(transpose(y, d, last));
  const cols = y.shape[d];
  const out = Tensor._empty("float32", gc.shape);
  softmaxGradRows(
    f32(yc),
    f32(gc),
    out._storage.data as Float32Array,
    cols === 0 ? 0 : y.size / cols,
    cols,
    log,
  );
  if (gc !== gm) gc.dispose();
  if (gm !== g) gm.dispose();
  if (yc !== y) yc.dispose();
  if (d === last) return [out];
  const back = transpose(out, d, last);
  out.dispose();
  return [back];
}

function softmaxImpl(x: Tensor, dim: number, log: boolean): Tensor {
  const op = log ? "logSoftmax" : "softmax";
  checkF(x, op);
  if (x.ndim === 0) throw new Error(`${op}: expected at least 1 dim`);
  const d = normDim(dim, x.ndim, op);
  const last = x.ndim - 1;
  const moved = d === last ? x : transpose(x, d, last);
  const xc = contig(moved);
  const cols = x.shape[d];
  const yl = Tensor._empty("float32", xc.shape);
  softmaxRows(f32(xc), yl._storage.data as Float32Array, cols === 0 ? 0 : x.size / cols, cols, log);
  if (xc !== moved) xc.dispose();
  if (moved !== x) moved.dispose();
  let y = yl;
  if (d !== last) {
    y = transpose(yl, d, last);
    yl.dispose();
  }
  if (!x.requiresGrad || !gradEnabled()) return y;
  // Save a contiguous copy in the dim-last layout so backward needs no transposes of y.
  return record(op, y, [x], bSoftmax, [y, d, log]);
}

/** Softmax along dim (default last). */
export function softmax(x: Tensor, dim = -1): Tensor {
  return softmaxImpl(x, dim, false);
}
/** log(softmax(x)) along dim, computed stably. */
export function logSoftmax(x: Tensor, dim = -1): Tensor {
  return softmaxImpl(x, dim, true);
}

// ---- cross-entropy ----

export interface CrossEntropyOptions {
  /** Targets equal to this contribute nothing (default -100, like PyTorch). */
  ignoreIndex?: number;
  /** "mean" over non-ignored targets (default), "sum", or "none" (per-target losses). */
  reduction?: "mean" | "sum" | "none";
}

function bCrossEntropy(g: Tensor, n: Node): (Tensor | null)[] {
  const [lc, tc, lse, rows, cols, ignore, reduction, count] = n.saved as [
    Tensor,
    Tensor,
    Float32Array,
    number,
    number,
    number,
    string,
    number,
  ];
  checkSaved(n.op, lc, tc);
  const scale = new Float32Array(rows);
  const gd = contig(g);
  const gv = f32(gd);
  if (reduction === "none") for (let r = 0; r < rows; r++) scale[r] = gv[r];
  else scale.fill(reduction === "mean" ? (count > 0 ? gv[0] / count : 0) : gv[0]);
  if (gd !== g) gd.dispose();
  const out = Tensor._empty("float32", n.inputs[0].shape);
  const od = out._storage.data as Float32Array;
  const x = f32(lc);
  const t = tc._storage.data as Int32Array;
  const to = tc.offset;
  if (rows * cols >= NATIVE_MIN && native.opsCrossEntropyGrad !== undefined)
    native.opsCrossEntropyGrad(x, t.subarray(to, to + rows), lse, scale, od, rows, cols, ignore);
  else
    for (let r = 0; r < rows; r++) {
      const b = r * cols;
      const tgt = t[to + r];
      if (tgt === ignore) {
        for (let j = 0; j < cols; j++) od[b + j] = 0;
        continue;
      }
      const s = scale[r];
      const l = lse[r];
      for (let j = 0; j < cols; j++) od[b + j] = Math.exp(x[b + j] - l) * s;
      od[b + tgt] -= s;
    }
  return [out];
}

/**
 * Cross-entropy of logits [..., C] against int32 class targets [...] (fused log-softmax + NLL).
 * Returns a scalar ("mean"/"sum") or per-target losses ("none").
 */
export function crossEntropy(
  logits: Tensor,
  targets: Tensor,
  opts: CrossEntropyOptions = {},
): Tensor {
  checkF(logits, "crossEntropy", "logits");
  if (!(targets instanceof Tensor))
    throw new TypeError("crossEntropy: targets must be an int32 Tensor");
  targets._check("crossEntropy");
  if (targets.dtype !== "int32")
    throw new TypeError(`crossEntropy: targets must be int32 class indices, got ${targets.dtype}`);
  const ignore = opts.ignoreIndex ?? -100;
  const reduction = opts.reduction ?? "mean";
  if (!["mean", "sum", "none"].includes(reduction))
    throw new Error(`crossEntropy: unknown reduction '${reduction}'`);
  if (
    logits.ndim < 1 ||
    targets.ndim !== logits.ndim - 1 ||
    targets.shape.some((s, i) => s !== logits.shape[i])
  )
    throw new Error(
      `crossEntropy: logits ${shapeStr(logits.shape)} need targets of shape ${shapeStr(logits.shape.slice(0, -1))}, got ${shapeStr(targets.shape)}`,
    );
  const cols = logits.shape[logits.ndim - 1];
  const rows = targets.size;
  const lc = contig(logits);
  const tc = contig(targets);
  const x = f32(lc);
  const t = tc._storage.data as Int32Array;
  const to = tc.offset;
  let count = 0;
  for (let r = 0; r < rows; r++) {
    const v = t[to + r];
    if (v === ignore) continue;
    if (v < 0 || v >= cols)
      throw new RangeError(
        `crossEntropy: target ${v} at position ${r} is out of range for ${cols} classes (ignoreIndex is ${ignore})`,
      );
    count++;
  }
  const losses = new Float32Array(rows);
  const lse = new Float32Array(rows);
  if (rows * cols >= NATIVE_MIN && native.opsCrossEntropy !== undefined)
    native.opsCrossEntropy(x, t.subarray(to, to + rows), losses, lse, rows, cols, ignore);
  else
    for (let r = 0; r < rows; r++) {
      const b = r * cols;
      let m = -Infinity;
      for (let j = 0; j < cols; j++) if (x[b + j] > m) m = x[b + j];
      let s = 0;
      for (let j = 0; j < cols; j++) s += Math.exp(x[b + j] - m);
      const l = m + Math.log(s);
      lse[r] = l;
      const tgt = t[to + r];
      losses[r] = tgt === ignore ? 0 : l - x[b + tgt];
    }
  let out: Tensor;
  if (reduction === "none") {
    out = Tensor._empty("float32", targets.shape);
    (out._storage.data as Float32Array).set(losses);
  } else {
    let s = 0;
    for (let r = 0; r < rows; r++) s += losses[r];
    out = Tensor._empty("float32", []);
    out._storage.data[0] = reduction === "mean" ? (count > 0 ? s / count : NaN) : s;
  }
  if (!logits.requiresGrad || !gradEnabled()) {
    if (lc !== logits) lc.dispose();
    if (tc !== targets) tc.dispose();
    return out;
  }
  const saved = [lc, tc, lse, rows, cols, ignore, reduction, count];
  // Own only the copies: targets is not an input, so it must never be freed here.
  return record("crossEntropy", out, [logits], bCrossEntropy, saved, [
    lc,
    tc !== targets ? tc : null,
  ]);
}

// ---- RMSNorm ----

function bRmsNorm(g: Tensor, n: Node): (Tensor | null)[] {
  const [xc, wc, rstd, rows, cols] = n.saved as [
    Tensor,
    Tensor | null,
    Float32Array,
    number,
    number,
  ];
  const gc = contig(g);
  const dx = Tensor._empty("float32", n.inputs[0].shape);
  const dw = wc !== null ? Tensor._empty("float32", [cols], true) : null;
  const x = f32(xc);
  const gv = f32(gc);
  const dxd = dx._storage.data as Float32Array;
  const dwd = dw !== null ? (dw._storage.data as Float32Array) : null;
  const w = wc !== null ? f32(wc) : null;
  if (
    rows * cols >= NATIVE_MIN &&
    native.opsRmsNormGrad !== undefined &&
    w !== null &&
    dwd !== null
  )
    native.opsRmsNormGrad(x, w, rstd, gv, dxd, dwd, rows, cols);
  else
    for (let r = 0; r < rows; r++) {
      const b = r * cols;
      const rs = rstd[r];
      let dot = 0;
      for (let j = 0; j < cols; j++) {
        const xh = x[b + j] * rs;
        const gh = gv[b + j] * (w !== null ? w[j] : 1);
        dot += gh * xh;
        if (dwd !== null) dwd[j] += gv[b + j] * xh;
      }
      dot /= cols;
      for (let j = 0; j < cols; j++) {
        const gh = gv[b + j] * (w !== null ? w[j] : 1);
        dxd[b + j] = rs * (gh - x[b + j] * rs * dot);
      }
    }
  if (gc !== g) gc.dispose();
  return n.inputs.length > 1 ? [dx, dw] : [dx];
}

/** x * rsqrt(mean(x², last dim) + eps) * weight; x [..., D], weight [D] or null. */
export function rmsNorm(x: Tensor, weight: Tensor | null, eps = 1e-6): Tensor {
  checkF(x, "rmsNorm");
  if (x.ndim === 0) throw new Error("rmsNorm: expected at least 1 dim");
  const cols = x.shape[x.ndim - 1];
  if (weight !== null) {
    checkF(weight, "rmsNorm", "weight");
    if (weight.ndim !== 1 || weight.shape[0] !== cols)
      throw new Error(
        `rmsNorm: weight shape ${shapeStr(weight.shape)} does not match the last dim of ${shapeStr(x.shape)}`,
      );
  }
  const rows = cols === 0 ? 0 : x.size / cols;
  const xc = contig(x);
  const wc = weight !== null ? contig(weight) : null;
  const out = Tensor._empty("float32", x.shape);
  const rstd = new Float32Array(rows);
  const xd = f32(xc);
  const od = out._storage.data as Float32Array;
  const w = wc !== null ? f32(wc) : null;
  if (rows * cols >= NATIVE_MIN && native.opsRmsNorm !== undefined && w !== null)
    native.opsRmsNorm(xd, w, od, rstd, rows, cols, eps);
  else
    for (let r = 0; r < rows; r++) {
      const b = r * cols;
      let ss = 0;
      for (let j = 0; j < cols; j++) ss += xd[b + j] * xd[b + j];
      const rs = 1 / Math.sqrt(ss / cols + eps);
      rstd[r] = rs;
      for (let j = 0; j < cols; j++) od[b + j] = xd[b + j] * rs * (w !== null ? w[j] : 1);
    }
  const ins = weight !== null ? [x, weight] : [x];
  if (!gradEnabled() || !ins.some((t) => t.requiresGrad)) {
    if (xc !== x) xc.dispose();
    if (wc !== null && wc !== weight) wc.dispose();
    return out;
  }
  return record("rmsNorm", out, ins, bRmsNorm, [xc, wc, rstd, rows, cols], [xc, wc]);
}

// ---- rotary embedding (adjacent pairs) ----

function ropeRaw(x: Tensor, cos: Float32Array, sin: Float32Array, inverse: boolean): Tensor {
  const xc = contig(x);
  const T = x.ndim === 2 ? x.shape[0] : x.shape[1];
  const D = x.shape[x.ndim - 1];
  const outer = x.ndim === 2 ? 1 : x.shape[0];
  const H = x.size / (outer * T * D) || 0;
  const out = Tensor._empty("float32", x.shape);
  const xd = f32(xc);
  const od = out._storage.data as Float32Array;
  if (x.size >= NATIVE_MIN && native.opsRope !== undefined)
    native.opsRope(xd, cos, sin, od, outer, T, H, D, inverse);
  else {
    const half = D >> 1;
    const sg = inverse ? -1 : 1;
    for (let o = 0; o < outer; o++)
      for (let t = 0; t < T; t++)
        for (let h = 0; h < H; h++) {
          const b = ((o * T + t) * H + h) * D;
          for (let i = 0; i < half; i++) {
            const c = cos[t * half + i];
            const s = sg * sin[t * half + i];
            const x0 = xd[b + 2 * i];
            const x1 = xd[b + 2 * i + 1];
            od[b + 2 * i] = x0 * c - x1 * s;
            od[b + 2 * i + 1] = x0 * s + x1 * c;
          }
        }
  }
  if (xc !== x) xc.dispose();
  return out;
}

function bRope(g: Tensor, n: Node): (Tensor | null)[] {
  const [c, s] = n.saved as [Float32Array, Float32Array];
  return [ropeRaw(g, c, s, true)];
}

/**
 * Rotary embedding on adjacent pairs (x[2i], x[2i+1]), as DeepSeek-V3's apply_rotary_emb.
 * x: [B, T, H, D], [B, T, D] or [T, D]; cos, sin: [T, D/2] (not differentiated).
 */
export function rope(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  checkF(x, "rope");
  checkF(cos, "rope", "cos");
  checkF(sin, "rope", "sin");
  if (x.ndim < 2)
    throw new Error(`rope: x must be [B, T, H, D], [B, T, D] or [T, D], got ${shapeStr(x.shape)}`);
  const T = x.ndim === 2 ? x.shape[0] : x.shape[1];
  const D = x.shape[x.ndim - 1];
  if (D % 2 !== 0) throw new Error(`rope: the last dim must be even, got ${D}`);
  for (const [nm, t] of [
    ["cos", cos],
    ["sin", sin],
  ] as const)
    if (t.ndim !== 2 || t.shape[0] !== T || t.shape[1] !== D / 2)
      throw new Error(
        `rope: ${nm} must be [T, D/2] = [${T}, ${D / 2}] for x ${shapeStr(x.shape)}, got ${shapeStr(t.shape)}`,
      );
  const cc = contig(cos);
  const sc = contig(sin);
  const c = f32(cc).slice();
  const s = f32(sc).slice();
  if (cc !== cos) cc.dispose();
  if (sc !== sin) sc.dispose();
  const out = ropeRaw(x, c, s, false);
  return x.requiresGrad && gradEnabled() ? record("rope", out, [x], bRope, [c, s]) : out;
}

// ---- SwiGLU ----

function bSwiglu(g: Tensor, n: Node): (Tensor | null)[] {
  const [ac, bc] = n.saved as [Tensor, Tensor];
  checkSaved(n.op, ac, bc);
  const gc = contig(g);
  const da = Tensor._empty("float32", ac.shape);
  const db = Tensor._empty("float32", ac.shape);
  const a = f32(ac);
  const b = f32(bc);
  const gv = f32(gc);
  const dad = da._storage.data as Float32Array;
  const dbd = db._storage.data as Float32Array;
  const nEl = ac.size;
  if (nEl >= NATIVE_MIN && native.opsSwigluGrad !== undefined)
    native.opsSwigluGrad(a, b, gv, dad, dbd, nEl);
  else
    for (let i = 0; i < nEl; i++) {
      const s = 1 / (1 + Math.exp(-a[i]));
      dbd[i] = gv[i] * a[i] * s;
      dad[i] = gv[i] * b[i] * s * (1 + a[i] * (1 - s));
    }
  if (gc !== g) gc.dispose();
  return [da, db];
}

/** silu(a) * b, fused (a, b same shape). */
export function swiglu(a: Tensor, b: Tensor): Tensor {
  checkF(a, "swiglu", "a");
  checkF(b, "swiglu", "b");
  if (a.ndim !== b.ndim || a.shape.some((s, i) => s !== b.shape[i]))
    throw new Error(`swiglu: shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)} must match`);
  const ac = contig(a);
  const bc = contig(b);
  const out = Tensor._empty("float32", a.shape);
  const od = out._storage.data as Float32Array;
  const x = f32(ac);
  const y = f32(bc);
  if (a.size >= NATIVE_MIN && native.opsSwiglu !== undefined) native.opsSwiglu(x, y, od, a.size);
  else for (let i = 0; i < a.size; i++) od[i] = (x[i] / (1 + Math.exp(-x[i]))) * y[i];
  if (!gradEnabled() || !(a.requiresGrad || b.requiresGrad)) {
    if (ac !== a) ac.dispose();
    if (bc !== b) bc.dispose();
    return out;
  }
  return record("swiglu", out, [a, b], bSwiglu, [ac, bc], [ac, bc]);
}
