/** Every op's forward and gradient against TensorFlow.js on random shapes (incl. broadcasting, odd sizes, transposes). */
import * as assert from "node:assert/strict";
import * as T from "../../../lib/tensor/index.js";
import { compareWithTf, rng, randInt, tf, TfT, assertClose } from "./oracle.js";

const quick = process.env.MOELAB_QUICK === "1";

function bc(a: TfT, b: TfT): [TfT, TfT] {
  const n = Math.max(a.rank, b.rank);
  const pa = [...Array(n - a.rank).fill(1), ...a.shape];
  const pb = [...Array(n - b.rank).fill(1), ...b.shape];
  const s = pa.map((d, i) => Math.max(d, pb[i]));
  return [tf.broadcastTo(a, s), tf.broadcastTo(b, s)];
}

function randShape(r: () => number, nd: number, max = 7): number[] {
  return Array.from({ length: nd }, () => randInt(r, 1, max));
}

/** A shape b that broadcasts against a: some dims set to 1, some leading dims dropped. */
function broadcastOf(r: () => number, a: number[]): number[] {
  const drop = randInt(r, 0, a.length - 1);
  return a.slice(drop).map((d) => (r() < 0.4 ? 1 : d));
}

describe("tensor ops vs TensorFlow.js", () => {
  describe("binary elementwise with broadcasting", () => {
    const ops: [
      string,
      (a: T.Tensor, b: T.Tensor) => T.Tensor,
      (a: TfT, b: TfT) => TfT,
      boolean?,
    ][] = [
      ["add", (a, b) => a.add(b), (a, b) => a.add(b)],
      ["sub", (a, b) => a.sub(b), (a, b) => a.sub(b)],
      ["mul", (a, b) => a.mul(b), (a, b) => a.mul(b)],
      ["div", (a, b) => a.div(b), (a, b) => a.div(b), true],
      ["pow", (a, b) => a.pow(b), (a, b) => a.pow(b), true],
      // tfjs's maximum/minimum gradients mishandle broadcasting, so broadcast explicitly.
      ["maximum", (a, b) => T.maximum(a, b), (a, b) => tf.maximum(...bc(a, b))],
      ["minimum", (a, b) => T.minimum(a, b), (a, b) => tf.minimum(...bc(a, b))],
    ];
    for (const [name, mine, ref, positive] of ops)
      it(`${name}: same shape, broadcast, large (native path), transposed`, () => {
        const r = rng(name.length * 31);
        for (let k = 0; k < (quick ? 2 : 4); k++) {
          const a = randShape(r, randInt(r, 1, 4));
          compareWithTf({ name: `${name} ${a}`, shapes: [a, a], mine, ref, positive, seed: k });
          const b = broadcastOf(r, a);
          compareWithTf({
            name: `${name} ${a} ${b}`,
            shapes: [a, b],
            mine,
            ref,
            positive,
            seed: k + 10,
          });
          compareWithTf({
            name: `${name} ${b} ${a}`,
            shapes: [b, a],
            mine,
            ref,
            positive,
            seed: k + 20,
          });
        }
        compareWithTf({ name: `${name} big`, shapes: [[33, 129], [129]], mine, ref, positive });
        compareWithTf({
          name: `${name} big col`,
          shapes: [
            [65, 1],
            [65, 77],
          ],
          mine,
          ref,
          positive,
        });
        compareWithTf({
          name: `${name} transposed`,
          shapes: [
            [37, 71],
            [37, 71],
          ],
          mine,
          ref,
          positive,
          transposed: [0],
        });
      });
    it("scalar operands", () => {
      compareWithTf({
        name: "add scalar",
        shapes: [[3, 5]],
        mine: (a) => a.add(2.5),
        ref: (a) => a.add(2.5),
      });
      compareWithTf({
        name: "mul scalar",
        shapes: [[50, 60]],
        mine: (a) => a.mul(-3),
        ref: (a) => a.mul(-3),
      });
      compareWithTf({
        name: "div scalar",
        shapes: [[4]],
        mine: (a) => a.div(4),
        ref: (a) => a.div(4),
      });
      compareWithTf({
        name: "sub alpha",
        shapes: [[4], [4]],
        mine: (a, b) => a.sub(b, 2),
        ref: (a, b) => a.sub(b.mul(2)),
      });
      compareWithTf({
        name: "pow scalar",
        shapes: [[6, 7]],
        mine: (a) => a.pow(3),
        ref: (a) => a.pow(3),
      });
    });
    it("comparisons give int32 masks", () => {
      const a = T.tensor([1, 2, 3]);
      assert.deepEqual(Array.from(a.gt(1.5).toArray()), [0, 1, 1]);
      assert.equal(a.eq(2).dtype, "int32");
      assert.deepEqual(Array.from(a.le(T.tensor([1, 1, 4])).toArray()), [1, 0, 1]);
    });
  });

  describe("unary", () => {
    const ops: [string, (a: T.Tensor) => T.Tensor, (a: TfT) => TfT, boolean?][] = [
      ["neg", (a) => a.neg(), (a) => a.neg()],
      ["exp", (a) => a.exp(), (a) => a.exp()],
      ["log", (a) => a.log(), (a) => a.log(), true],
      ["sqrt", (a) => a.sqrt(), (a) => a.sqrt(), true],
      ["rsqrt", (a) => a.rsqrt(), (a) => a.rsqrt(), true],
      ["abs", (a) => a.abs(), (a) => a.abs()],
      ["sigmoid", (a) => a.sigmoid(), (a) => a.sigmoid()],
      ["silu", (a) => a.silu(), (a) => a.mul(a.sigmoid())],
      ["tanh", (a) => a.tanh(), (a) => a.tanh()],
      ["relu", (a) => a.relu(), (a) => a.relu()],
      ["clamp", (a) => a.clamp(-0.5, 0.7), (a) => a.clipByValue(-0.5, 0.7)],
      ["square", (a) => a.square(), (a) => a.square()],
    ];
    for (const [name, mine, ref, positive] of ops)
      it(name, () => {
        compareWithTf({ name, shapes: [[3, 5]], mine, ref, positive });
        compareWithTf({ name: `${name} native`, shapes: [[41, 67]], mine, ref, positive });
        compareWithTf({
          name: `${name} strided`,
          shapes: [[9, 13]],
          mine,
          ref,
          positive,
          transposed: [0],
        });
      });
  });

  describe("reductions", () => {
    it("sum / mean over dims with keepdim", () => {
      const r = rng(3);
      for (let k = 0; k < (quick ? 3 : 6); k++) {
        const s = randShape(r, randInt(r, 1, 4), 9);
        const d = randInt(r, 0, s.length - 1);
        const keep = r() < 0.5;
        compareWithTf({
          name: `sum ${s} ${d}`,
          shapes: [s],
          mine: (a) => a.sum(d, keep),
          ref: (a) => a.sum(d, keep),
          seed: k,
        });
        compareWithTf({
          name: `mean ${s} ${d}`,
          shapes: [s],
          mine: (a) => a.mean(d, keep),
          ref: (a) => a.mean(d, keep),
          seed: k,
        });
      }
      compareWithTf({
        name: "sum all",
        shapes: [[4, 5, 6]],
        mine: (a) => a.sum(),
        ref: (a) => a.sum(),
      });
      compareWithTf({
        name: "mean dims",
        shapes: [[4, 5, 6]],
        mine: (a) => a.mean([0, 2]),
        ref: (a) => a.mean([0, 2]),
      });
      compareWithTf({
        name: "sum big last",
        shapes: [[64, 300]],
        mine: (a) => a.sum(-1),
        ref: (a) => a.sum(-1),
      });
      compareWithTf({
        name: "sum big first",
        shapes: [[300, 64]],
        mine: (a) => a.sum(0),
        ref: (a) => a.sum(0),
      });
      compareWithTf({
        name: "sum strided",
        shapes: [[30, 70]],
        mine: (a) => a.sum(1),
        ref: (a) => a.sum(1),
        transposed: [0],
      });
    });
    it("max / min / argmax / argmin", () => {
      for (const shape of [
        [5, 7],
        [40, 130],
      ]) {
        compareWithTf({
          name: "max dim",
          shapes: [shape],
          mine: (a) => a.max(1),
          ref: (a) => a.max(1),
        });
        compareWithTf({
          name: "min dim0",
          shapes: [shape],
          mine: (a) => a.min(0, true),
          ref: (a) => a.min(0, true),
        });
        compareWithTf({
          name: "max all",
          shapes: [shape],
          mine: (a) => a.max(),
          ref: (a) => a.max(),
        });
        const x = T.randn(shape, { seed: 5 });
        const tx = tf.tensor(Array.from(x.toArray()), shape);
        assert.deepEqual(Array.from(x.argmax(1).toArray()), Array.from(tx.argMax(1).dataSync()));
        assert.deepEqual(Array.from(x.argmin(0).toArray()), Array.from(tx.argMin(0).dataSync()));
        assert.equal(x.argmax().item(), tx.reshape([-1]).argMax().dataSync()[0]);
      }
    });
    it("topk, sort, argsort", () => {
      // tfjs has no TopK gradient: compare values here; gradients are checked below by scatter.
      compareWithTf({
        name: "topk",
        shapes: [[6, 11]],
        mine: (a) => a.topk(4).values,
        ref: (a) => tf.topk(a, 4).values,
        noGrad: true,
      });
      const xg = T.randn([4, 6], { seed: 3 }).requiresGrad_();
      const tk = xg.topk(2);
      tk.values.sum().backward();
      const gsum = xg.grad!.sum(1).toArray();
      assert.deepEqual(Array.from(gsum), [2, 2, 2, 2]);
      const gi = xg.grad!.gather(1, tk.indices).toArray();
      assert.deepEqual(Array.from(gi), Array(8).fill(1));
      const x = T.randn([5, 9], { seed: 2 });
      const { values, indices } = x.topk(3, -1, false);
      const tv = tf.topk(tf.tensor(Array.from(x.neg().toArray()), [5, 9]), 3);
      assertClose(
        values.toArray(),
        tv.values.neg().dataSync() as Float32Array,
        1e-7,
        "topk smallest",
      );
      assert.deepEqual(Array.from(indices.toArray()), Array.from(tv.indices.dataSync()));
      const s = x.sort(1);
      const ts = tf.topk(tf.tensor(Array.from(x.toArray()), [5, 9]), 9);
      assert.deepEqual(Array.from(x.argsort(1, true).toArray()), Array.from(ts.indices.dataSync()));
      const sv = s.values.toArray();
      for (let i = 0; i < 5; i++)
        for (let j = 1; j < 9; j++)
          assert.ok(sv[i * 9 + j - 1] <= sv[i * 9 + j], "sorted ascending");
      // sort along dim 0 with gradient
      compareWithTf({
        name: "sort dim0",
        shapes: [[7, 3]],
        mine: (a) => a.sort(0, true).values,
        ref: (a) => tf.topk(a.transpose(), 7).values.transpose(),
        noGrad: true,
      });
    });
    it("topk orders ties by index and NaN as largest (small-k and sort paths agree)", () => {
      const x = T.tensor([1, NaN, 3, 3, 2]);
      const small = x.topk(3);
      assert.deepEqual(Array.from(small.indices.toArray()), [1, 2, 3]);
      const all = x.sort(0, true);
      assert.deepEqual(Array.from(all.indices.toArray()), [1, 2, 3, 4, 0]);
      assert.deepEqual(Array.from(x.topk(2, 0, false).indices.toArray()), [0, 4]);
      const r = T.randn([7, 40], { seed: 11 });
      for (const k of [1, 5, 16, 17, 40]) {
        assert.deepEqual(
          Array.from(r.topk(k).indices.toArray()),
          Array.from(r.argsort(-1, true).slice(1, 0, k).contiguous().toArray()),
          `k=${k}`,
        );
      }
    });
    it("cumsum", () => {
      compareWithTf({
        name: "cumsum 1",
        shapes: [[4, 9]],
        mine: (a) => a.cumsum(1),
        ref: (a) => a.cumsum(1),
      });
      // tfjs's cumsum gradient breaks on axis 0, so the reference transposes.
      compareWithTf({
        name: "cumsum 0",
        shapes: [[6, 3]],
        mine: (a) => a.cumsum(0),
        ref: (a) => a.transpose().cumsum(1).transpose(),
      });
      compareWithTf({
        name: "cumsum 3d",
        shapes: [[2, 3, 5]],
        mine: (a) => a.cumsum(2),
        ref: (a) => a.cumsum(2),
      });
    });
    it("bincount", () => {
      const x = T.tensor([0, 3, 1, 3, 3], { dtype: "int32" });
      assert.deepEqual(Array.from(x.bincount().toArray()), [1, 1, 0, 3]);
      assert.deepEqual(Array.from(T.bincount(x, 6).toArray()), [1, 1, 0, 3, 0, 0]);
      const tfb = tf.bincount(tf.tensor1d([0, 3, 1, 3, 3], "int32"), tf.tensor1d([], "float32"), 4);
      assert.deepEqual(Array.from(x.bincount().toArray()), Array.from(tfb.dataSync()));
    });
  });

  describe("shape ops", () => {
    it("reshape, transpose, permute, squeeze, unsqueeze, expand, flatten", () => {
      compareWithTf({
        name: "reshape",
        shapes: [[4, 6]],
        mine: (a) => a.reshape(3, -1, 2).mul(2),
        ref: (a) => a.reshape([3, 4, 2]).mul(2),
      });
      compareWithTf({
        name: "transpose",
        shapes: [[4, 6]],
        mine: (a) => a.transpose().mul(a.transpose()),
        ref: (a) => a.transpose().mul(a.transpose()),
      });
      compareWithTf({
        name: "permute",
        shapes: [[2, 3, 4]],
        mine: (a) => a.permute(2, 0, 1).exp(),
        ref: (a) => a.transpose([2, 0, 1]).exp(),
      });
      compareWithTf({
        name: "reshape of permuted",
        shapes: [[2, 3, 4]],
        mine: (a) => a.permute(1, 0, 2).reshape(-1),
        ref: (a) => a.transpose([1, 0, 2]).reshape([-1]),
      });
      compareWithTf({
        name: "squeeze",
        shapes: [[3, 1, 4]],
        mine: (a) => a.squeeze(1).unsqueeze(0),
        ref: (a) => a.squeeze([1]).expandDims(0),
      });
      compareWithTf({
        name: "expand",
        shapes: [[3, 1]],
        mine: (a) => a.expand(2, 3, 5).mul(1),
        ref: (a) => tf.broadcastTo(a, [2, 3, 5]),
      });
      compareWithTf({
        name: "flatten",
        shapes: [[2, 3, 4]],
        mine: (a) => a.flatten(1),
        ref: (a) => a.reshape([2, 12]),
      });
    });
    it("slice, select, split, chunk, cat, stack", () => {
      compareWithTf({
        name: "slice",
        shapes: [[5, 8]],
        mine: (a) => a.slice(1, 2, -1),
        ref: (a) => a.slice([0, 2], [5, 5]),
      });
      compareWithTf({
        name: "slice step",
        shapes: [[5, 8]],
        mine: (a) => a.slice(1, 1, null, 3),
        ref: (a) => tf.gather(a, tf.tensor1d([1, 4, 7], "int32"), 1),
      });
      compareWithTf({
        name: "select",
        shapes: [[5, 8]],
        mine: (a) => a.select(0, -2),
        ref: (a) => a.slice([3, 0], [1, 8]).squeeze([0]),
      });
      compareWithTf({
        name: "split+cat",
        shapes: [[6, 7]],
        mine: (a) => {
          const [x, y, z] = a.split([2, 3, 2], 1);
          return T.cat([z.mul(2), x, y.exp()], 1);
        },
        ref: (a) => {
          const [x, y, z] = tf.split(a, [2, 3, 2], 1);
          return tf.concat([z.mul(2), x, y.exp()], 1);
        },
      });
      compareWithTf({
        name: "chunk+stack",
        shapes: [[6, 4]],
        mine: (a) => T.stack(a.chunk(3, 0), 1),
        ref: (a) => tf.stack(tf.split(a, 3, 0), 1),
      });
      compareWithTf({
        name: "cat dim0",
        shapes: [
          [2, 3],
          [4, 3],
        ],
        mine: (a, b) => T.cat([a, b]),
        ref: (a, b) => tf.concat([a, b]),
      });
    });
    it("tril / triu", () => {
      // tfjs's bandPart has no usable gradient here; the reference multiplies by the mask.
      const lower = tf.tensor2d(
        Array.from({ length: 20 }, (_, k) => (k % 5 <= Math.floor(k / 5) ? 1 : 0)),
        [4, 5],
      );
      const upper = tf.tensor2d(
        Array.from({ length: 16 }, (_, k) => (k % 4 >= Math.floor(k / 4) ? 1 : 0)),
        [4, 4],
      );
      compareWithTf({
        name: "tril",
        shapes: [[2, 4, 5]],
        mine: (a) => a.tril(),
        ref: (a) => a.mul(lower),
      });
      compareWithTf({
        name: "triu",
        shapes: [[4, 4]],
        mine: (a) => a.triu(),
        ref: (a) => a.mul(upper),
      });
      assert.deepEqual(
        T.ones([4, 4]).triu().tolist(),
        tf.linalg.bandPart(tf.ones([4, 4]), 0, -1).arraySync(),
      );
      const x = T.ones([3, 3]);
      assert.deepEqual(x.triu(1).tolist(), [
        [0, 1, 1],
        [0, 0, 1],
        [0, 0, 0],
      ]);
      assert.deepEqual(x.tril(-1).tolist(), [
        [0, 0, 0],
        [1, 0, 0],
        [1, 1, 0],
      ]);
    });
  });

  describe("indexing", () => {
    it("gather, indexSelect, embedding, scatterAdd", () => {
      const idx = T.tensor(
        [
          [0, 2, 2],
          [1, 1, 0],
          [3, 0, 1],
        ],
        { dtype: "int32" },
      );
      const tidx = tf.tensor(Array.from(idx.toArray()), [3, 3], "int32");
      compareWithTf({
        name: "gather dim1",
        shapes: [[3, 4]],
        mine: (a) => a.gather(1, idx),
        ref: (a) => tf.gather(a, tidx, 1, 1),
      });
      const rows = T.tensor([2, 0, 2, 1], { dtype: "int32" });
      const trows = tf.tensor1d([2, 0, 2, 1], "int32");
      compareWithTf({
        name: "indexSelect 0",
        shapes: [[3, 5]],
        mine: (a) => a.indexSelect(0, rows),
        ref: (a) => tf.gather(a, trows, 0),
      });
      compareWithTf({
        name: "indexSelect 1",
        shapes: [[2, 3, 4]],
        mine: (a) => a.indexSelect(1, rows),
        ref: (a) => tf.gather(a, trows, 1),
      });
      const many = Array.from({ length: 100 }, (_, i) => (i * 37) % 300);
      const bigIdx = T.tensor(many, { dtype: "int32" });
      const tBig = tf.tensor1d(many, "int32");
      compareWithTf({
        name: "indexSelect big (native rows)",
        shapes: [[300, 40]],
        mine: (a) => a.indexSelect(0, bigIdx),
        ref: (a) => tf.gather(a, tBig, 0),
      });
      compareWithTf({
        name: "indexSelect big middle dim",
        shapes: [[3, 300, 20]],
        mine: (a) => a.indexSelect(1, bigIdx),
        ref: (a) => tf.gather(a, tBig, 1),
      });
      const ids = T.tensor(
        [
          [1, 4],
          [4, 0],
        ],
        { dtype: "int32" },
      );
      const tids = tf.tensor2d(
        [
          [1, 4],
          [4, 0],
        ],
        [2, 2],
        "int32",
      );
      compareWithTf({
        name: "embedding",
        shapes: [[5, 3]],
        mine: (w) => T.embedding(w, ids),
        ref: (w) => tf.gather(w, tids),
      });
      // scatterAdd: gradient of gather is a scatter-add, and scatterAdd's own gradients
      const x = T.zeros([3, 4]);
      const src = T.ones([3, 3]);
      const s = x.scatterAdd(1, idx, src);
      assert.deepEqual(s.tolist(), [
        [1, 0, 2, 0],
        [1, 2, 0, 0],
        [1, 1, 0, 1],
      ]);
      compareWithTf({
        name: "scatterAdd grads",
        shapes: [
          [3, 4],
          [3, 3],
        ],
        mine: (a, b) => a.scatterAdd(1, idx, b),
        ref: (a, b) => {
          // one-hot formulation: out = a + sum_j onehot(idx[:, j]) * b[:, j]
          const oh = tf.oneHot(tidx, 4).toFloat(); // [3, 3, 4]
          return a.add(oh.mul(b.expandDims(2)).sum(1));
        },
      });
    });
    it("indexAdd (rows, repeated indices) and linear", () => {
      const idx = T.tensor([2, 0, 2], { dtype: "int32" });
      const oh = tf.oneHot(tf.tensor1d([2, 0, 2], "int32"), 4).toFloat(); // [3, 4]
      compareWithTf({
        name: "indexAdd dim0",
        shapes: [
          [4, 5],
          [3, 5],
        ],
        mine: (x, s) => x.indexAdd(0, idx, s),
        ref: (x, s) => x.add(tf.matMul(oh, s, true, false)),
      });
      compareWithTf({
        name: "indexAdd dim1",
        shapes: [
          [2, 4, 3],
          [2, 3, 3],
        ],
        mine: (x, s) => x.indexAdd(1, idx, s),
        ref: (x, s) =>
          x.add(
            tf
              .matMul(oh, s.transpose([1, 0, 2]).reshape([3, 6]), true, false)
              .reshape([4, 2, 3])
              .transpose([1, 0, 2]),
          ),
      });
      compareWithTf({
        name: "linear",
        shapes: [[2, 3, 6], [5, 6], [5]],
        mine: (x, w, b) => T.linear(x, w, b),
        ref: (x, w, b) =>
          tf
            .matMul(x.reshape([6, 6]), w, false, true)
            .add(b)
            .reshape([2, 3, 5]),
      });
      assert.throws(
        () => T.indexAdd(T.ones([3, 2]), 0, T.tensor([3], { dtype: "int32" }), T.ones([1, 2])),
        /indexAdd: index 3 is out of range for dim 0 of size 3/,
      );
      assert.throws(
        () => T.linear(T.ones([2, 3]), T.ones([4, 5])),
        /linear: shapes \[2, 3\] and \[4, 5\] cannot be multiplied/,
      );
    });
    it("where, maskedFill, oneHot", () => {
      const mask = T.tensor([[1, 0, 1]], { dtype: "int32" });
      const tmask = tf.tensor2d([[true, false, true]] as never, [1, 3], "bool");
      compareWithTf({
        name: "where",
        shapes: [
          [2, 3],
          [2, 3],
        ],
        mine: (a, b) => T.where(mask, a, b),
        ref: (a, b) => tf.where(tf.broadcastTo(tmask, [2, 3]), a, b),
      });
      compareWithTf({
        name: "maskedFill",
        shapes: [[2, 3]],
        mine: (a) => a.maskedFill(mask, -5),
        ref: (a) => tf.where(tf.broadcastTo(tmask, [2, 3]), tf.fill([2, 3], -5), a),
      });
      const oh = T.tensor([2, 0], { dtype: "int32" }).oneHot(3);
      assert.equal(oh.dtype, "int32");
      assert.deepEqual(oh.tolist(), tf.oneHot(tf.tensor1d([2, 0], "int32"), 3).arraySync());
    });
  });

  describe("matmul", () => {
    it("traceGemms sees each SGEMM's shape, transposes and batch, until stopped", () => {
      const calls: T.GemmCall[] = [];
      const stop = T.traceGemms((c) => calls.push(c));
      const a = T.randn([2, 6, 5], { seed: 1 });
      const b = T.randn([5, 7], { seed: 2 });
      const c = T.randn([2, 5, 7], { seed: 3 });
      const d = T.randn([9, 8], { seed: 4 });
      const w = T.randn([4, 9], { seed: 5 });
      try {
        a.matmul(b); // the batch folds into the rows: one product [12, 5] x [5, 7]
        a.matmul(c); // two products [6, 5] x [5, 7], one call
        d.transpose(0, 1).matmul(w.transpose(0, 1)); // [8, 9] x [9, 4] from transposed views
      } finally {
        stop();
      }
      a.matmul(b); // after stop: not seen
      assert.deepEqual(calls, [
        { ta: false, tb: false, m: 12, n: 7, k: 5, batch: 1 },
        { ta: false, tb: false, m: 6, n: 7, k: 5, batch: 2 },
        { ta: true, tb: true, m: 8, n: 4, k: 9, batch: 1 },
      ]);
      assert.throws(() => T.traceGemms(42 as never), /traceGemms\(fn\): fn must be a function/);
    });

    it("2-D, batched with broadcasting, transposed operands, odd sizes, 1-D", () => {
      compareWithTf({
        name: "mm",
        shapes: [
          [5, 7],
          [7, 3],
        ],
        mine: (a, b) => a.matmul(b),
        ref: (a, b) => a.matMul(b),
      });
      compareWithTf({
        name: "mm big",
        shapes: [
          [33, 65],
          [65, 17],
        ],
        mine: (a, b) => a.matmul(b),
        ref: (a, b) => a.matMul(b),
      });
      compareWithTf({
        name: "mm aT",
        shapes: [
          [33, 65],
          [65, 17],
        ],
        mine: (a, b) => a.matmul(b),
        ref: (a, b) => a.matMul(b),
        transposed: [0],
      });
      compareWithTf({
        name: "mm bT",
        shapes: [
          [33, 65],
          [65, 17],
        ],
        mine: (a, b) => a.matmul(b),
        ref: (a, b) => a.matMul(b),
        transposed: [1],
      });
      compareWithTf({
        name: "mm both T",
        shapes: [
          [20, 30],
          [30, 40],
        ],
        mine: (a, b) => a.matmul(b),
        ref: (a, b) => a.matMul(b),
        transposed: [0, 1],
      });
      compareWithTf({
        name: "bmm",
        shapes: [
          [3, 9, 11],
          [3, 11, 5],
        ],
        mine: (a, b) => a.bmm(b),
        ref: (a, b) => tf.matMul(a, b),
      });
      compareWithTf({
        name: "batch x 2d",
        shapes: [
          [2, 3, 9, 11],
          [11, 5],
        ],
        mine: (a, b) => a.matmul(b),
        ref: (a, b) => tf.matMul(a, tf.broadcastTo(b, [2, 3, 11, 5])),
      });
      compareWithTf({
        name: "broadcast batch",
        shapes: [
          [2, 1, 6, 4],
          [3, 4, 5],
        ],
        mine: (a, b) => a.matmul(b),
        ref: (a, b) => tf.matMul(tf.broadcastTo(a, [2, 3, 6, 4]), tf.broadcastTo(b, [2, 3, 4, 5])),
      });
      compareWithTf({
        name: "batched bT",
        shapes: [
          [4, 20, 30],
          [4, 30, 25],
        ],
        mine: (a, b) => a.matmul(b),
        ref: (a, b) => tf.matMul(a, b),
        transposed: [1],
      });
      compareWithTf({
        name: "vec-mat",
        shapes: [[7], [7, 3]],
        mine: (a, b) => a.matmul(b),
        ref: (a, b) => a.expandDims(0).matMul(b).squeeze([0]),
      });
      compareWithTf({
        name: "mat-vec",
        shapes: [[4, 7], [7]],
        mine: (a, b) => a.matmul(b),
        ref: (a, b) => a.matMul(b.expandDims(1)).squeeze([1]),
      });
    });
    it("the JS reference SGEMM agrees with the one in use, all transposes, batched", () => {
      const M = 37,
        N = 29,
        K = 41,
        batch = 3;
      const r = rng(9);
      const A = Float32Array.from({ length: batch * M * K }, () => r() - 0.5);
      const B = Float32Array.from({ length: batch * K * N }, () => r() - 0.5);
      for (const tA of [false, true])
        for (const tB of [false, true]) {
          const C1 = new Float32Array(batch * M * N);
          const C2 = new Float32Array(batch * M * N);
          const lda = tA ? M : K;
          const ldb = tB ? K : N;
          T.jsSgemm(
            tA,
            tB,
            M,
            N,
            K,
            1.5,
            A,
            0,
            lda,
            B,
            0,
            ldb,
            0,
            C1,
            0,
            N,
            batch,
            M * K,
            K * N,
            M * N,
          );
          T.sgemm()(
            tA,
            tB,
            M,
            N,
            K,
            1.5,
            A,
            0,
            lda,
            B,
            0,
            ldb,
            0,
            C2,
            0,
            N,
            batch,
            M * K,
            K * N,
            M * N,
          );
          assertClose(C2, C1, 1e-5, `sgemm tA=${tA} tB=${tB}`);
        }
    });
  });

  describe("softmax, logSoftmax, crossEntropy", () => {
    it("softmax / logSoftmax along any dim", () => {
      for (const shape of [
        [3, 5],
        [40, 300],
      ]) {
        compareWithTf({
          name: "softmax",
          shapes: [shape],
          mine: (a) => a.softmax(-1),
          ref: (a) => tf.softmax(a),
        });
        compareWithTf({
          name: "logSoftmax",
          shapes: [shape],
          mine: (a) => a.logSoftmax(-1),
          ref: (a) => tf.logSoftmax(a),
        });
      }
      compareWithTf({
        name: "softmax dim0",
        shapes: [[6, 4]],
        mine: (a) => a.softmax(0),
        ref: (a) => tf.softmax(a.transpose()).transpose(),
      });
      compareWithTf({
        name: "softmax strided",
        shapes: [[30, 70]],
        mine: (a) => a.softmax(-1),
        ref: (a) => tf.softmax(a),
        transposed: [0],
      });
    });
    it("crossEntropy (mean, sum, none, ignoreIndex) small and large", () => {
      for (const [N, C] of [
        [6, 5],
        [64, 500],
      ]) {
        const r = rng(N);
        const tgt = Array.from({ length: N }, (_, i) =>
          i % 4 === 3 ? -100 : randInt(r, 0, C - 1),
        );
        const targets = T.tensor(tgt, { dtype: "int32" });
        const valid = tgt.map((t) => (t < 0 ? 0 : 1));
        const tOh = tf
          .oneHot(
            tf.tensor1d(
              tgt.map((t) => Math.max(t, 0)),
              "int32",
            ),
            C,
          )
          .toFloat();
        const tValid = tf.tensor1d(valid);
        const count: number = valid.reduce((a: number, b: number) => a + b, 0);
        const per = (a: TfT) => tf.logSoftmax(a).mul(tOh).sum(1).neg().mul(tValid);
        compareWithTf({
          name: `ce mean ${N}x${C}`,
          shapes: [[N, C]],
          mine: (a) => T.crossEntropy(a, targets),
          ref: (a) => per(a).sum().div(count),
        });
        compareWithTf({
          name: "ce sum",
          shapes: [[N, C]],
          mine: (a) => T.crossEntropy(a, targets, { reduction: "sum" }),
          ref: (a) => per(a).sum(),
        });
        compareWithTf({
          name: "ce none",
          shapes: [[N, C]],
          mine: (a) => T.crossEntropy(a, targets, { reduction: "none" }),
          ref: (a) => per(a),
        });
      }
      const logits = T.randn([2, 3, 4], { seed: 1 });
      const tg = T.tensor(
        [
          [0, 1, 2],
          [3, 3, 1],
        ],
        { dtype: "int32" },
      );
      assert.equal(T.crossEntropy(logits, tg, { ignoreIndex: 3 }).shape.length, 0);
    });
  });
});
