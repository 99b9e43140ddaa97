import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { applyMerges, applyMergesHeap } from "../../../lib/data/merges.js";
import {
  BPETokenizer,
  Corpus,
  Rng,
  loadTokenizer,
  pretokenize,
  tokenizerFromJSON,
  type BPETokenizerJSON,
} from "../../../lib/data/index.js";
import { randomText } from "./helpers.js";

describe("data/bpe: pre-split rule", () => {
  it("splits words with their leading space, contractions, digit triples, punctuation runs", () => {
    assert.deepEqual(pretokenize("Hello, world! It's 12345 cats.\n\n The end"), [
      "Hello",
      ",",
      " world",
      "!",
      " It",
      "'s",
      " 123",
      "45",
      " cats",
      ".",
      "\n\n",
      " The",
      " end",
    ]);
    assert.deepEqual(pretokenize("a  b\n\nThe"), ["a", " ", " b", "\n\n", "The"]);
    assert.deepEqual(pretokenize("e\u0301t\u00e9 日本語"), ["e\u0301t\u00e9", " 日本語"]);
  });

  it("loses no character of random text", () => {
    const rng = new Rng(3);
    for (let i = 0; i < 300; i++) {
      const s = randomText(rng, 60);
      assert.equal(pretokenize(s).join(""), s);
    }
  });
});

describe("data/bpe: training", function () {
  this.timeout(20000);
  let brown: Corpus;
  let subset: Corpus;
  let tok: BPETokenizer;
  before(() => {
    brown = Corpus.brown();
    subset = brown.filter((_, i) => i % 10 === 0); // 50 documents, every genre
    tok = BPETokenizer.train(subset, { vocabSize: 600, specials: ["<|endoftext|>"] });
  });

  it("merges the most frequent pair first, ties to the smallest ids", () => {
    // Chunks "ab", " ab", " ab", " cd": (a, b) three times, then (" ", ab) twice.
    const t = BPETokenizer.train(["ab ab ab cd"], { vocabSize: 258, minFrequency: 1 });
    assert.deepEqual(t.merges, [
      [97, 98],
      [32, 256],
    ]);
    assert.deepEqual(Array.from(t.encode("ab ab cd")), [256, 257, 32, 99, 100]);
    // Chunks "ba", " ab": three pairs seen once; (" ", a) has the smallest ids.
    const u = BPETokenizer.train(["ba ab"], { vocabSize: 257, minFrequency: 1 });
    assert.deepEqual(u.merges, [[32, 97]]);
  });

  it("reaches the vocabulary size, ids after the bytes and specials", () => {
    assert.equal(tok.vocabSize, 600);
    assert.equal(tok.specials[0], "<|endoftext|>");
    assert.equal(tok.merges.length, 600 - 257);
    assert.equal(tok.tokenText(256), "<|endoftext|>");
    assert.equal(tok.tokenText(257), tok.decode([257]));
    // Frequent English words become single tokens.
    for (const w of [" the", " of", " and"])
      assert.equal(tok.encode(w).length, 1, `${JSON.stringify(w)} -> ${Array.from(tok.encode(w))}`);
  });

  it("is deterministic", () => {
    const again = BPETokenizer.train(subset, { vocabSize: 600, specials: ["<|endoftext|>"] });
    assert.deepEqual(again.toJSON(), tok.toJSON());
  });

  it("stops early below minFrequency and reports the vocabulary it reached", () => {
    const t = BPETokenizer.train(["one two three, one two."], { vocabSize: 5000 });
    assert.ok(t.vocabSize < 300, `${t.vocabSize}`);
    assert.equal(t.vocabSize, 256 + t.merges.length);
    const progress: number[] = [];
    BPETokenizer.train(["one two three, one two."], {
      vocabSize: 5000,
      minFrequency: 1,
      onProgress: (p) => progress.push(p.merges),
    });
    assert.ok(progress.length >= 1);
  });

  it("rejects bad options", () => {
    assert.throws(
      () => BPETokenizer.train(["x"], { vocabSize: 100 }),
      /vocabSize must be an integer in \[256,/,
    );
    assert.throws(
      () => BPETokenizer.train(["x"], { vocabSize: 256, specials: ["<s>"] }),
      /in \[257, .*256 bytes \+ 1 specials \+ merges\), got 256/,
    );
    assert.throws(
      () => BPETokenizer.train([3 as never], { vocabSize: 300 }),
      /text 0 is not a string/,
    );
    assert.throws(
      () => BPETokenizer.train({} as never, { vocabSize: 300 }),
      /expects a Corpus or an array of strings/,
    );
  });

  it("round-trips random Unicode exactly (emoji, CJK, combining marks, controls, empty)", () => {
    const rng = new Rng(11);
    // Train on text that has non-ASCII merges too, so multi-byte tokens occur.
    const t = BPETokenizer.train(
      Array.from({ length: 200 }, () => randomText(rng, 80)),
      { vocabSize: 700, minFrequency: 2 },
    );
    assert.ok(t.merges.some(([a, b]) => a >= 128 || b >= 128));
    for (const k of [t, tok]) {
      for (let i = 0; i < 400; i++) {
        const s = randomText(rng, 50);
        assert.equal(k.decode(k.encode(s)), s, JSON.stringify(s));
      }
      assert.equal(k.decode(k.encode("")), "");
      assert.equal(k.encode("").length, 0);
      assert.equal(k.decode(k.encode("\ufeff\u0000\r\n")), "\ufeff\u0000\r\n");
    }
  });

  it("round-trips the whole Brown corpus and compresses it", () => {
    const text = brown.documents.map((d) => d.text).join("\n\n");
    const t0 = process.hrtime.bigint();
    const ids = tok.encode(text);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    assert.equal(tok.decode(ids), text);
    const bytes = Buffer.byteLength(text);
    assert.ok(bytes / ids.length > 2, `${(bytes / ids.length).toFixed(2)} bytes per token`);
    assert.ok(
      ids.every((id) => id !== 256),
      "a special id in plain text",
    );
    console.log(
      `      (BPE 600: ${(bytes / ids.length).toFixed(2)} bytes/token, encode ${(bytes / 1e6 / s).toFixed(1)} MB/s)`,
    );
  });

  it("encodes literal specials only when allowed", () => {
    const s = "end.<|endoftext|>Next";
    const plain = tok.encode(s);
    assert.ok(!plain.includes(256));
    const sp = tok.encode(s, { allowSpecials: true });
    assert.equal(sp.filter((x) => x === 256).length, 1);
    assert.equal(tok.decode(plain), s);
    assert.equal(tok.decode(sp), s);
  });

  it("applies merges the same way for short and long chunks", () => {
    const rng = new Rng(5);
    const t = BPETokenizer.train(
      Array.from({ length: 50 }, () =>
        Array.from({ length: 200 }, () => "ab"[rng.below(2)]).join(""),
      ),
      { vocabSize: 400, minFrequency: 1 },
    );
    const rank = new Map(t.merges.map(([a, b], r) => [a * (1 << 20) + b, r]));
    for (let i = 0; i < 100; i++) {
      const n = 1 + rng.below(120);
      const bytes = Uint8Array.from({ length: n }, () => 97 + rng.below(2));
      const simple = Array.from(applyMerges(bytes.slice(0, Math.min(n, 48)), rank, 256));
      const heapShort = Array.from(applyMergesHeap(bytes.slice(0, Math.min(n, 48)), rank, 256));
      assert.deepEqual(heapShort, simple);
      const long = applyMergesHeap(bytes, rank, 256);
      assert.equal(t.decode(long), Buffer.from(bytes).toString("latin1"));
    }
    // A repeated letter merges left to right, like training did.
    const aa = BPETokenizer.train(["aaaa aaaa aaaa"], { vocabSize: 257, minFrequency: 1 });
    assert.deepEqual(Array.from(aa.encode("aaaaa")), [256, 256, 97]);
  });

  it("labels tokens printably", () => {
    const id = tok.encode(" the")[0];
    assert.equal(tok.tokenText(id), " the");
    const bytes = tok.tokenBytes(id);
    assert.equal(Buffer.from(bytes).toString(), " the");
  });
});

describe("data/bpe: saving and loading", function () {
  this.timeout(20000);
  let tok: BPETokenizer;
  let dir: string;
  before(() => {
    tok = BPETokenizer.train(
      Corpus.brown().filter((_, i) => i % 25 === 0),
      { vocabSize: 400, specials: ["<|endoftext|>", "<|pad|>"] },
    );
  });
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "moelab-bpe-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("saves and loads an equal tokenizer", () => {
    const f = path.join(dir, "tokenizer.json");
    tok.save(f);
    const back = loadTokenizer(f);
    assert.ok(back instanceof BPETokenizer);
    assert.deepEqual(back.toJSON(), tok.toJSON());
    const text = 'The jury said, "it\'s 1961" -- naïve café 😀.';
    assert.deepEqual(Array.from(back.encode(text)), Array.from(tok.encode(text)));
    const json = JSON.parse(fs.readFileSync(f, "utf8")) as BPETokenizerJSON;
    assert.equal(json.kind, "bpe");
    assert.equal(json.vocab.length, 400);
    assert.equal(json.vocab[32], "Ġ"); // GPT-2's stand-in for a space byte
    assert.equal(json.vocab[257], "<|pad|>");
  });

  it("rejects corrupt files with a clear reason", () => {
    const good = tok.toJSON();
    const edit = (f: (j: BPETokenizerJSON) => void): unknown => {
      const j = JSON.parse(JSON.stringify(good)) as BPETokenizerJSON;
      f(j);
      return j;
    };
    assert.throws(
      () => tokenizerFromJSON(edit((j) => (j.vocabSize = 401))),
      /vocabSize is 401 but 256 bytes \+ 2 specials \+ 142 merges make 400/,
    );
    assert.throws(
      () => tokenizerFromJSON(edit((j) => (j.merges[5] = [10, 399]))),
      /BPE merge 5 refers to id 399, but a merge may only join bytes \(0\.\.255\) and earlier merges \(258\.\.262\)/,
    );
    assert.throws(
      () => tokenizerFromJSON(edit((j) => (j.merges[3] = [256, 32]))),
      /BPE merge 3 refers to id 256/,
    );
    assert.throws(
      () => tokenizerFromJSON(edit((j) => (j.merges[9] = [...j.merges[2]] as [number, number]))),
      /BPE merge 9 repeats merge 2/,
    );
    assert.throws(
      () => tokenizerFromJSON(edit((j) => (j.vocab[300] = "bogus"))),
      /vocab\[300\] is "bogus" but the merges make/,
    );
    assert.throws(
      () => tokenizerFromJSON(edit((j) => j.vocab.pop())),
      /vocab has 399 entries, expected 400/,
    );
    assert.throws(
      () => tokenizerFromJSON(edit((j) => (j.pretokenizer = "gpt2"))),
      /pretokenizer "gpt2" is not "moelab-1"/,
    );
    assert.throws(
      () => tokenizerFromJSON(edit((j) => (j.merges = "x" as never))),
      /merges must be an array of \[left, right\] id pairs/,
    );
    const f = path.join(dir, "t.json");
    fs.writeFileSync(f, JSON.stringify(edit((j) => (j.vocabSize = 2048))));
    assert.throws(
      () => loadTokenizer(f),
      new RegExp(`tokenizer ${f}: BPE tokenizer JSON: vocabSize is 2048`),
    );
  });
});
