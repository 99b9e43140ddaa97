/** Bad input gives clear errors naming the op and what was wrong; nothing crashes. */
import * as assert from "node:assert/strict";
import * as T from "../../../lib/tensor/index.js";
import { native } from "../../../lib/tensor/native.js";
import { NO_ADDON, skipBecause } from "../../helpers/env.js";

describe("tensor errors", () => {
  it("shape mismatches name the op and both shapes", () => {
    assert.throws(
      () => T.ones([2, 3]).add(T.ones([4])),
      /add: shapes \[2, 3\] and \[4\] are not broadcastable/,
    );
    assert.throws(
      () => T.ones([2, 3]).matmul(T.ones([4, 5])),
      /matmul: shapes \[2, 3\] and \[4, 5\] cannot be multiplied/,
    );
    assert.throws(
      () => T.bmm(T.ones([2, 3, 4]), T.ones([3, 4, 5])),
      /bmm: expected \[B, M, K\] and \[B, K, N\] with equal B, got \[2, 3, 4\] and \[3, 4, 5\]/,
    );
    assert.throws(
      () => T.ones([6]).reshape(4, 2),
      /reshape: cannot reshape tensor of shape \[6\] \(6 elements\) into \[4, 2\]/,
    );
    assert.throws(
      () => T.cat([T.ones([2, 3]), T.ones([2, 4])], 0),
      /cat: shapes \[2, 3\] and \[2, 4\] differ outside dim 0/,
    );
    assert.throws(
      () => T.swiglu(T.ones([2]), T.ones([3])),
      /swiglu: shapes \[2\] and \[3\] must match/,
    );
    assert.throws(
      () => T.rmsNorm(T.ones([2, 4]), T.ones([3])),
      /rmsNorm: weight shape \[3\] does not match the last dim of \[2, 4\]/,
    );
    assert.throws(
      () => T.crossEntropy(T.ones([2, 4]), T.ones([3], { dtype: "int32" })),
      /crossEntropy: logits \[2, 4\] need targets of shape \[2\], got \[3\]/,
    );
    assert.throws(
      () => T.ones([2, 3]).expand(4, 3),
      /expand: cannot expand shape \[2, 3\] to \[4, 3\]/,
    );
    assert.throws(
      () => T.ones([2]).add_(T.ones([2, 2])),
      /add_: shape \[2, 2\] cannot be broadcast to \[2\]/,
    );
    assert.throws(
      () => T.ones([2, 3]).sum(2),
      /sum: dim 2 is out of range for a tensor with 2 dims/,
    );
    assert.throws(() => T.tensor([[1, 2], [3]]), /ragged nested array at index \[1\]/);
  });

  it("dtype mismatches", () => {
    assert.throws(
      () => T.ones([3]).gather(0, T.ones([3])),
      /gather: index must be an int32 tensor, got float32/,
    );
    assert.throws(() => T.crossEntropy(T.ones([2, 3]), T.ones([2])), /targets must be int32/);
    assert.throws(() => T.bincount(T.ones([3])), /bincount: expected an int32 tensor/);
    assert.throws(
      () => T.softmax(T.ones([3], { dtype: "int32" })),
      /softmax: input must be float32, got int32/,
    );
    assert.throws(() => T.zeros([2], { dtype: "float16" as never }), /unknown dtype "float16"/);
    assert.throws(
      () => T.ones([2], { dtype: "int32", requiresGrad: true }),
      /requiresGrad needs a float32 tensor/,
    );
  });

  it("indices out of range", () => {
    assert.throws(
      () => T.ones([3, 4]).gather(1, T.tensor([[4]], { dtype: "int32" })),
      /gather: index 4 is out of range for dim 1 of size 4/,
    );
    assert.throws(
      () => T.ones([3, 4]).indexSelect(0, T.tensor([-1], { dtype: "int32" })),
      /indexSelect: index -1 is out of range for dim 0 of size 3/,
    );
    assert.throws(
      () => T.embedding(T.ones([5, 2]), T.tensor([5], { dtype: "int32" })),
      /index 5 is out of range for dim 0 of size 5/,
    );
    assert.throws(
      () => T.crossEntropy(T.ones([2, 3]), T.tensor([0, 3], { dtype: "int32" })),
      /target 3 at position 1 is out of range for 3 classes/,
    );
    assert.throws(
      () => T.tensor([1, 5], { dtype: "int32" }).oneHot(3),
      /oneHot: index 5 is out of range for 3 classes/,
    );
    assert.throws(
      () => T.bincount(T.tensor([1, -2], { dtype: "int32" })),
      /bincount: values must be non-negative, found -2/,
    );
    assert.throws(
      () => T.ones([3]).select(0, 3),
      /select: index 3 is out of range for dim 0 of size 3/,
    );
    assert.throws(() => T.ones([3]).topk(4), /topk: k=4 is out of range/);
  });

  it("disposed tensors and non-scalar backward", () => {
    const x = T.ones([2], { requiresGrad: true });
    const y = x.mul(2);
    y.dispose();
    assert.throws(() => y.sum(), /sum: tensor of shape \[2\] was disposed/);
    const z = x.exp();
    assert.throws(() => z.backward(), /grad can be implicitly created only for scalar outputs/);
    const w = T.ones([2], { requiresGrad: true });
    const s = w.mul(w);
    w.dispose();
    assert.throws(() => s.sum().backward(), /was disposed/);
    const v = T.ones([3], { requiresGrad: true });
    const p = v.softmax(-1);
    const l = p.mul(T.tensor([1, 2, 3])).sum();
    p.dispose();
    assert.throws(() => l.backward(), /backward of 'mul': tensor of shape \[3\] was disposed/);
  });

  it("native kernels check their arguments instead of reading out of bounds", function () {
    if (native.opsSoftmax === undefined) skipBecause(this, NO_ADDON);
    const f = new Float32Array(4);
    assert.throws(
      () => native.opsSoftmax!(f, f, 2, 4, false),
      /opsSoftmax: x has 4 elements, needs 8/,
    );
    assert.throws(
      () => native.opsSoftmax!(new Int32Array(8) as never, f, 1, 4, false),
      /x must be a Float32Array/,
    );
    assert.throws(
      () => native.opsBinary2d!(0, f, 0, 0, 1, f, 0, 0, 1, f, 1, 1, 4),
      /out has 4 elements, needs 5/,
    );
    assert.throws(
      () => native.opsBinary2d!(0, f, 3, 0, 1, f, 0, 0, 1, f, 0, 1, 4),
      /a has 4 elements, needs 7/,
    );
    assert.throws(
      () => native.opsCrossEntropy!(f, new Int32Array([5]), f, f, 1, 4, -100),
      /target 5 at row 0 is out of range for 4 classes/,
    );
    assert.throws(() => native.opsRope!(f, f, f, f, 1, 1, 1, 3, false), /d must be even/);
    assert.throws(() => native.opsReduce!(0, f, f, 1, -1, 1), /r must be a non-negative integer/);
    assert.throws(
      () => (native.opsUnary as never as (...a: unknown[]) => void)(0, f),
      /expected 6 arguments/,
    );
    assert.throws(() => native.opsUnary!(99, f, f, 4, 0, 0), /unknown op 99/);
    assert.throws(
      () => native.opsGatherRows!(f, new Int32Array([0, 4]), new Float32Array(8), 1, 4, 2, 1),
      /opsGatherRows: index 4 at position 1 is out of range for size 4/,
    );
    assert.throws(
      () => native.opsScatterAddRows!(f, new Int32Array([-1]), f, 1, 4, 1, 1),
      /opsScatterAddRows: index -1 at position 0 is out of range/,
    );
  });
});
