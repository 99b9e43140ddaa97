/** The latent KV cache's buffers. */
import { strict as assert } from "node:assert";
import * as T from "../../../lib/tensor/index.js";
import { LatentKV } from "../../../lib/nn/index.js";

describe("nn/LatentKV (the latent cache's buffers)", () => {
  const rows = (B: number, n: number, w: number, seed: number): T.Tensor =>
    T.randn([B, n, w], { seed });

  it("appends in place past its first capacity, truncates, and frees its buffers", () => {
    const c = new LatentKV();
    assert.equal(c.kv, null);
    const parts = [rows(2, 5, 3, 1), rows(2, 1, 3, 2), rows(2, 20, 3, 3)];
    const pes = [rows(2, 5, 2, 4), rows(2, 1, 2, 5), rows(2, 20, 2, 6)];
    T.noGrad(() => parts.forEach((p, i) => c.append(p, pes[i])));
    assert.equal(c.length, 26);
    assert.ok(c.capacity >= 26);
    assert.deepEqual(Array.from(c.kv!.toArray()), Array.from(T.cat(parts, 1).toArray()));
    assert.deepEqual(Array.from(c.pe!.toArray()), Array.from(T.cat(pes, 1).toArray()));
    assert.equal(c.elements, 2 * 26 * 5);
    c.truncate(6);
    assert.deepEqual(
      Array.from(c.kv!.toArray()),
      Array.from(T.cat(parts.slice(0, 2), 1).toArray()),
    );
    // What follows a truncation overwrites the dropped positions.
    T.noGrad(() => c.append(parts[0], pes[0]));
    assert.deepEqual(
      Array.from(c.kv!.toArray()),
      Array.from(T.cat([parts[0], parts[1], parts[0]], 1).toArray()),
    );
    assert.throws(() => c.truncate(12), /cannot truncate 11 positions to 12/);
    const before = T.memory().liveTensors;
    c.dispose();
    assert.equal(T.memory().liveTensors, before - 2, "both buffers are freed");
    assert.equal(c.length, 0);
    assert.equal(c.kv, null);
  });

  it("survives tidy scopes (its buffers are its own)", () => {
    const c = new LatentKV();
    T.tidy(() => T.noGrad(() => void c.append(rows(1, 3, 4, 1), rows(1, 3, 2, 2))));
    T.tidy(() => T.noGrad(() => void c.append(rows(1, 2, 4, 3), rows(1, 2, 2, 4))));
    assert.deepEqual(c.kv!.shape, [1, 5, 4]);
    assert.ok(Number.isFinite(c.kv!.sum().item()));
    c.dispose();
  });

  it("refuses rows of another batch or width, naming both shapes", () => {
    const c = new LatentKV();
    T.noGrad(() => c.append(rows(2, 3, 4, 1), rows(2, 3, 2, 2)));
    assert.throws(
      () => T.noGrad(() => c.append(rows(3, 1, 4, 1), rows(3, 1, 2, 2))),
      /latent cache holds \[2, 3, 4\] \+ rope 2; cannot append \[3, 1, 4\] \+ rope 2/,
    );
    assert.throws(
      () => T.noGrad(() => c.append(rows(2, 1, 4, 1), rows(2, 2, 2, 2))),
      /does not match c_kv/,
    );
    assert.equal(c.length, 3);
    c.dispose();
  });
});
