/**
 * AdamW with decoupled weight decay, as torch.optim.AdamW computes it, over named parameters
 * (`model.trainableParameters()`), its moments kept in float32 or, as DeepSeek-V3 does, in BF16.
 *
 *   const opt = new AdamW(model.trainableParameters(), { lr: 2e-3, weightDecay: 0.1 });
 *   loss.backward();
 *   const { norm, scale } = clipGradScale(params, 1.0);   // clip.ts
 *   opt.step({ lr: schedule.at(step, progress), gradScale: scale });
 *   opt.zeroGrad();
 *
 * Each parameter's update is one pass over its buffer (native/src/ops_optim.cc, or the
 * bit-identical TypeScript fallback in kernels.ts). The moments are plain typed arrays owned by
 * the optimizer, so no tidy() scope can free them.
 */
import { Tensor, isTensor, noGrad } from "../tensor/index.js";
import { humanCount } from "../config/index.js";
import { KernelImpl, adamwUpdate, defaultImpl } from "./kernels.js";
import { checkCount, checkKeys, checkNumber, show } from "./options.js";

/** How the moments are stored: float32, or bfloat16 (round to nearest even on every store). */
export type MomentsDType = "float32" | "bfloat16";

export interface AdamWOptions {
  /** Learning rate (default 1e-3); `step({ lr })` overrides it for one step. */
  lr?: number;
  /** Decay rates of the moments (default [0.9, 0.95], DeepSeek-V3's). */
  betas?: readonly [number, number];
  /** Added to sqrt(v̂) in the denominator (default 1e-8). */
  eps?: number;
  /** Decoupled weight decay, p *= 1 − lr·weightDecay (default 0.1). */
  weightDecay?: number;
  /** Which parameters decay (default: those with ndim >= 2; norms, biases, 1-D tensors do not). */
  decay?: (name: string, t: Tensor) => boolean;
  /** Storage of the moments (default "float32"). */
  moments?: MomentsDType;
}

export interface AdamWStepOptions {
  /** The learning rate of this step only (a schedule's value); default the optimizer's lr. */
  lr?: number;
  /** Multiplies every gradient first: clipping fused into the update (default 1). */
  gradScale?: number;
}

/** One moment tensor of a state dict, in safetensors' terms (BF16 data are the raw bits). */
export interface MomentTensor {
  dtype: "F32" | "BF16";
  shape: number[];
  data: Float32Array | Uint16Array;
}

/** The JSON part of a state dict. */
export interface AdamWScalars {
  format: "moelab.AdamW";
  version: 1;
  /** Number of step() calls. */
  stepCount: number;
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  moments: MomentsDType;
  /** Every parameter: its own update count (0: no state yet, like torch's lazy state) and decay. */
  params: Record<string, { step: number; decay: boolean }>;
}

/**
 * Everything needed to continue training bit for bit: `tensors` (`<name>.exp_avg`,
 * `<name>.exp_avg_sq`, ready for a safetensors file) and `scalars` (for a JSON file).
 */
export interface AdamWState {
  tensors: Map<string, MomentTensor>;
  scalars: AdamWScalars;
}

const OPTION_KEYS = ["lr", "betas", "eps", "weightDecay", "decay", "moments"] as const;
const STEP_KEYS = ["lr", "gradScale"] as const;
const FORMAT = "moelab.AdamW";

interface Slot {
  name: string;
  param: Tensor;
  decay: boolean;
  /** Updates applied to this parameter (its bias-correction count). */
  step: number;
  m: Float32Array | Uint16Array | null;
  v: Float32Array | Uint16Array | null;
}

/** Parameters as a name -> tensor map: a Map as given, an array as "0", "1", .... */
export function namedParams(
  params: ReadonlyMap<string, Tensor> | readonly Tensor[],
  where: string,
): Map<string, Tensor> {
  let out: Map<string, Tensor>;
  if (params instanceof Map) out = new Map(params);
  else if (Array.isArray(params)) out = new Map(params.map((t, i) => [String(i), t]));
  else
    throw new TypeError(
      `${where}: params must be a Map<string, Tensor> (model.trainableParameters()) or a Tensor[], got ${show(params)}`,
    );
  for (const [name, t] of out)
    if (!isTensor(t)) throw new TypeError(`${where}: parameter "${name}" is not a Tensor`);
  return out;
}

function checkBetas(b: unknown, where: string): [number, number] {
  if (!Array.isArray(b) || b.length !== 2)
    throw new TypeError(`${where}: betas must be [beta1, beta2], got ${show(b)}`);
  return [
    checkNumber(b[0], "betas[0]", where, 0, 1, { openHi: true }),
    checkNumber(b[1], "betas[1]", where, 0, 1, { openHi: true }),
  ];
}

function checkMoments(x: unknown, where: string): MomentsDType {
  if (x !== "float32" && x !== "bfloat16")
    throw new TypeError(`${where}: moments must be "float32" or "bfloat16", got ${show(x)}`);
  return x;
}

function fmt(x: number): string {
  return String(Number(x.toPrecision(6)));
}

function humanBytes(n: number): string {
  return n >= 2 ** 20
    ? `${(n / 2 ** 20).toFixed(1)} MiB`
    : n >= 1024
      ? `${(n / 1024).toFixed(1)} KiB`
      : `${n} B`;
}

export class AdamW {
  /** Storage of the moments; fixed at construction. */
  readonly moments: MomentsDType;
  private _lr: number;
  private _betas: [number, number];
  private _eps: number;
  private _weightDecay: number;
  private _stepCount = 0;
  private readonly slots: Slot[];
  private readonly byName: Map<string, Slot>;
  /** Which kernel runs the updates; tests set "ts" to compare the fallback with the addon. */
  _impl: KernelImpl = defaultImpl;

  constructor(params: ReadonlyMap<string, Tensor> | readonly Tensor[], opts: AdamWOptions = {}) {
    const where = "AdamW";
    checkKeys(opts, OPTION_KEYS, where);
    this._lr = checkNumber(opts.lr ?? 1e-3, "lr", where, 0);
    this._betas = checkBetas(opts.betas ?? [0.9, 0.95], where);
    this._eps = checkNumber(opts.eps ?? 1e-8, "eps", where, 0, Infinity, { openLo: true });
    this._weightDecay = checkNumber(opts.weightDecay ?? 0.1, "weightDecay", where, 0);
    this.moments = checkMoments(opts.moments ?? "float32", where);
    const decay = opts.decay ?? ((_name: string, t: Tensor) => t.ndim >= 2);
    if (typeof decay !== "function")
      throw new TypeError(`${where}: decay must be a function (name, tensor) => boolean`);
    const named = namedParams(params, where);
    if (named.size === 0) throw new RangeError(`${where}: got an empty parameter list`);
    const seen = new Map<Tensor, string>();
    this.slots = [];
    for (const [name, t] of named) {
      const other = seen.get(t);
      if (other !== undefined)
        throw new RangeError(`${where}: parameters "${other}" and "${name}" are the same tensor`);
      seen.set(t, name);
      if (t.dtype !== "float32")
        throw new TypeError(
          `${where}: parameter "${name}" is ${t.dtype}; AdamW updates float32 (master) weights`,
        );
      const d = decay(name, t);
      if (typeof d !== "boolean")
        throw new TypeError(`${where}: decay("${name}", t) returned ${show(d)}, not a boolean`);
      this.slots.push({ name, param: t, decay: d, step: 0, m: null, v: null });
    }
    this.byName = new Map(this.slots.map((s) => [s.name, s]));
  }

  /** The learning rate used when step() is given none. */
  get lr(): number {
    return this._lr;
  }
  set lr(x: number) {
    this._lr = checkNumber(x, "lr", "AdamW.lr", 0);
  }
  get betas(): readonly [number, number] {
    return [this._betas[0], this._betas[1]];
  }
  get eps(): number {
    return this._eps;
  }
  get weightDecay(): number {
    return this._weightDecay;
  }
  /** Number of step() calls so far. */
  get stepCount(): number {
    return this._stepCount;
  }
  /** Parameter names, in update order. */
  get paramNames(): string[] {
    return this.slots.map((s) => s.name);
  }
  /** Whether weight decay applies to the named parameter. */
  decays(name: string): boolean {
    const s = this.byName.get(name);
    if (s === undefined) throw new RangeError(`AdamW.decays: no parameter "${name}"`);
    return s.decay;
  }
  /** Bytes held by the moments allocated so far. */
  get stateBytes(): number {
    let n = 0;
    for (const s of this.slots) if (s.m !== null) n += s.m.byteLength + s.v!.byteLength;
    return n;
  }

  /**
   * Updates, in place, every parameter whose .grad is set (others are skipped, their moments
   * and counts untouched, as torch does). Gradients are read, never changed.
   */
  step(opts: AdamWStepOptions = {}): void {
    const where = "AdamW.step";
    checkKeys(opts, STEP_KEYS, where);
    const lr = opts.lr === undefined ? this._lr : checkNumber(opts.lr, "lr", where, 0);
    const gradScale =
      opts.gradScale === undefined
        ? 1
        : checkNumber(opts.gradScale, "gradScale", where, 0, Infinity, {});
    // Check every parameter before changing any, so a bad gradient leaves the model as it was.
    const work: { slot: Slot; p: Float32Array; g: Float32Array }[] = [];
    for (const s of this.slots) {
      const g = s.param.grad;
      if (g === null) continue;
      const t = s.param;
      if (t.isDisposed) throw new Error(`${where}: parameter "${s.name}" was disposed`);
      if (!t._isContiguous)
        throw new Error(`${where}: parameter "${s.name}" is a non-contiguous view`);
      if (g.isDisposed) throw new Error(`${where}: the gradient of "${s.name}" was disposed`);
      if (g.dtype !== "float32" || g.shape.length !== t.shape.length)
        throw new TypeError(
          `${where}: the gradient of "${s.name}" is ${g.dtype} [${g.shape.join(", ")}], expected float32 [${t.shape.join(", ")}]`,
        );
      for (let i = 0; i < t.shape.length; i++)
        if (g.shape[i] !== t.shape[i])
          throw new RangeError(
            `${where}: the gradient of "${s.name}" has shape [${g.shape.join(", ")}], the parameter [${t.shape.join(", ")}]`,
          );
      work.push({
        slot: s,
        p: t._contiguousData() as Float32Array,
        g: g._contiguousData() as Float32Array,
      });
    }
    const [beta1, beta2] = this._betas;
    noGrad(() => {
      for (const { slot, p, g } of work) {
        if (slot.m === null) {
          const Ctor = this.moments === "float32" ? Float32Array : Uint16Array;
          slot.m = new Ctor(p.length);
          slot.v = new Ctor(p.length);
        }
        slot.step++;
        adamwUpdate(
          p,
          g,
          slot.m,
          slot.v!,
          {
            step: slot.step,
            lr,
            beta1,
            beta2,
            eps: this._eps,
            weightDecay: slot.decay ? this._weightDecay : 0,
            gradScale,
          },
          this._impl,
        );
      }
    });
    this._stepCount++;
  }

  /** Frees and clears every parameter's gradient. */
  zeroGrad(): void {
    for (const s of this.slots) s.param.zeroGrad();
  }

  /** A copy of the state: moments as safetensors-ready tensors, the rest as JSON-ready scalars. */
  stateDict(): AdamWState {
    const tensors = new Map<string, MomentTensor>();
    const params: AdamWScalars["params"] = {};
    const dtype = this.moments === "float32" ? "F32" : "BF16";
    for (const s of this.slots) {
      params[s.name] = { step: s.step, decay: s.decay };
      if (s.m === null) continue;
      const shape = [...s.param.shape];
      tensors.set(`${s.name}.exp_avg`, { dtype, shape, data: s.m.slice() });
      tensors.set(`${s.name}.exp_avg_sq`, { dtype, shape, data: s.v!.slice() });
    }
    return {
      tensors,
      scalars: {
        format: FORMAT,
        version: 1,
        stepCount: this._stepCount,
        lr: this._lr,
        betas: [this._betas[0], this._betas[1]],
        eps: this._eps,
        weightDecay: this._weightDecay,
        moments: this.moments,
        params,
      },
    };
  }

  /**
   * Restores a state from stateDict() (or read back from safetensors + JSON): moments, counts,
   * hyper-parameters and decay flags, as torch's load_state_dict restores param_groups. Checks
   * everything (names, shapes, dtypes, values) before changing anything.
   */
  loadStateDict(state: AdamWState): void {
    const where = "AdamW.loadStateDict";
    if (state === null || typeof state !== "object")
      throw new TypeError(`${where}: expected { tensors, scalars }, got ${show(state)}`);
    const sc = state.scalars as Partial<AdamWScalars> | undefined;
    if (sc === null || typeof sc !== "object")
      throw new TypeError(`${where}: scalars must be an object`);
    if (sc.format !== FORMAT || sc.version !== 1)
      throw new TypeError(
        `${where}: not a moelab AdamW state (format ${show(sc.format)}, version ${show(sc.version)})`,
      );
    const lr = checkNumber(sc.lr, "lr", where, 0);
    const betas = checkBetas(sc.betas, where);
    const eps = checkNumber(sc.eps, "eps", where, 0, Infinity, { openLo: true });
    const weightDecay = checkNumber(sc.weightDecay, "weightDecay", where, 0);
    const stepCount = checkCount(sc.stepCount, "stepCount", where);
    const moments = checkMoments(sc.moments, where);
    if (moments !== this.moments)
      throw new TypeError(
        `${where}: the state holds ${moments} moments, this optimizer keeps ${this.moments} (construct it with { moments: "${moments}" })`,
      );
    const saved = sc.params;
    if (saved === null || typeof saved !== "object")
      throw new TypeError(`${where}: scalars.params must be an object`);
    const extra = Object.keys(saved).filter((n) => !this.byName.has(n));
    const missing = this.slots.map((s) => s.name).filter((n) => !(n in saved));
    if (extra.length > 0 || missing.length > 0) {
      const list = (xs: string[]): string =>
        xs.slice(0, 3).join(", ") + (xs.length > 3 ? ` (+${xs.length - 3} more)` : "");
      throw new RangeError(
        `${where}: the state is for other parameters` +
          (extra.length > 0 ? `; unknown here: ${list(extra)}` : "") +
          (missing.length > 0 ? `; missing from it: ${list(missing)}` : ""),
      );
    }
    const tensors = state.tensors instanceof Map ? state.tensors : null;
    if (tensors === null) throw new TypeError(`${where}: tensors must be a Map`);
    const wantDtype = moments === "float32" ? "F32" : "BF16";
    const Ctor = moments === "float32" ? Float32Array : Uint16Array;
    const used = new Set<string>();
    const plan: { slot: Slot; step: number; decay: boolean; m: TypedMoment; v: TypedMoment }[] = [];
    for (const s of this.slots) {
      const e = saved[s.name] as { step?: unknown; decay?: unknown } | null;
      if (e === null || typeof e !== "object")
        throw new TypeError(`${where}: params["${s.name}"] must be { step, decay }`);
      const step = checkCount(e.step, `params["${s.name}"].step`, where);
      if (typeof e.decay !== "boolean")
        throw new TypeError(`${where}: params["${s.name}"].decay must be a boolean`);
      let m: TypedMoment = null;
      let v: TypedMoment = null;
      if (step > 0) {
        const read = (key: string): Float32Array | Uint16Array => {
          const t = tensors.get(key);
          if (t === undefined)
            throw new RangeError(`${where}: "${key}" is missing (the parameter has ${step} steps)`);
          used.add(key);
          const shape = Array.isArray(t.shape) ? t.shape : [];
          const same =
            shape.length === s.param.shape.length &&
            shape.every((d: number, i: number) => d === s.param.shape[i]);
          if (!same)
            throw new RangeError(
              `${where}: "${key}" has shape ${show(t.shape)}, the parameter [${s.param.shape.join(", ")}]`,
            );
          if (t.dtype !== wantDtype || !(t.data instanceof Ctor))
            throw new TypeError(
              `${where}: "${key}" is ${show(t.dtype)} (${t.data?.constructor?.name}), expected ${wantDtype} (${Ctor.name})`,
            );
          if (t.data.length !== s.param.size)
            throw new RangeError(
              `${where}: "${key}" has ${t.data.length} values, the parameter ${s.param.size}`,
            );
          return t.data;
        };
        m = read(`${s.name}.exp_avg`);
        v = read(`${s.name}.exp_avg_sq`);
      }
      plan.push({ slot: s, step, decay: e.decay, m, v });
    }
    const unknown = [...tensors.keys()].filter((k) => !used.has(k));
    if (unknown.length > 0)
      throw new RangeError(
        `${where}: tensor "${unknown[0]}" belongs to no parameter with state` +
          (unknown.length > 1 ? ` (+${unknown.length - 1} more)` : ""),
      );
    // Everything checked: now change state (copies, so the caller's arrays stay theirs).
    for (const { slot, step, decay, m, v } of plan) {
      slot.step = step;
      slot.decay = decay;
      slot.m = m === null ? null : m.slice();
      slot.v = v === null ? null : v.slice();
    }
    this._lr = lr;
    this._betas = betas;
    this._eps = eps;
    this._weightDecay = weightDecay;
    this._stepCount = stepCount;
  }

  /** One line: hyper-parameters, what is trained and decayed, the state's size. */
  describe(): string {
    let total = 0;
    let decayed = 0;
    for (const s of this.slots) {
      total += s.param.size;
      if (s.decay) decayed += s.param.size;
    }
    const [b1, b2] = this._betas;
    return (
      `AdamW(lr=${fmt(this._lr)}, betas=(${fmt(b1)}, ${fmt(b2)}), eps=${fmt(this._eps)}, ` +
      `weight_decay=${fmt(this._weightDecay)}): ${this.slots.length} tensors, ` +
      `${humanCount(total)} parameters (${humanCount(decayed)} decayed); ` +
      `moments ${this.moments}, ${humanBytes(this.stateBytes)}; ${this._stepCount} steps; ` +
      `${this._impl === "native" ? "native" : "TypeScript"} kernel`
    );
  }

  toString(): string {
    return this.describe();
  }

  [Symbol.for("Jupyter.display")](): Record<string, string> {
    return { "text/plain": this.describe() };
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.describe();
  }
}

type TypedMoment = Float32Array | Uint16Array | null;
