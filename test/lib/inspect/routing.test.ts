/** Routing statistics: counts, MaxVio, entropy, co-activation; label tables with MI and p-values. */
import { strict as assert } from "node:assert";
import * as T from "../../../lib/tensor/index.js";
import { maxVio } from "../../../lib/train/index.js";
import { ByteTokenizer, Corpus } from "../../../lib/data/index.js";
import {
  Routing,
  corpusWindows,
  mutualInformation,
  routingBy,
  routingStats,
} from "../../../lib/inspect/index.js";
import { model } from "./fixtures.js";

/** 20 sequences of 5 tokens; label A chooses experts (0, 1), label B (2, 3). */
function forced(): { r: Routing; labels: string[] } {
  const labels = [...Array(20).keys()].map((i) => (i % 2 ? "B" : "A"));
  const ch = new Int32Array(20 * 5 * 2);
  labels.forEach((l, s) => {
    for (let t = 0; t < 5; t++) ch.set(l === "A" ? [0, 1] : [2, 3], (s * 5 + t) * 2);
  });
  return {
    r: Routing.fromChoices(4, 2, new Array(20).fill(5), [{ layer: 1, choices: ch }]),
    labels,
  };
}

describe("inspect routing statistics", () => {
  it("counts, MaxVio (lib/train's), load entropy and co-activation of known choices", () => {
    const { r } = forced();
    const l = r.layers[0];
    assert.deepEqual(Array.from(l.counts), [50, 50, 50, 50]);
    assert.equal(l.maxVio, 0);
    assert.equal(l.loadEntropy, 2);
    const co = Array.from(l.coActivation);
    assert.deepEqual(co, [50, 50, 0, 0, 50, 50, 0, 0, 0, 0, 50, 50, 0, 0, 50, 50]);
    const skew = Routing.fromChoices(
      4,
      2,
      [3],
      [
        {
          layer: 2,
          choices: Int32Array.from([0, 1, 0, 2, 0, 1]),
          scores: Float32Array.from([1, 1, 0, 0, 1, 1, 1, 1, 2, 0, 0, 0]),
        },
      ],
    ).layers[0];
    assert.deepEqual(Array.from(skew.counts), [3, 2, 1, 0]);
    assert.equal(skew.maxVio, maxVio([3, 2, 1, 0]));
    assert.equal(skew.maxVio, 1);
    assert.ok(
      Math.abs(
        skew.loadEntropy -
          -(0.5 * Math.log2(0.5) + (1 / 3) * Math.log2(1 / 3) + (1 / 6) * Math.log2(1 / 6)),
      ) < 1e-12,
    );
    assert.ok(Math.abs(skew.scoreEntropy - (1 + 2 + 0) / 3) < 1e-12);
    assert.throws(
      () => Routing.fromChoices(4, 2, [3], [{ layer: 1, choices: new Int32Array(4) }]),
      /layer 1 has 4 choices for 3 tokens x top-2/,
    );
  });

  it("a router forced by label: MI 1 bit, p = 1/101; shuffled labels: p large", () => {
    const { r, labels } = forced();
    const by = r.by(labels);
    assert.deepEqual(by.labels, ["A", "B"]);
    assert.equal(by.layers[0].mi, 1);
    assert.equal(by.layers[0].p, 1 / 101);
    assert.deepEqual(Array.from(by.layers[0].table), [50, 50, 0, 0, 0, 0, 50, 50]);
    assert.deepEqual(by.frequencies(0), [
      [0.5, 0.5, 0, 0],
      [0, 0, 0.5, 0.5],
    ]);
    assert.equal(by.unit, "sequence");
    // Labels unrelated to the choices.
    const rng = new T.Rng(3);
    const random = labels.map(() => (rng.below(2) ? "A" : "B"));
    const noise = r.by(random);
    assert.ok(noise.layers[0].p > 0.1, `p ${noise.layers[0].p}`);
    assert.ok(noise.layers[0].mi < 0.3);
    assert.deepEqual(r.by(random, { seed: 0 }).layers[0].p, noise.layers[0].p, "seeded");
    // Per-token labels work too.
    const perTok = r.by(labels.flatMap((l) => new Array(5).fill(l)));
    assert.equal(perTok.unit, "token");
    assert.equal(perTok.layers[0].mi, 1);
    assert.throws(() => r.by(["A"]), /1 labels for 20 sequences \(100 tokens\)/);
    assert.equal(mutualInformation([1, 1, 1, 1], 2, 2), 0);
  });

  it("routingStats on a model agrees with the cached routing, for ragged sequences and flat streams", () => {
    const m = model();
    const seqs = [
      [1, 2, 3, 4, 5, 6],
      [7, 8, 9],
      [10, 11, 12, 13, 14, 15],
    ];
    const r = routingStats(m, seqs, { batchSize: 1 });
    assert.deepEqual(r.sequences, [6, 3, 6]);
    assert.deepEqual(
      r.layers.map((l) => l.name),
      ["blocks.1.moe", "blocks.2.moe"],
    );
    const want: number[] = [];
    for (const s of seqs) {
      const { cache } = m.runWithCache([s], { names: ["blocks.2.moe.hook_expert_indices"] });
      want.push(...cache.get("blocks.2.moe.hook_expert_indices").toArray());
    }
    assert.deepEqual(Array.from(r.layers[1].choices), want);
    for (const l of r.layers) {
      assert.equal(
        l.counts.reduce((a, b) => a + b, 0),
        15 * 2,
      );
      assert.equal(l.maxVio, maxVio(l.counts));
      assert.ok(l.scoreEntropy > 0 && l.scoreEntropy <= 2);
    }
    const flat = routingStats(m, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], { window: 4 });
    assert.deepEqual(flat.sequences, [4, 4, 2]);
    assert.match(
      r.toString(),
      /^Routing of 15 tokens \(3 sequences\), 4 experts top-2:\n {2}blocks.1.moe: MaxVio /,
    );
    assert.throws(() => routingStats(m, [[]]), /the stream is empty/);
    assert.throws(
      () => routingStats(m, [1, 2], { window: 40 }),
      /window must be an integer in \[1, 32\]/,
    );
  });

  it("a model whose routing follows the token: high MI and p = 1/101 by label", () => {
    const m = model();
    const seqs = [...Array(12).keys()].map((i) => new Array(8).fill(i % 2 ? 5 : 40));
    const labels = seqs.map((s) => (s[0] === 5 ? "five" : "forty"));
    const by = routingBy(m, seqs, labels);
    for (const l of by.layers) {
      assert.equal(l.p, 1 / 101);
      assert.ok(l.mi > 0.3, `${l.name}: MI ${l.mi}`);
    }
    const alternating = seqs.map((_, i) => (i % 4 < 2 ? "x" : "y"));
    for (const l of routingBy(m, seqs, alternating).layers)
      assert.ok(l.p > 0.05, `${l.name}: p ${l.p}`);
  });

  it("routing by Brown's 15 genres", () => {
    const m = model(1, { vocab_size: 256 });
    const { tokens, labels } = corpusWindows(Corpus.brown(), new ByteTokenizer(), { window: 16 });
    assert.equal(tokens.length, 500);
    const by = routingBy(m, tokens, labels, { shuffles: 20 });
    assert.equal(by.labels.length, 15);
    assert.ok(by.labels.includes("science_fiction") && by.labels.includes("news"));
    const perGenre = new Map<string, number>();
    for (const l of labels) perGenre.set(l, (perGenre.get(l) ?? 0) + 1);
    for (const l of by.layers) {
      by.labels.forEach((g, i) => {
        const row = l.table.subarray(i * 4, (i + 1) * 4).reduce((a, b) => a + b, 0);
        assert.equal(row, perGenre.get(g)! * 16 * 2, g);
      });
      assert.ok(l.mi >= 0 && l.p > 0 && l.p <= 1);
    }
    assert.match(
      by.toString(),
      /^Routing by label: 15 labels \(per sequence\) x 4 experts; mutual information, p from 20 label shuffles:/,
    );
  });
});
