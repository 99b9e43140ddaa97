import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  BPETokenizer,
  ByteTokenizer,
  Rng,
  checkVocab,
  loadTokenizer,
  tokenizerFromJSON,
} from "../../../lib/data/index.js";
import { randomText } from "./helpers.js";

const DISPLAY = Symbol.for("Jupyter.display");

describe("data/tokenizer: bytes", () => {
  it("has 256 ids by default and encodes UTF-8 bytes", () => {
    const t = new ByteTokenizer();
    assert.equal(t.kind, "byte");
    assert.equal(t.vocabSize, 256);
    assert.deepEqual(t.specials, []);
    assert.deepEqual(Array.from(t.encode("Aé€😀")), Array.from(Buffer.from("Aé€😀", "utf8")));
    assert.deepEqual(Array.from(t.encode("")), []);
  });

  it("round-trips random well-formed strings exactly, a leading BOM included", () => {
    const t = new ByteTokenizer({ specials: ["<|endoftext|>"] });
    const rng = new Rng(1);
    for (let i = 0; i < 500; i++) {
      const s = randomText(rng, 40);
      assert.equal(t.decode(t.encode(s)), s, JSON.stringify(s));
      assert.equal(t.decode(t.encode(s, { allowSpecials: true })), s);
    }
    assert.equal(t.decode(t.encode("\ufeffBOM")), "\ufeffBOM");
  });

  it("turns lone surrogates and invalid byte sequences into U+FFFD", () => {
    const t = new ByteTokenizer();
    assert.deepEqual(Array.from(t.encode("\ud800")), [0xef, 0xbf, 0xbd]);
    assert.equal(t.decode([0x61, 0xff, 0x62]), "a\ufffdb");
    assert.equal(t.decode([0xe2, 0x82]), "\ufffd");
  });

  it("encodes literal specials as bytes unless allowSpecials, and decodes ids to the literal", () => {
    const t = new ByteTokenizer({ specials: ["<|endoftext|>", "<|pad|>"] });
    assert.equal(t.vocabSize, 258);
    assert.equal(t.specialId("<|pad|>"), 257);
    const text = "a<|endoftext|>b<|pad|>";
    assert.equal(t.encode(text).length, Buffer.byteLength(text));
    assert.deepEqual(Array.from(t.encode(text, { allowSpecials: true })), [97, 256, 98, 257]);
    assert.equal(t.decode([97, 256, 98, 257]), text);
    assert.throws(
      () => t.specialId("<|eos|>"),
      /no special token "<\|eos\|>" \(it has "<\|endoftext\|>", "<\|pad\|>"\)/,
    );
    assert.throws(() => new ByteTokenizer({ specials: ["x", "x"] }), /listed twice/);
    assert.throws(() => new ByteTokenizer({ specials: [""] }), /non-empty strings/);
  });

  it("rejects ids outside the vocabulary", () => {
    const t = new ByteTokenizer();
    assert.throws(() => t.decode([65, 256]), /token id 256 is outside the vocabulary \(0\.\.255\)/);
    assert.throws(() => t.decode([-1]), /token id -1/);
    assert.throws(() => t.decode([1.5]), /token id 1\.5/);
  });

  it("gives printable token text for labels", () => {
    const t = new ByteTokenizer({ specials: ["<|endoftext|>"] });
    assert.equal(t.tokenText(65), "A");
    assert.equal(t.tokenText(32), " ");
    assert.equal(t.tokenText(10), "\\n");
    assert.equal(t.tokenText(0), "\\x00");
    assert.equal(t.tokenText(0xe2), "<0xE2>");
    assert.equal(t.tokenText(256), "<|endoftext|>");
  });

  it("saves, loads and rebuilds from JSON; displays itself", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "moelab-tok-"));
    try {
      const t = new ByteTokenizer({ specials: ["<|endoftext|>"] });
      const f = path.join(dir, "tokenizer.json");
      t.save(f);
      const u = loadTokenizer(f);
      assert.ok(u instanceof ByteTokenizer);
      assert.deepEqual(u.toJSON(), t.toJSON());
      assert.deepEqual(tokenizerFromJSON(JSON.parse(JSON.stringify(t))).toJSON(), t.toJSON());
      assert.throws(
        () => tokenizerFromJSON({ kind: "byte", vocabSize: 300, specials: [] }),
        /vocabSize is 300 but 256 bytes \+ 0 specials make 256/,
      );
      const bundle = (t as unknown as Record<symbol, () => Record<string, string>>)[DISPLAY]();
      assert.equal(
        bundle["text/plain"],
        'ByteTokenizer: 257 ids (256 bytes, specials "<|endoftext|>")',
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("data/tokenizer: loading and checks", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "moelab-tok-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("names the file in load errors", () => {
    const missing = path.join(dir, "none.json");
    assert.throws(
      () => loadTokenizer(missing),
      new RegExp(`cannot read tokenizer ${missing}: no such file`),
    );
    const bad = path.join(dir, "bad.json");
    fs.writeFileSync(bad, "{ not json");
    assert.throws(() => loadTokenizer(bad), new RegExp(`tokenizer ${bad} is not valid JSON`));
    fs.writeFileSync(bad, '{"kind": "wordpiece"}');
    assert.throws(
      () => loadTokenizer(bad),
      new RegExp(
        `tokenizer ${bad}: unknown tokenizer kind "wordpiece" \\(expected "byte" or "bpe"\\)`,
      ),
    );
    assert.throws(() => tokenizerFromJSON(null), /must be an object, got null/);
    assert.throws(
      () => BPETokenizer.fromJSON({ kind: "byte" }),
      /not a BPE tokenizer: kind is "byte"/,
    );
    assert.throws(
      () => ByteTokenizer.fromJSON({ kind: "bpe" }),
      /not a byte tokenizer: kind is "bpe"/,
    );
  });

  it("checkVocab says which side has how many ids", () => {
    const t = new ByteTokenizer();
    checkVocab(t, 256);
    assert.throws(
      () => checkVocab(t, 128),
      /tokenizer has 256 ids but the model's vocab_size is 128: token ids past the embedding/,
    );
    assert.throws(
      () => checkVocab(t, 512),
      /tokenizer has 256 ids but the model's vocab_size is 512: pass \{ allowUnused: true \}/,
    );
    checkVocab(t, 512, { allowUnused: true });
    assert.throws(() => checkVocab(t, 128, { allowUnused: true }), /vocab_size is 128/);
  });
});
