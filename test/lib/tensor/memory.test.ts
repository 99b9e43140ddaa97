/** Memory: dispose, tidy scopes, pooling, memory() sees leaks. */
import * as assert from "node:assert/strict";
import * as v8 from "node:v8";
import * as vm from "node:vm";
import * as T from "../../../lib/tensor/index.js";
import { sizeClass } from "../../../lib/tensor/memory.js";

/** A gc() even without --expose-gc (the flag can be set at run time for new contexts). */
function getGc(): () => void {
  v8.setFlagsFromString("--expose-gc");
  return vm.runInNewContext("gc") as () => void;
}

describe("tensor memory", () => {
  it("tidy disposes everything created inside except what it returns", () => {
    const before = T.memory();
    const kept = T.tidy(() => {
      const x = T.randn([64, 64], { seed: 1, requiresGrad: true });
      const y = x.matmul(x.transpose()).relu().softmax(-1);
      const loss = y.square().mean();
      loss.backward();
      return { loss, list: [y.sum()] };
    });
    const after = T.memory();
    assert.equal(after.liveTensors, before.liveTensors + 2, "only the two returned tensors stay");
    kept.loss.dispose();
    kept.list[0].dispose();
    assert.equal(T.memory().liveTensors, before.liveTensors);
    assert.equal(T.memory().liveBytes, before.liveBytes);
  });

  it("leaf gradients made inside tidy survive it (they belong to the leaf)", () => {
    const w = T.randn([8], { seed: 2, requiresGrad: true });
    const before = T.memory().liveTensors;
    T.tidy(() => {
      w.mul(w).sum().backward();
    });
    assert.ok(w.grad !== null && !w.grad.isDisposed);
    assert.equal(T.memory().liveTensors, before + 1, "just w.grad");
    w.zeroGrad();
    assert.equal(T.memory().liveTensors, before);
  });

  it("nested tidy hands returned tensors to the outer scope; keep() exempts", () => {
    const before = T.memory().liveTensors;
    let inner: T.Tensor | null = null;
    let kept: T.Tensor | null = null;
    T.tidy(() => {
      inner = T.tidy(() => T.ones([3]).mul(2));
      kept = T.keep(T.zeros([2]));
      assert.ok(!inner.isDisposed);
    });
    assert.ok(inner!.isDisposed, "disposed by the outer scope");
    assert.ok(!kept!.isDisposed);
    kept!.dispose();
    assert.equal(T.memory().liveTensors, before);
    assert.throws(() => T.tidy(() => Promise.resolve(1)), /synchronous/);
  });

  it("without tidy, backward frees the temporaries fused ops saved (no leak once outputs are disposed)", () => {
    const before = T.memory();
    const q = T.randn([2, 2, 16, 8], { seed: 1, requiresGrad: true });
    const k = T.randn([2, 2, 16, 8], { seed: 2, requiresGrad: true });
    const vBase = T.randn([2, 2, 8, 16], { seed: 3, requiresGrad: true });
    const v = vBase.transpose(-1, -2); // not contiguous: attention saves its own copy
    const o = T.attention(q, k, v);
    const n = T.rmsNorm(o, null);
    const idx = T.tensor([0, 3, 3], { dtype: "int32" });
    const sel = n.indexSelect(2, idx);
    const loss = sel.sum();
    loss.backward();
    for (const t of [loss, sel, n, o, idx, q, k, v, vBase]) t.dispose();
    const after = T.memory();
    assert.equal(after.liveTensors, before.liveTensors);
    assert.equal(after.liveBytes, before.liveBytes);
  });

  it("backward never frees tensors the caller passed in that are not differentiable inputs (targets, indices)", () => {
    const logits = T.randn([4, 5], { seed: 1, requiresGrad: true });
    const tgt = T.tensor([1, 0, 4, 2], { dtype: "int32" });
    T.crossEntropy(logits, tgt).backward();
    assert.ok(!tgt.isDisposed);
    assert.deepEqual(tgt.tolist(), [1, 0, 4, 2]);
    const idx = T.tensor([2, 2], { dtype: "int32" });
    logits.gather(1, idx.reshape(1, 2).expand(4, 2)).sum().backward();
    assert.deepEqual(idx.tolist(), [2, 2]);
  });

  it("tidy disposes on throw too", () => {
    const before = T.memory().liveTensors;
    assert.throws(() =>
      T.tidy(() => {
        T.ones([4]);
        throw new Error("boom");
      }),
    );
    assert.equal(T.memory().liveTensors, before);
  });

  it("dispose frees storage into the pool; views keep it alive until they go", () => {
    T.emptyPool();
    const m0 = T.memory();
    const a = T.zeros([1024]);
    const v = a.slice(0, 10, 20);
    a.dispose();
    assert.equal(T.memory().liveBytes, m0.liveBytes + 4096, "view keeps the storage");
    assert.throws(() => a.toArray(), /was disposed/);
    assert.throws(() => a.add(1), /add: tensor of shape \[1024\] was disposed/);
    v.dispose();
    const m1 = T.memory();
    assert.equal(m1.liveBytes, m0.liveBytes);
    assert.equal(m1.pooledBytes, m0.pooledBytes + 4096);
    const b = T.zeros([1024]); // reuses the pooled buffer, zeroed
    assert.equal(T.memory().pooledBytes, m0.pooledBytes);
    assert.equal(b.sum().item(), 0);
    b.dispose();
    a.dispose(); // idempotent
  });

  it("buffers come in size classes: a freed buffer serves nearby lengths, zeroed when asked", () => {
    assert.equal(sizeClass(64), 64);
    assert.equal(sizeClass(1000), 1024);
    assert.equal(sizeClass(1025), 1280);
    assert.equal(sizeClass(1280), 1280);
    for (const n of [65, 100, 777, 4097, 123457]) {
      const c = sizeClass(n);
      assert.ok(c >= n && c <= n * 1.25, `${n} -> ${c}`);
      assert.equal(sizeClass(c), c, `${c} is a class`);
    }
    T.emptyPool();
    const m0 = T.memory();
    const a = T.full([1000], 7);
    assert.equal(
      T.memory().liveBytes,
      m0.liveBytes + 4000,
      "live bytes count the tensor's elements",
    );
    a.dispose();
    assert.equal(T.memory().pooledBytes, m0.pooledBytes + 4096, "the whole block is pooled");
    const b = T.zeros([900]); // the same block, zeroed
    assert.equal(T.memory().pooledBytes, m0.pooledBytes);
    const vals = b.toArray() as Float32Array;
    assert.equal(vals.length, 900);
    assert.ok(vals.every((x) => x === 0));
    const c = T.ones([3, 300]).add(b.reshape([3, 300]));
    assert.equal(c.sum().item(), 900);
    b.dispose();
    c.dispose();
    // A wrapped view into a larger buffer (a Node Buffer's slab) is never pooled whole.
    T.emptyPool();
    const slab = new ArrayBuffer(8192);
    const w = T.fromStorage(new Float32Array(slab, 0, 1000), [1000], "float32");
    w.dispose();
    assert.equal(T.memory().pooledBytes, 0, "a view into a shared buffer stays out of the pool");
  });

  it("the finalizer reclaims tensors that were never disposed", async function () {
    const gc = getGc();
    const before = T.memory().liveTensors;
    (() => {
      for (let i = 0; i < 100; i++) T.ones([16]);
    })();
    assert.equal(T.memory().liveTensors, before + 100);
    for (let i = 0; i < 10 && T.memory().liveTensors > before; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    // Earlier tests' abandoned tensors may be reclaimed too, hence <=.
    assert.ok(T.memory().liveTensors <= before, `${T.memory().liveTensors} live, ${before} before`);
  });

  it("a kept tensor disposed inside tidy is released once, even when collected later", async () => {
    const gc = getGc();
    T.tidy(() => {
      const k = T.keep(T.zeros([3], { dtype: "int32" }));
      k.dispose();
    });
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((r) => setImmediate(r));
    }
    // A second release used to pool the empty Float32Array stand-in, which the next empty
    // int32 tensor then got as its storage.
    for (let i = 0; i < 4; i++) {
      const e = T.zeros([0], { dtype: "int32" });
      assert.ok(e._storage.data instanceof Int32Array, "an empty int32 tensor has int32 storage");
      e.dispose();
    }
  });
});
