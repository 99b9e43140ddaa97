import { strict as assert } from "node:assert";
import * as T from "../../../lib/tensor/index.js";
import * as fp8 from "../../../lib/fp8/index.js";
import { linear, linearFp8, roundBf16 } from "../../../lib/fp8/linear.js";
import { randn, relErr } from "./helpers.js";

const M = 6;
const K = 300;
const N = 140;

/** Leaves x [2, 3, K] and W [N, K], and a random upstream gradient r [2, 3, N]. */
function setup(seed: number) {
  const xs = randn(M * K, seed);
  const ws = randn(N * K, seed + 1, 0.05);
  const r = randn(M * N, seed + 2);
  const x = T.tensor(xs, { shape: [2, 3, K] }).requiresGrad_();
  const w = T.tensor(ws, { shape: [N, K] }).requiresGrad_();
  return { xs, ws, r, x, w, rt: T.tensor(r, { shape: [2, 3, N] }) };
}

function runGrads(precision: fp8.Fp8Format | "fp32" | "bf16" | "fp8", seed: number) {
  const s = setup(seed);
  const y = linear(s.x, s.w, precision as "fp32" | "bf16" | "fp8");
  y.mul(s.rt).sum().backward(); // dL/dy = r
  return {
    ...s,
    y: y.toArray() as Float32Array,
    dx: s.x.grad!.toArray() as Float32Array,
    dw: s.w.grad!.toArray() as Float32Array,
  };
}

describe("fp8 linear: Fprop, Dgrad and Wgrad in FP8 (DeepSeek-V3)", () => {
  it("runs exactly the documented quantized GEMMs", () => {
    const g = runGrads("fp8", 1);
    assert.deepEqual(g.y, fp8.gemm(fp8.quantizeTiles(g.xs, M, K), fp8.quantizeBlocks(g.ws, N, K)));
    const dx = fp8.gemm(fp8.quantizeTiles(g.r, M, N), fp8.quantizeBlocks(g.ws, N, K).transpose());
    assert.deepEqual(g.dx, dx);
    const dw = fp8.gemm(
      fp8.quantizeTilesT(g.r, M, N).transpose(),
      fp8.quantizeTilesT(g.xs, M, K).transpose(),
    );
    assert.deepEqual(g.dw, dw);
  });

  it("stays close to the FP32 op: outputs and both gradients", () => {
    const a = runGrads("fp8", 2);
    const ref = runGrads("fp32", 2);
    for (const [name, e] of [
      ["y", relErr(a.y, ref.y)],
      ["dx", relErr(a.dx, ref.dx)],
      ["dw", relErr(a.dw, ref.dw)],
    ] as const) {
      assert.ok(e > 1e-4 && e < 0.08, `${name}: relative error ${e}`);
    }
  });

  it("bf16 mode rounds the GEMM inputs to bfloat16", () => {
    const a = runGrads("bf16", 3);
    const ref = runGrads("fp32", 3);
    assert.ok(relErr(a.y, ref.y) < 1e-2 && relErr(a.y, ref.y) > 0);
    assert.ok(relErr(a.dx, ref.dx) < 1e-2 && relErr(a.dw, ref.dw) < 1e-2);
    assert.deepEqual(
      [...roundBf16(new Float32Array([1 + 2 ** -8, 1 + 3 * 2 ** -8, NaN]))],
      [1, 1 + 2 ** -6, NaN],
    );
  });

  it("fp32 mode is the plain matmul", () => {
    const s = setup(4);
    const y = linear(s.x, s.w, "fp32");
    assert.deepEqual(y.toArray(), T.matmul(s.x, s.w.transpose(0, 1)).toArray());
  });

  it("skips the gradients nobody needs", () => {
    const s = setup(5);
    const w = T.tensor(s.ws, { shape: [N, K] }); // a frozen weight
    linearFp8(s.x, w).mul(s.rt).sum().backward();
    assert.equal(w.grad, null);
    assert.deepEqual([...s.x.grad!.shape], [2, 3, K]);
  });

  it("backpropagates through stacked FP8 layers", () => {
    const x = T.tensor(randn(4 * 128, 7), { shape: [4, 128] });
    const w1 = T.tensor(randn(64 * 128, 8, 0.1), { shape: [64, 128] }).requiresGrad_();
    const w2 = T.tensor(randn(32 * 64, 9, 0.1), { shape: [32, 64] }).requiresGrad_();
    linearFp8(linearFp8(x, w1), w2).sum().backward();
    assert.deepEqual([...w1.grad!.shape], [64, 128]);
    assert.ok((w1.grad!.toArray() as Float32Array).some((v) => v !== 0));
  });

  it("rejects bad inputs with clear errors", () => {
    const s = setup(6);
    assert.throws(
      () => linearFp8(s.x, T.zeros([N, K - 1])),
      /x's last dimension \(300\) must equal W's in-features/,
    );
    assert.throws(() => linearFp8(s.x, T.zeros([1, N, K])), /W must be 2-D/);
    assert.throws(
      () => linear(s.x, s.w, "fp16" as "fp8"),
      /precision must be "fp32", "bf16" or "fp8"/,
    );
    assert.throws(() => linearFp8(s.x, T.zeros([N, K], { dtype: "bfloat16" })), /must be float32/);
  });
});
