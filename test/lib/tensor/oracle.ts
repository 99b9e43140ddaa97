/**
 * Test helpers: TensorFlow.js as an independent oracle (forward values and gradients), norm-wise
 * relative error, and a seeded generator for random shapes.
 */
import * as assert from "node:assert/strict";
import { relErr } from "../../helpers/numeric.js";
import * as T from "../../../lib/tensor/index.js";

// tfjs prints a hint about tfjs-node on load; the oracle does not need speed.
const origWarn = console.warn;
const origLog = console.log;
console.warn = () => undefined;
console.log = () => undefined;
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const tf: typeof import("@tensorflow/tfjs") = require("@tensorflow/tfjs");
console.warn = origWarn;
console.log = origLog;
tf.setBackend("cpu");

export type TfT = import("@tensorflow/tfjs").Tensor;

export { relErr };

export function assertClose(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  tol: number,
  what: string,
): void {
  const e = relErr(a, b);
  assert.ok(e <= tol, `${what}: relative error ${e.toExponential(2)} > ${tol}`);
}

/** Deterministic small PRNG for shapes and test data choices. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

export function randInt(r: () => number, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

export interface OracleCase {
  name: string;
  shapes: number[][];
  /** moelab forward on the inputs. */
  mine: (...x: T.Tensor[]) => T.Tensor;
  /** tfjs forward on the same inputs. */
  ref: (...x: TfT[]) => TfT;
  /** Make inputs positive (log, sqrt, ...). */
  positive?: boolean;
  /** Inputs created from these transposed views (tests strided paths): index list. */
  transposed?: number[];
  tol?: number;
  seed?: number;
  /** Skip gradient comparison. */
  noGrad?: boolean;
}

/**
 * Runs forward and gradient of sum(f(x) * R) in moelab and tfjs on the same random inputs and
 * compares them norm-wise.
 */
export function compareWithTf(c: OracleCase): void {
  const seed = c.seed ?? 7;
  const tol = c.tol ?? 2e-5;
  T.tidy(() => {
    const xs = c.shapes.map((s, i) => {
      let v = T.randn(s, { seed: seed + i });
      if (c.positive) v = v.abs().add(0.5);
      if (c.transposed?.includes(i) && s.length >= 2) {
        // Same values, but stored transposed: a strided view.
        const st = T.randn([...s.slice(0, -2), s[s.length - 1], s[s.length - 2]], {
          seed: seed + i,
        });
        const stp = c.positive ? st.abs().add(0.5) : st;
        v = stp.transpose(-1, -2);
      }
      return v.requiresGrad_();
    });
    const out = c.mine(...xs);
    const tfx = xs.map((x) => tf.tensor(Array.from(x.toArray()), [...x.shape]));
    const tfOut = c.ref(...tfx);
    assert.deepEqual([...out.shape], tfOut.shape, `${c.name}: output shape`);
    assertClose(out.toArray(), tfOut.dataSync() as Float32Array, tol, `${c.name} forward`);
    if (!c.noGrad) {
      const R = T.randn([...out.shape], { seed: seed + 100 });
      const loss = out.mul(R).sum();
      loss.backward();
      const tfR = tf.tensor(Array.from(R.toArray()), [...out.shape]);
      const grads = tf.grads((...a: TfT[]) =>
        c
          .ref(...a)
          .mul(tfR)
          .sum(),
      )(tfx);
      xs.forEach((x, i) => {
        assert.ok(x.grad !== null, `${c.name}: input ${i} got no gradient`);
        assertClose(
          x.grad!.toArray(),
          grads[i].dataSync() as Float32Array,
          tol * 5,
          `${c.name} grad ${i}`,
        );
      });
      grads.forEach((g) => g.dispose());
      tfR.dispose();
    }
    tfx.forEach((t) => t.dispose());
    tfOut.dispose();
    xs.forEach((x) => x.zeroGrad());
  });
}

/** Central finite differences of a scalar function, in float64 through float32 inputs. */
export function finiteDiff(
  f: (x: Float32Array) => number,
  x: Float32Array,
  h = 1e-2,
): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    x[i] = v + h;
    const up = f(x);
    x[i] = v - h;
    const dn = f(x);
    x[i] = v;
    g[i] = (up - dn) / (2 * h);
  }
  return g;
}
