/**
 * Weights in checkpoint storage and back: decoding BF16, F16, F64 and FP8 (E4M3 codes with a
 * float32 multiplier per 128x128 block, DeepSeek's `.scale`) tensors to float32, and quantizing a
 * float32 state dict's FP8 Linear weights for an FP8 checkpoint (fp8.quantizeBlocks: amax floored
 * at 1e-4, as DeepSeek's kernel.py).
 */
import { quantizeBlocks } from "../fp8/index.js";
import { bf16ToF32, fp8ToF32 } from "../tensor/index.js";
import type { ModelArgs, MoelabSettings } from "../config/index.js";
import { CheckpointError, expectedTensors, scaleShape } from "./naming.js";
import type { TensorEntry } from "./safetensors.js";

/** float32 value of IEEE half-precision bits. */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** The entry's data as `Kind`, checked to hold exactly the shape's elements. */
function entryData<A extends ArrayLike<number>>(
  name: string,
  e: TensorEntry,
  Kind: { new (...args: never[]): A; name: string },
): A {
  const n = e.shape.reduce((x, y) => x * y, 1);
  if (!(e.data instanceof Kind) || e.data.length !== n)
    throw new CheckpointError(
      `tensor "${name}": ${e.dtype} data must be a ${Kind.name} of ${n} values, got ${e.data.constructor.name} of ${e.data.length}`,
    );
  return e.data as unknown as A;
}

/**
 * Float32 values of checkpoint entry `name` (F32, F64, BF16, F16, or F8_E4M3 with its `.scale`
 * looked up in `all`).
 */
export function decodeWeight(
  name: string,
  e: TensorEntry,
  all: ReadonlyMap<string, TensorEntry>,
): Float32Array {
  switch (e.dtype) {
    case "F32":
      return Float32Array.from(entryData(name, e, Float32Array));
    case "F64":
      return Float32Array.from(entryData(name, e, Float64Array));
    case "BF16": {
      const d = entryData(name, e, Uint16Array);
      const out = new Float32Array(d.length);
      for (let i = 0; i < d.length; i++) out[i] = bf16ToF32(d[i]);
      return out;
    }
    case "F16": {
      const d = entryData(name, e, Uint16Array);
      const out = new Float32Array(d.length);
      for (let i = 0; i < d.length; i++) out[i] = f16ToF32(d[i]);
      return out;
    }
    case "F8_E4M3": {
      if (e.shape.length !== 2)
        throw new CheckpointError(
          `FP8 tensor "${name}" must be 2-D, found [${e.shape.join(", ")}]`,
        );
      const q = entryData(name, e, Uint8Array);
      const sName = name.replace(/\.weight$/, ".scale");
      const s = all.get(sName);
      if (!s) throw new CheckpointError(`FP8 tensor "${name}" has no "${sName}"`);
      const [o, i] = e.shape;
      const want = scaleShape(o, i);
      if (s.dtype !== "F32" || s.shape.length !== 2 || s.shape.some((d, j) => d !== want[j]))
        throw new CheckpointError(
          `"${sName}" must be F32 [${want.join(", ")}] (one multiplier per 128x128 block of "${name}"), found ${s.dtype} [${s.shape.join(", ")}]`,
        );
      const sc = entryData(sName, s, Float32Array);
      const sCols = want[1];
      const out = new Float32Array(o * i);
      for (let r = 0; r < o; r++)
        for (let c = 0; c < i; c++)
          out[r * i + c] =
            fp8ToF32(q[r * i + c], "float8_e4m3fn") *
            sc[Math.floor(r / 128) * sCols + Math.floor(c / 128)];
      return out;
    }
    default:
      throw new CheckpointError(
        `tensor "${name}": dtype ${e.dtype} is not supported (F32, F64, BF16, F16, F8_E4M3)`,
      );
  }
}

/**
 * Checks that `tensors` holds exactly the named shapes (FP8 `.scale` companions aside) and decodes
 * every one to float32, before anything is copied anywhere: a bad file changes nothing.
 */
export function decodeWeights(
  tensors: ReadonlyMap<string, TensorEntry>,
  shapes: ReadonlyMap<string, readonly number[]>,
): Map<string, Float32Array> {
  const missing = [...shapes.keys()].filter((n) => !tensors.has(n));
  const extra = [...tensors.keys()].filter((n) => !shapes.has(n) && !n.endsWith(".scale"));
  if (missing.length || extra.length)
    throw new CheckpointError(
      `state dict does not match the model: ${missing.length ? `missing ${missing.slice(0, 10).join(", ")}` : ""}${missing.length && extra.length ? "; " : ""}${extra.length ? `unexpected ${extra.slice(0, 10).join(", ")}` : ""}`,
    );
  const values = new Map<string, Float32Array>();
  for (const [n, shape] of shapes) {
    const e = tensors.get(n)!;
    if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i]))
      throw new CheckpointError(
        `tensor "${n}": expected [${shape.join(", ")}], found [${e.shape.join(", ")}]`,
      );
    values.set(n, decodeWeight(n, e, tensors));
  }
  return values;
}

/**
 * DeepSeek's FP8 checkpoint form of a float32 state dict, in place: each FP8 Linear weight becomes
 * E4M3 codes with its F32 `.scale` [ceil(out/128), ceil(in/128)] of multipliers (W ≈ q · s).
 */
export function quantizeFp8Weights(
  sd: Map<string, TensorEntry>,
  args: ModelArgs,
  settings: Pick<MoelabSettings, "mtp_depth" | "routing">,
): void {
  for (const t of expectedTensors(args, settings)) {
    if (!t.fp8) continue;
    const e = sd.get(t.name);
    if (!e) throw new CheckpointError(`FP8 weight "${t.name}" is missing from the state dict`);
    const [o, i] = e.shape;
    const q = quantizeBlocks(entryData(t.name, e, Float32Array), o, i);
    sd.set(t.name, { dtype: "F8_E4M3", shape: e.shape, data: q.codes });
    sd.set(t.name.replace(/\.weight$/, ".scale"), {
      dtype: "F32",
      shape: [q.scaleRows, q.scaleCols],
      data: q.scales,
    });
  }
}
