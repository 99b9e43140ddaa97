/** Weights in checkpoint storage: decoding every stored dtype, FP8 block quantization for saving. */
import { strict as assert } from "node:assert";
import { AMAX_FLOOR, quantizeBlocks } from "../../../lib/fp8/index.js";
import { f32ToBf16 } from "../../../lib/tensor/index.js";
import { preset } from "../../../lib/config/index.js";
import {
  CheckpointError,
  decodeWeight,
  decodeWeights,
  expectedTensors,
  f16ToF32,
  quantizeFp8Weights,
  type TensorEntry,
} from "../../../lib/io/index.js";

/** A tiny FP8 config: every Linear input a multiple of 128. */
const cfg = preset("tiny", {
  dtype: "fp8",
  dim: 128,
  inter_dim: 128,
  moe_inter_dim: 128,
  kv_lora_rank: 128,
  q_lora_rank: 0,
  n_heads: 2,
  v_head_dim: 64,
  mtp_depth: 0,
});

function f32Dict(): Map<string, TensorEntry> {
  const sd = new Map<string, TensorEntry>();
  let k = 0;
  for (const t of expectedTensors(cfg.args, cfg.settings)) {
    if (t.kind === "scale") continue;
    const n = t.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n).map((_, i) => 0.05 * Math.sin(i * 0.37 + ++k));
    sd.set(t.name, { dtype: "F32", shape: t.shape, data });
  }
  return sd;
}

describe("io/weights", () => {
  it("quantizes each FP8 Linear weight as fp8.quantizeBlocks does, scales as DeepSeek's .scale", () => {
    const sd = f32Dict();
    const name = "layers.1.ffn.experts.0.w1.weight";
    const w = sd.get(name)!.data as Float32Array;
    const [o, i] = sd.get(name)!.shape;
    quantizeFp8Weights(sd, cfg.args, cfg.settings);
    const q = quantizeBlocks(w, o, i);
    assert.equal(sd.get(name)!.dtype, "F8_E4M3");
    assert.deepEqual(sd.get(name)!.data, q.codes);
    const s = sd.get(name.replace(/weight$/, "scale"))!;
    assert.equal(s.dtype, "F32");
    assert.deepEqual(s.shape, [Math.ceil(o / 128), Math.ceil(i / 128)]);
    assert.deepEqual(s.data, q.scales);
    // High-precision tensors stay float32.
    assert.equal(sd.get("layers.1.ffn.gate.weight")!.dtype, "F32");
    assert.equal(sd.get("embed.weight")!.dtype, "F32");
    // Decoding gives the weight back to FP8's precision.
    const back = decodeWeight(name, sd.get(name)!, sd);
    let worst = 0;
    for (let j = 0; j < w.length; j++) worst = Math.max(worst, Math.abs(back[j] - w[j]));
    assert.ok(worst > 0 && worst <= 0.05 / 16, `worst error ${worst}`);
  });

  it("floors a block's amax at 1e-4 (DeepSeek's kernel.py): an all-zero block gets scale 1e-4/448", () => {
    assert.equal(AMAX_FLOOR, 1e-4);
    const sd = f32Dict();
    const name = "layers.0.attn.wo.weight";
    const e = sd.get(name)!;
    const [o, i] = e.shape;
    const w = e.data as Float32Array;
    // Zero the first 128x128 block, and make the second tiny (below the floor).
    for (let r = 0; r < Math.min(o, 128); r++)
      for (let c = 0; c < Math.min(i, 128); c++) w[r * i + c] = 0;
    quantizeFp8Weights(sd, cfg.args, cfg.settings);
    const s = sd.get("layers.0.attn.wo.scale")!.data as Float32Array;
    assert.equal(s[0], Math.fround(Math.fround(1e-4) / 448));
    const codes = sd.get(name)!.data as Uint8Array;
    assert.equal(codes[0], 0);
  });

  it("decodes BF16, F16 and F64 entries to float32", () => {
    const none = new Map<string, TensorEntry>();
    const bf = decodeWeight(
      "x",
      { dtype: "BF16", shape: [2], data: Uint16Array.of(f32ToBf16(1.5), f32ToBf16(-2)) },
      none,
    );
    assert.deepEqual(Array.from(bf), [1.5, -2]);
    assert.equal(f16ToF32(0x3c00), 1);
    assert.equal(f16ToF32(0xc000), -2);
    assert.equal(f16ToF32(0x0001), 2 ** -24);
    assert.equal(f16ToF32(0x7c00), Infinity);
    assert.ok(Number.isNaN(f16ToF32(0x7e00)));
    const h = decodeWeight("h", { dtype: "F16", shape: [1], data: Uint16Array.of(0x3555) }, none);
    assert.ok(Math.abs(h[0] - 1 / 3) < 1e-3);
    const d = decodeWeight("d", { dtype: "F64", shape: [1], data: Float64Array.of(0.1) }, none);
    assert.equal(d[0], Math.fround(0.1));
    assert.throws(
      () => decodeWeight("i", { dtype: "I32", shape: [1], data: Int32Array.of(1) }, none),
      /"i": dtype I32 is not supported/,
    );
  });

  it("checks names, shapes and data before decoding anything, naming what is wrong", () => {
    const shapes = new Map<string, number[]>([
      ["a.weight", [2, 2]],
      ["b.weight", [3]],
    ]);
    const ok = new Map<string, TensorEntry>([
      ["a.weight", { dtype: "F32", shape: [2, 2], data: new Float32Array(4).fill(1) }],
      ["b.weight", { dtype: "F32", shape: [3], data: new Float32Array(3).fill(2) }],
    ]);
    assert.deepEqual(Array.from(decodeWeights(ok, shapes).get("b.weight")!), [2, 2, 2]);
    const missing = new Map(ok);
    missing.delete("b.weight");
    assert.throws(() => decodeWeights(missing, shapes), /missing b\.weight/);
    const extra = new Map(ok).set("c.weight", ok.get("b.weight")!);
    assert.throws(() => decodeWeights(extra, shapes), /unexpected c\.weight/);
    const shape = new Map(ok).set("b.weight", {
      dtype: "F32",
      shape: [4],
      data: new Float32Array(4),
    });
    assert.throws(() => decodeWeights(shape, shapes), /"b\.weight": expected \[3\], found \[4\]/);
    const short = new Map(ok).set("b.weight", {
      dtype: "F32",
      shape: [3],
      data: new Float32Array(2),
    });
    assert.throws(
      () => decodeWeights(short, shapes),
      (e: unknown) => e instanceof CheckpointError && /Float32Array of 3 values/.test(String(e)),
    );
  });
});
