/** Tensor basics: creation, dtypes and storage codes, views, reading values, determinism, display, interop. */
import * as assert from "node:assert/strict";
import { inspect } from "node:util";
import * as T from "../../../lib/tensor/index.js";
import { tf } from "./oracle.js";

describe("Tensor", () => {
  it("creates from nested arrays, typed arrays and scalars", () => {
    const a = T.tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    assert.deepEqual([...a.shape], [2, 3]);
    assert.equal(a.dtype, "float32");
    assert.equal(a.device.name, "cpu");
    assert.deepEqual(a.tolist(), [
      [1, 2, 3],
      [4, 5, 6],
    ]);
    assert.ok(a.toArray() instanceof Float32Array);
    const b = T.tensor(new Int32Array([1, 2, 3, 4]), { shape: [2, 2] });
    assert.equal(b.dtype, "int32");
    assert.ok(b.toArray() instanceof Int32Array);
    assert.equal(T.tensor(3.5).item(), 3.5);
    assert.deepEqual([...T.tensor(3.5).shape], []);
    assert.equal(T.fromArray([true, false]).sum().item(), 1);
  });

  it("zeros, ones, full, arange, linspace, eye, *Like", () => {
    assert.deepEqual(T.zeros([2, 2]).tolist(), [
      [0, 0],
      [0, 0],
    ]);
    assert.deepEqual(T.ones(3, { dtype: "int32" }).tolist(), [1, 1, 1]);
    assert.deepEqual(T.full([2], 7).tolist(), [7, 7]);
    const r = T.arange(5);
    assert.equal(r.dtype, "int32");
    assert.deepEqual(r.tolist(), [0, 1, 2, 3, 4]);
    assert.deepEqual(T.arange(1, 2, 0.25).tolist(), [1, 1.25, 1.5, 1.75]);
    assert.deepEqual(T.linspace(0, 1, 3).tolist(), [0, 0.5, 1]);
    assert.deepEqual(T.eye(2).tolist(), [
      [1, 0],
      [0, 1],
    ]);
    assert.deepEqual(T.zerosLike(r).tolist(), [0, 0, 0, 0, 0]);
    assert.deepEqual(T.onesLike(T.zeros([1, 2])).tolist(), [[1, 1]]);
  });

  it("bfloat16 and fp8 storage round-trip and decode", () => {
    const x = T.tensor([1, -2.5, 3.14159, 1e-3, 448, 500]);
    const bf = x.to("bfloat16");
    assert.equal(bf.dtype, "bfloat16");
    assert.ok(bf.data instanceof Uint16Array);
    const back = bf.float().toArray();
    for (let i = 0; i < 6; i++)
      assert.ok(Math.abs(back[i] - x.toArray()[i]) <= Math.abs(x.toArray()[i]) / 128);
    assert.equal(T.bf16ToF32(T.f32ToBf16(1.00390625)), 1); // tie to even
    const e4 = x.to("float8_e4m3fn");
    assert.ok(e4.data instanceof Uint8Array);
    const d = e4.toArray();
    assert.equal(d[0], 1);
    assert.equal(d[1], -2.5);
    assert.equal(d[2], 3.25);
    assert.equal(d[4], 448);
    assert.ok(Number.isNaN(d[5]), "E4M3 overflow without saturation is NaN");
    assert.equal(
      T.fp8ToF32(T.f32ToFp8(464, "float8_e4m3fn"), "float8_e4m3fn"),
      448,
      "464 ties to 448",
    );
    assert.equal(T.f32ToFp8(NaN, "float8_e5m2"), 0x7f);
    assert.equal(T.fp8ToF32(T.f32ToFp8(70000, "float8_e5m2"), "float8_e5m2"), Infinity);
    const codes = new Uint8Array([0x38, 0xb8]);
    const f = T.fromStorage(codes, [2], "float8_e4m3fn");
    assert.deepEqual(Array.from(f.toArray()), [1, -1]);
    assert.throws(() => f.add(1), /storage type.*float\(\)/);
    assert.throws(() => T.fromStorage(new Float32Array(2), [2], "bfloat16"), /needs a Uint16Array/);
  });

  it("views share storage; contiguous() copies only when needed", () => {
    const a = T.arange(6, undefined, 1, { dtype: "float32" }).reshape(2, 3);
    const t = a.transpose();
    assert.equal(t._storage, a._storage);
    assert.deepEqual([...t.strides], [1, 3]);
    assert.ok(!t._isContiguous);
    const c = t.contiguous();
    assert.notEqual(c._storage, a._storage);
    assert.deepEqual(c.tolist(), [
      [0, 3],
      [1, 4],
      [2, 5],
    ]);
    assert.equal(a.contiguous(), a);
    assert.throws(() => t.view(6), /not contiguous; use reshape/);
    assert.deepEqual(t.reshape(6).tolist(), [0, 3, 1, 4, 2, 5]);
    const s = a.slice(1, 1).select(0, 1);
    assert.deepEqual(s.tolist(), [4, 5]);
    assert.equal(s.offset, 4);
    assert.deepEqual(a.expand(2, 2, 3).strides, [0, 3, 1]);
  });

  it("random draws are reproducible per seed, independent of chunking", () => {
    const a = T.randn([1000], { seed: 42 }).toArray();
    const b = T.randn([1000], { seed: 42 }).toArray();
    assert.deepEqual(Buffer.from(a.buffer), Buffer.from(b.buffer), "bit-identical");
    const c = T.randn([10, 100], { seed: 42 }).toArray();
    assert.deepEqual(Array.from(c), Array.from(a), "element i depends only on (seed, i)");
    const d = T.randn([1000], { seed: 43 }).toArray();
    assert.notDeepEqual(Array.from(d), Array.from(a));
    let m = 0;
    let v = 0;
    for (const x of a) m += x / 1000;
    for (const x of a) v += (x - m) ** 2 / 1000;
    assert.ok(Math.abs(m) < 0.1 && Math.abs(v - 1) < 0.15, `mean ${m}, var ${v}`);
    const u = T.rand([1000], { seed: 1, low: 2, high: 3 }).toArray();
    assert.ok(u.every((x) => x >= 2 && x < 3));
    const ri = T.randint(0, 5, [200], { seed: 1 });
    assert.equal(ri.dtype, "int32");
    assert.ok(ri.toArray().every((x) => x >= 0 && x < 5));
    T.manualSeed(7);
    const g1 = T.randn([4]).toArray();
    T.manualSeed(7);
    assert.deepEqual(Array.from(T.randn([4]).toArray()), Array.from(g1));
  });

  it("forward and backward are bit-identical across runs and thread counts", () => {
    const run = () =>
      T.tidy(() => {
        const x = T.randn([8, 64, 96], { seed: 3 }).requiresGrad_();
        const w = T.randn([96, 128], { seed: 4 }).requiresGrad_();
        const loss = T.rmsNorm(x, null).matmul(w).softmax(-1).square().sum();
        loss.backward();
        return [loss.item(), Buffer.from(x.grad!.toArray().buffer).toString("base64")];
      });
    const n = T.getNumThreads();
    const first = run();
    assert.deepEqual(run(), first);
    T.setNumThreads(1);
    try {
      const one = run();
      // SGEMM may block differently per thread count; the kernels in this folder do not.
      assert.ok(
        Math.abs((one[0] as number) - (first[0] as number)) <= 1e-5 * Math.abs(first[0] as number),
      );
    } finally {
      T.setNumThreads(n);
    }
  });

  it("displays like PyTorch in text and as an HTML table", () => {
    const a = T.tensor([
      [1, 2.5],
      [3, -4],
    ]);
    const txt = a.toString();
    assert.match(
      txt,
      /^tensor\(\[\[ 1\.0000, {2}2\.5000\],\n {8}\[ 3\.0000, -4\.0000\]\], shape=\[2, 2\], dtype=float32\)$/,
    );
    const bundle = (a as unknown as Record<symbol, () => Record<string, string>>)[
      Symbol.for("Jupyter.display")
    ]();
    assert.equal(bundle["text/plain"], txt);
    assert.match(bundle["text/html"], /<table/);
    assert.match(bundle["text/html"], /-4\.0000/);
    assert.equal(inspect(a), txt);
    const big = T.arange(10000).reshape(100, 100);
    const s = big.toString();
    assert.match(s, /\.\.\./);
    assert.ok(s.length < 1000, "summarised");
    assert.match(s, /9999\]\], shape=\[100, 100\], dtype=int32\)/);
    const g = T.ones([2], { requiresGrad: true }).mul(2);
    assert.match(g.toString(), /gradFn=mul/);
    g.dispose();
    assert.match(g.toString(), /disposed/);
  });

  it("converts to and from tfjs tensors (duck-typed)", () => {
    const a = T.randn([2, 3], { seed: 1 });
    const t = a.toTf(tf) as import("@tensorflow/tfjs").Tensor;
    assert.deepEqual(t.shape, [2, 3]);
    assert.deepEqual(Array.from(t.dataSync()), Array.from(a.toArray()));
    const back = T.Tensor.fromTf(tf.tensor([[1, 2]], [1, 2], "int32"));
    assert.equal(back.dtype, "int32");
    assert.deepEqual(back.tolist(), [[1, 2]]);
    assert.throws(() => T.Tensor.fromTf({} as never), /expected a tfjs tensor/);
    const found = a.toTf() as import("@tensorflow/tfjs").Tensor; // finds the installed tfjs itself
    assert.deepEqual(Array.from(found.dataSync()), Array.from(a.toArray()));
  });
});
