/** Autograd: accumulation, noGrad, detach, retainGraph, custom ops, anomaly mode. */
import * as assert from "node:assert/strict";
import * as T from "../../../lib/tensor/index.js";

describe("autograd", () => {
  it("accumulates gradients across uses and backward calls", () => {
    const x = T.tensor([1, 2, 3], { requiresGrad: true });
    const y = x.mul(x).add(x).sum(); // d/dx = 2x + 1
    y.backward();
    assert.deepEqual(x.grad!.tolist(), [3, 5, 7]);
    x.mul(2).sum().backward();
    assert.deepEqual(x.grad!.tolist(), [5, 7, 9]);
    x.zeroGrad();
    assert.equal(x.grad, null);
  });

  it("leaf grads are independent tensors even when one gradient flows to several leaves", () => {
    const a = T.ones([2], { requiresGrad: true });
    const b = T.ones([2], { requiresGrad: true });
    a.add(b).sum().backward();
    assert.notEqual(a.grad, b.grad);
    T.noGrad(() => a.grad!.mul_(5));
    assert.deepEqual(b.grad!.tolist(), [1, 1]);
  });

  it("backward with an explicit gradient; clear error for non-scalar without one", () => {
    const x = T.tensor([1, 2], { requiresGrad: true });
    const y = x.mul(3);
    assert.throws(() => y.backward(), /implicitly created only for scalar outputs.*shape \[2\]/);
    y.backward(T.tensor([1, 10]));
    assert.deepEqual(x.grad!.tolist(), [3, 30]);
    assert.throws(
      () => x.mul(2).backward(T.ones([3])),
      /gradient shape \[3\] does not match tensor shape \[2\]/,
    );
    assert.throws(() => T.ones([1]).backward(), /does not require grad/);
  });

  it("never modifies, disposes or aliases the gradient passed to backward", () => {
    const x = T.ones([2], { requiresGrad: true });
    const g = T.tensor([1, 2]);
    x.add(0).backward(g);
    x.add(0).backward(g);
    const y = x.mul(1);
    y.add(y).backward(g); // g flows to two uses
    assert.ok(!g.isDisposed);
    assert.deepEqual(g.tolist(), [1, 2]);
    assert.notEqual(x.grad, g);
    assert.deepEqual(x.grad!.tolist(), [4, 8]);
  });

  it("refuses a second backward unless retainGraph", () => {
    const x = T.tensor([2], { requiresGrad: true });
    assert.throws(
      () =>
        x
          .exp()
          .sum()
          .backward({ retainGraph: true } as never),
      /backward\(gradient\?, opts\?\): gradient must be a Tensor/,
    );
    const z = x.exp().sum();
    z.backward(undefined, { retainGraph: true });
    z.backward();
    assert.throws(() => z.backward(), /second time/);
  });

  it("noGrad records nothing; detach cuts the graph; requiresGrad_ only on leaves", () => {
    const x = T.ones([2], { requiresGrad: true });
    const y = T.noGrad(() => x.mul(2));
    assert.equal(y.requiresGrad, false);
    assert.equal(y.gradFn, null);
    const z = x.mul(2);
    assert.equal(z.gradFn, "mul");
    const d = z.detach();
    assert.equal(d.requiresGrad, false);
    assert.equal(d._storage, z._storage);
    assert.throws(() => z.requiresGrad_(false), /only leaf tensors/);
    const w = x.mul(3).retainGrad();
    w.sum().backward();
    assert.deepEqual(w.grad!.tolist(), [1, 1]);
  });

  it("defineOp: a custom op with its own backward", () => {
    const cube = T.defineOp({
      name: "cube",
      forward(ctx, x) {
        ctx.save(x);
        return x.mul(x).mul(x);
      },
      backward(ctx, g) {
        const [x] = ctx.saved;
        return [g.mul(x.mul(x)).mul(3)];
      },
    });
    const x = T.tensor([1, 2], { requiresGrad: true });
    const y = cube(x);
    assert.equal(y.gradFn, "cube");
    y.sum().backward();
    assert.deepEqual(x.grad!.tolist(), [3, 12]);
    const bad = T.defineOp({
      name: "bad",
      forward: (_c, x) => x.mul(1),
      backward: () => [T.ones([5])],
    });
    assert.throws(
      () =>
        bad(T.ones([2], { requiresGrad: true }))
          .sum()
          .backward(),
      /custom op 'bad': backward returned shape \[5\] for input 0 of shape \[2\]/,
    );
    assert.equal(T.customOp, T.defineOp);
  });

  it("anomaly mode names the op that produced the first NaN/Inf (forward and backward)", () => {
    const x = T.tensor([1, 0, 2], { requiresGrad: true });
    assert.throws(
      () => T.detectAnomaly(() => x.log().mul(0).add(1)),
      /anomaly: op 'log' produced -Inf at flat index 1/,
    );
    const y = T.tensor([0, 1], { requiresGrad: true });
    assert.throws(
      () => T.detectAnomaly(() => y.sqrt().sum().backward()),
      /anomaly: backward of op 'sqrt' produced Inf/,
    );
    // Off by default: no throw.
    const z = x.log();
    assert.equal(z.toArray()[1], -Infinity);
    T.setAnomalyDetection(true);
    try {
      assert.throws(() => T.tensor([1]).div(0), /op 'div'/);
    } finally {
      T.setAnomalyDetection(false);
    }
  });

  it("gradients flow through views, broadcasting and in-place-free graphs (diamond)", () => {
    const x = T.randn([3, 4], { seed: 1, requiresGrad: true });
    const a = x.transpose().reshape(2, 6);
    const b = x.sum(0, true).expand(3, 4);
    const loss = a.square().sum().add(b.mul(x).sum());
    loss.backward();
    // d/dx [sum x² + sum_j (sum_i x_ij) * sum_i x_ij] = 2x + 2 * colsum
    const xs = x.toArray();
    const cs = x.sum(0).toArray();
    const g = x.grad!.toArray();
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 4; j++)
        assert.ok(Math.abs(g[i * 4 + j] - (2 * xs[i * 4 + j] + 2 * cs[j])) < 1e-5);
  });

  it("a tensor used directly and through a longer path gets both shares, in either input order", () => {
    // The residual pattern x + f(x): the direct use comes first, the longer path second.
    const c = T.tensor([0.9, 0.5], { requiresGrad: true });
    c.add(c.sum())
      .mul(T.tensor([1, -2]))
      .sum()
      .backward();
    assert.deepEqual(c.grad!.tolist(), [0, -3]); // g + Σg
    const d = T.tensor([[0.9, 0.5]], { requiresGrad: true });
    d.div(d.sum(-1, true))
      .mul(T.tensor([[1, -2]]))
      .sum()
      .backward();
    // w = d / S: dL/dd_j = g_j / S - Σ g_i d_i / S²
    const S = 1.4;
    const dot = 0.9 - 1.0;
    const want = [1 / S - dot / S ** 2, -2 / S - dot / S ** 2];
    d.grad!.toArray().forEach((v, i) =>
      assert.ok(Math.abs(v - want[i]) < 1e-6, `${v} vs ${want[i]}`),
    );
  });

  it("a gradient passed unchanged to two inputs survives a first input whose sum is out of place", () => {
    // cat's backward hands p and x views; add then passes g itself to both its inputs.
    const x = T.tensor([1, 2], { requiresGrad: true });
    const p = x.mul(2);
    T.cat([p, x])
      .sum()
      .add(p.add(x.mul(3)).sum())
      .backward();
    assert.deepEqual(x.grad!.tolist(), [8, 8]);
    const y = T.tensor([1, 2], { requiresGrad: true });
    const a = y.mul(2);
    T.cat([y, a]).sum().add(a.add(y).sum()).backward();
    assert.deepEqual(y.grad!.tolist(), [6, 6]);
  });

  it("transposing a scalar keeps its graph", () => {
    const x = T.tensor([1, 2], { requiresGrad: true });
    const t = x.sum().T.mul(3);
    assert.equal(t.requiresGrad, true);
    t.add(x.sum()).backward();
    assert.deepEqual(x.grad!.tolist(), [4, 4]);
  });

  it("a deep residual stack (non-leaf x + f(x), 12 times) matches finite differences", () => {
    const W = T.randn([4, 4], { seed: 3, std: 0.3 });
    const f = (x0: T.Tensor): T.Tensor => {
      let h = x0.mul(1.5); // a non-leaf start, so every residual input is an op's output
      for (let l = 0; l < 12; l++) h = h.add(T.tanh(T.matmul(h, W)));
      return h.square().sum();
    };
    const x = T.randn([2, 4], { seed: 4, requiresGrad: true });
    f(x).backward();
    const g = x.grad!.toArray();
    const xv = x.toArray();
    const eps = 1e-2;
    for (let i = 0; i < xv.length; i++) {
      const p = Float32Array.from(xv);
      const m = Float32Array.from(xv);
      p[i] += eps;
      m[i] -= eps;
      const fd = T.noGrad(
        () =>
          (f(T.tensor(p, { shape: [2, 4] })).item() - f(T.tensor(m, { shape: [2, 4] })).item()) /
          (2 * eps),
      );
      assert.ok(Math.abs(g[i] - fd) <= 2e-2 * Math.max(1, Math.abs(fd)), `[${i}] ${g[i]} vs ${fd}`);
    }
  });

  it("in-place updates refuse tensors that require grad outside noGrad", () => {
    const p = T.ones([2], { requiresGrad: true });
    assert.throws(() => p.add_(1), /in-place update of a tensor that requires grad/);
    T.noGrad(() => {
      p.mul_(3)
        .add_(T.tensor([1, 2]), 2)
        .sub_(1);
      p.addcmul_(T.tensor([1, 1]), T.tensor([2, 3]), 0.5).addcdiv_(
        T.tensor([1, 1]),
        T.tensor([2, 4]),
        2,
      );
    });
    // [1,1] *3 -> [3,3] +2*[1,2] -> [5,7] -1 -> [4,6] +0.5*[2,3] -> [5,7.5] +2*[1/2,1/4] -> [6,8]
    assert.deepEqual(p.tolist(), [6, 8]);
  });
});
