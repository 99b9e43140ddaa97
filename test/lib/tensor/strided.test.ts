/**
 * Strided N-D elementwise paths (one native call per op, lib/tensor/ops/iter.ts nativeNd):
 * permuted copies, binary ops on permuted and broadcast operands, in-place updates of a slice from
 * a transposed source, checked element by element against index arithmetic; and the native
 * kernel's argument checks.
 */
import { strict as assert } from "node:assert";
import * as T from "../../../lib/tensor/index.js";
import { native } from "../../../lib/tensor/native.js";
import { skipBecause } from "../../helpers/env.js";

const SHAPE = [3, 16, 4, 24]; // 4,608 elements: past the size where native kernels take over

function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.fround(Math.sin(i * 0.37 + seed) * 3);
  return out;
}

/** The flat index of `idx` in a contiguous tensor of `shape`. */
function flat(shape: number[], idx: number[]): number {
  let f = 0;
  for (let d = 0; d < shape.length; d++) f = f * shape[d] + idx[d];
  return f;
}

/** Every index of `shape`, in order. */
function* indices(shape: number[]): Generator<number[]> {
  const idx = shape.map(() => 0);
  const n = shape.reduce((a, b) => a * b, 1);
  for (let k = 0; k < n; k++) {
    yield idx;
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

describe("tensor: strided N-D elementwise ops", () => {
  it("a permuted copy equals index arithmetic", () => {
    const data = values(4608, 1);
    const x = T.tensor(data, { shape: SHAPE });
    const y = x.permute([0, 2, 1, 3]).contiguous();
    assert.deepEqual(y.shape, [3, 4, 16, 24]);
    const got = y.toArray() as Float32Array;
    for (const [a, b, c, d] of indices(y.shape))
      assert.equal(got[flat(y.shape, [a, b, c, d])], data[flat(SHAPE, [a, c, b, d])]);
  });

  it("binary ops on a permuted and a broadcast operand", () => {
    const da = values(4608, 2);
    const db = values(16 * 24, 3);
    const a = T.tensor(da, { shape: [3, 4, 16, 24] }).permute([0, 2, 1, 3]); // [3, 16, 4, 24]
    const b = T.tensor(db, { shape: [16, 1, 24] });
    for (const [name, f, g] of [
      ["mul", (p: T.Tensor, q: T.Tensor) => p.mul(q), (p: number, q: number) => p * q],
      ["sub", (p: T.Tensor, q: T.Tensor) => p.sub(q), (p: number, q: number) => p - q],
    ] as const) {
      const out = f(a, b).toArray() as Float32Array;
      for (const [i, j, k, l] of indices(SHAPE)) {
        const want = Math.fround(
          g(da[flat([3, 4, 16, 24], [i, k, j, l])], db[flat([16, 1, 24], [j, 0, l])]),
        );
        assert.equal(out[flat(SHAPE, [i, j, k, l])], want, `${name} at ${[i, j, k, l]}`);
      }
    }
  });

  it("add_, mul_ and copy_ into a slice from a transposed source", () => {
    const base = values(3 * 16 * 4 * 40, 4);
    const src = values(3 * 4 * 16 * 24, 5);
    const s = T.tensor(src, { shape: [3, 4, 16, 24] }).permute([0, 2, 1, 3]); // [3, 16, 4, 24]
    const index = (i: number, j: number, k: number, l: number): number =>
      flat([3, 16, 4, 40], [i, j, k, l + 8]);
    for (const [kind, g] of [
      ["add_", (p: number, q: number) => p + q],
      ["mul_", (p: number, q: number) => p * q],
      ["copy_", (_p: number, q: number) => q],
    ] as const) {
      const t = T.tensor(base.slice(), { shape: [3, 16, 4, 40] });
      const view = t.slice(3, 8, 32); // [3, 16, 4, 24], strides of the 40-wide rows
      if (kind === "add_") view.add_(s);
      else if (kind === "mul_") view.mul_(s);
      else view.copy_(s);
      const got = t.toArray() as Float32Array;
      for (const [i, j, k, l] of indices(SHAPE)) {
        const want = Math.fround(
          g(base[index(i, j, k, l)], src[flat([3, 4, 16, 24], [i, k, j, l])]),
        );
        assert.equal(got[index(i, j, k, l)], want, `${kind} at ${[i, j, k, l]}`);
      }
      // Outside the slice nothing moved.
      for (const [i, j, k] of indices([3, 16, 4]))
        for (const l of [0, 7, 32, 39])
          assert.equal(
            got[flat([3, 16, 4, 40], [i, j, k, l])],
            base[flat([3, 16, 4, 40], [i, j, k, l])],
          );
    }
  });

  it("the native kernel rejects bad shapes, strides and buffers with a named error", function () {
    const f = native.opsBinaryNd;
    if (f === undefined) skipBecause(this, "the native addon is not built");
    const x = new Float32Array(4);
    const i32 = (...v: number[]): Int32Array => Int32Array.from(v);
    assert.throws(
      () => f!(0, 2, i32(2, 2), x, 0, i32(2, -1), x, 0, i32(2, 1), x, 0, i32(2, 1)),
      /opsBinaryNd: shape and strides must be non-negative \(dim 1\)/,
    );
    assert.throws(
      () => f!(0, 2, i32(2, 2), x, 0, i32(3, 1), x, 0, i32(2, 1), x, 0, i32(2, 1)),
      /opsBinaryNd: a has 4 elements, needs 5/,
    );
    assert.throws(
      () => f!(0, 2, i32(2, 2), x, 0, i32(0, 0), x, 0, i32(0, 0), x, 0, i32(0, 1)),
      /the shape has 4 elements but out spans only 2/,
    );
    assert.throws(
      () => f!(0, 9, i32(2, 2), x, 0, i32(2, 1), x, 0, i32(2, 1), x, 0, i32(2, 1)),
      /nd must be in \[1, 8\], got 9/,
    );
    assert.throws(
      () => f!(11, 2, i32(2, 2), x, 0, i32(2, 1), x, 0, i32(2, 1), x, 0, i32(2, 1)),
      /unknown op 11/,
    );
    const out = new Float32Array(4);
    f!(
      7,
      2,
      i32(2, 2),
      Float32Array.from([1, 2, 3, 4]),
      0,
      i32(1, 2),
      x,
      0,
      i32(0, 0),
      out,
      0,
      i32(2, 1),
    );
    assert.deepEqual([...out], [1, 3, 2, 4], "a transposed copy");
  });
});
