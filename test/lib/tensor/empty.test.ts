/** Tensors with a zero-sized dimension: views, copies and ops give empty results, not offset errors. */
import { strict as assert } from "node:assert";
import * as T from "../../../lib/tensor/index.js";

describe("tensor: empty shapes", () => {
  it("a transposed empty tensor made contiguous (once 'offset is out of bounds')", () => {
    const t = T.zeros([2, 0, 4]).transpose(0, 1).contiguous();
    assert.deepEqual(t.shape, [0, 2, 4]);
    assert.equal(t.toArray().length, 0);
    const u = T.zeros([3, 0]).transpose(0, 1).contiguous();
    assert.deepEqual(u.shape, [0, 3]);
  });

  it("elementwise ops, broadcasting and matmul over empty operands", () => {
    const a = T.zeros([0, 2, 4]).transpose(0, 1);
    const b = T.ones([4]);
    const s = a.add(b).mul(b);
    assert.deepEqual(s.shape, [2, 0, 4]);
    assert.equal(s.toArray().length, 0);
    const m = T.zeros([2, 0, 3]).matmul(T.ones([3, 5]));
    assert.deepEqual(m.shape, [2, 0, 5]);
    // K = 0: an empty sum is 0 in every entry of a non-empty result.
    const k0 = T.ones([2, 0]).matmul(T.ones([0, 3]));
    assert.deepEqual(Array.from(k0.toArray()), [0, 0, 0, 0, 0, 0]);
  });

  it("reductions over an empty dim: sum 0, and gradients flow through empty views", () => {
    const x = T.zeros([3, 0]);
    assert.deepEqual(Array.from(x.sum(-1).toArray()), [0, 0, 0]);
    const w = T.randn([0, 4], { seed: 1, requiresGrad: true });
    const y = w.transpose(0, 1).contiguous().mul(2).sum();
    assert.equal(y.item(), 0);
    y.backward();
    assert.deepEqual(w.grad!.shape, [0, 4]);
  });
});
