/** The tokenizer a model carries: saved beside the weights, text in and out of generation. */
import { strict as assert } from "node:assert";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Transformer, generate, generateSpeculative } from "../../../lib/model/index.js";
import { BPETokenizer, ByteTokenizer } from "../../../lib/data/index.js";

const CFG = {
  vocab_size: 260,
  dim: 32,
  n_layers: 1,
  n_dense_layers: 1,
  inter_dim: 32,
  n_heads: 2,
  kv_lora_rank: 16,
  qk_nope_head_dim: 8,
  qk_rope_head_dim: 8,
  v_head_dim: 8,
  max_seq_len: 64,
  n_routed_experts: 0,
  mtp_depth: 1,
};

describe("model/tokenizer", () => {
  it("is saved as tokenizer.json and read back by Transformer.load; saving without one removes it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "moelab-tok-"));
    try {
      const m = Transformer.create(CFG);
      m.tokenizer = new ByteTokenizer({ specials: ["<|endoftext|>"] });
      await m.save(dir);
      const back = await Transformer.load(dir);
      assert.equal(back.tokenizer?.vocabSize, 257);
      assert.deepEqual(back.tokenizer?.toJSON(), m.tokenizer.toJSON());
      back.tokenizer = null;
      await back.save(dir);
      assert.equal(existsSync(join(dir, "tokenizer.json")), false);
      assert.equal((await Transformer.load(dir)).tokenizer, null);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a tokenizer with more ids than the vocabulary, naming both sizes", () => {
    const m = Transformer.create({ ...CFG, vocab_size: 200 });
    assert.throws(
      () => (m.tokenizer = new ByteTokenizer()),
      /the tokenizer has 256 ids but the model's vocab_size is 200/,
    );
    assert.throws(() => (m.tokenizer = {} as never), /tokenizer must have vocabSize, encode/);
    const bpe = BPETokenizer.train(["aaab aaab aab ab"], { vocabSize: 258 });
    m.tokenizer = null;
    assert.throws(() => (m.tokenizer = bpe), /vocab_size is 200/);
  });

  it("generation takes text prompts and returns text", () => {
    const m = Transformer.create(CFG, { seed: 2 });
    assert.throws(() => generate(m, "hi", { maxNewTokens: 2 }), /text prompts need a tokenizer/);
    m.tokenizer = new ByteTokenizer();
    const r = generate(m, ["hello", "a"], { maxNewTokens: 5 });
    assert.equal(r.text?.length, 2);
    assert.equal(r.text?.[0], m.tokenizer.decode(r.tokens[0]));
    const byIds = generate(m, [Array.from(m.tokenizer.encode("hello"))], { maxNewTokens: 5 });
    assert.deepEqual(byIds.tokens[0], r.tokens[0]);
    const s = generateSpeculative(m, "hello", { maxNewTokens: 5 });
    assert.equal(s.text, m.tokenizer.decode(s.tokens));
  });
});
