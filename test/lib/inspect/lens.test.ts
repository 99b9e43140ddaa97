/** Logit lens, residual decomposition and direct logit attribution add up. */
import { strict as assert } from "node:assert";
import * as T from "../../../lib/tensor/index.js";
import { ByteTokenizer } from "../../../lib/data/index.js";
import {
  decomposeResidual,
  logitAttribution,
  logitLens,
  tokenLabel,
} from "../../../lib/inspect/index.js";
import { TOKS, closeTo, model } from "./fixtures.js";

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

describe("inspect logit lens and attribution", () => {
  it("the residual decomposition sums to the final residual and to each block's input", () => {
    const m = model();
    const d = decomposeResidual(m, TOKS);
    assert.deepEqual(d.labels, [
      "embed",
      "L0 attn",
      "L0 mlp",
      "L1 attn",
      "L1 moe",
      "L2 attn",
      "L2 moe",
    ]);
    const { cache } = m.runWithCache(TOKS, {
      names: ["blocks.2.hook_resid_post", "blocks.1.hook_resid_pre"],
    });
    closeTo(d.sum().toArray(), cache.get("blocks.2.hook_resid_post").toArray(), 1e-5, "final");
    assert.deepEqual(d.total.toArray(), cache.get("blocks.2.hook_resid_post").toArray());
    const d1 = decomposeResidual(m, TOKS, { layer: 1 });
    assert.deepEqual(d1.labels, ["embed", "L0 attn", "L0 mlp"]);
    closeTo(d1.sum().toArray(), cache.get("blocks.1.hook_resid_pre").toArray(), 1e-5, "layer 1");
    const n = d.norms(1, 3);
    assert.equal(n.length, 7);
    assert.ok(n.every((x) => x > 0));
    assert.throws(
      () => decomposeResidual(m, TOKS, { layer: 4 }),
      /layer must be an integer in \[0, 4\), got 4/,
    );
  });

  it("the logit lens's last read is the model's output; each read is head(norm(resid))", () => {
    const m = model();
    const lens = logitLens(m, TOKS);
    assert.deepEqual(lens.labels, ["embed", "L0", "L1", "L2"]);
    assert.deepEqual(lens.logits.shape, [4, 2, 8, 64]);
    const out = T.noGrad(() => m.forward(TOKS)).toArray();
    closeTo(lens.logits.narrow(0, 3, 1).contiguous().toArray(), out, 1e-5, "last");
    const emb = T.noGrad(() =>
      m.head.forward(m.norm.forward(m.embed.forward(m.tokensToTensor(TOKS)))),
    );
    closeTo(lens.logits.narrow(0, 0, 1).contiguous().toArray(), emb.toArray(), 1e-5, "embed");
    const lp = lens.logProbs(4, 0, -1);
    const want = T.noGrad(() => T.logSoftmax(T.tensor(out.slice(7 * 64, 8 * 64)), -1)).toArray()[4];
    assert.ok(Math.abs(lp[3] - want) < 1e-5);
    const top = lens.top(3, 1, 2);
    assert.equal(top.length, 4);
    assert.ok(top[3][0].prob >= top[3][1].prob && top[3][1].prob >= top[3][2].prob);
    assert.match(lens.toString(), /^Logit lens: the top next token after each layer/);
  });

  for (const by of ["block", "head", "expert", "all"] as const)
    it(`direct logit attribution by ${by} sums to the logit difference`, () => {
      const m = model();
      const a = logitAttribution(m, TOKS, { correct: [4, 9], wrong: 7, by });
      const logits = T.noGrad(() => m.forward(TOKS)).toArray();
      const diff = [0, 1].map(
        (b) => logits[(b * 8 + 7) * 64 + [4, 9][b]] - logits[(b * 8 + 7) * 64 + 7],
      );
      closeTo(a.total, diff, 1e-5, "total");
      for (let b = 0; b < 2; b++)
        assert.ok(
          Math.abs(sum(a.perRow[b]) - diff[b]) < 1e-4,
          `row ${b}: ${sum(a.perRow[b])} vs ${diff[b]}`,
        );
      const nHeads = by === "head" || by === "all" ? 6 : 0;
      const nExp = by === "expert" || by === "all" ? 10 : 0;
      assert.equal(a.labels.length, 1 + (nHeads || 3) + 1 + (nExp || 2));
      assert.equal(a.labels[0], "embed");
    });

  it("heads sum to their attention block, shared + routed experts to their MoE block", () => {
    const m = model();
    const blk = logitAttribution(m, TOKS, { correct: 4, by: "block", position: 5 });
    const all = logitAttribution(m, TOKS, { correct: 4, by: "all", position: 5 });
    const v = (r: typeof blk, l: string): number => r.values[r.labels.indexOf(l)];
    for (const L of [0, 1, 2])
      assert.ok(Math.abs(v(blk, `L${L} attn`) - v(all, `L${L}.H0`) - v(all, `L${L}.H1`)) < 1e-5);
    for (const L of [1, 2]) {
      const parts = ["shared", ".E0", ".E1", ".E2", ".E3"].map((s) =>
        v(all, s === "shared" ? `L${L} shared` : `L${L}${s}`),
      );
      assert.ok(Math.abs(v(blk, `L${L} moe`) - sum(parts)) < 1e-5, `layer ${L}`);
      // Row 0's token chose top-2: two routed experts contribute, the others are exactly 0.
      const row0 = [0, 1, 2, 3].map((e) => all.perRow[0][all.labels.indexOf(`L${L}.E${e}`)]);
      assert.equal(row0.filter((x) => x !== 0).length, 2, `layer ${L}: ${row0}`);
    }
    assert.equal(v(blk, "L0 mlp"), v(all, "L0 mlp"));
    assert.match(
      blk.toString(),
      /^Direct logit attribution of the logit of token 4 at position 5: /,
    );
    assert.throws(
      () => logitAttribution(m, TOKS, { correct: 64 }),
      /correct id must be an integer in \[0, 64\), got 64/,
    );
    assert.throws(
      () => logitAttribution(m, TOKS, { correct: 1, position: 8 }),
      /position 8 is outside the 8 tokens/,
    );
  });

  it("labels ids the tokenizer does not cover (a vocabulary larger than the tokenizer's)", () => {
    const m = model(1, { vocab_size: 300 });
    m.tokenizer = new ByteTokenizer();
    assert.equal(tokenLabel(m.tokenizer, 72), "H");
    assert.equal(tokenLabel(m.tokenizer, 290), "#290");
    assert.equal(tokenLabel(null, 5), "#5");
    const lens = logitLens(m, [[72, 105]]);
    const texts = lens.top(300, 0, 0)[0].map((t) => t.text);
    assert.ok(texts.includes("#299") && texts.includes("H"));
    assert.match(lens.toString(), /^Logit lens/);
  });
});
