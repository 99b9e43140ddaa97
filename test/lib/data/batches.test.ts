import { strict as assert } from "node:assert";
import {
  BPETokenizer,
  ByteTokenizer,
  Corpus,
  TokenDataset,
  evalWindows,
  type Batch,
  type BatchState,
} from "../../../lib/data/index.js";

const DISPLAY = Symbol.for("Jupyter.display");

/** A batch as plain arrays, for comparing sequences of batches. */
function plain(b: Batch): {
  inputs: number[];
  targets: number[];
  starts: number[];
  labels: unknown;
} {
  assert.deepEqual(b.inputs.shape, b.targets.shape);
  assert.equal(b.inputs.dtype, "int32");
  assert.equal(b.targets.dtype, "int32");
  const out = {
    inputs: Array.from(b.inputs.toArray()),
    targets: Array.from(b.targets.toArray()),
    starts: b.starts,
    labels: b.labels,
  };
  b.inputs.dispose();
  b.targets.dispose();
  return out;
}

/** Ten labelled documents of different lengths ("doc 3: ccc..."), bytes. */
function smallCorpus(): Corpus {
  return Corpus.fromTexts(
    Array.from({ length: 10 }, (_, i) => ({
      text: `doc ${i}: ` + String.fromCharCode(97 + i).repeat(20 + 7 * i),
      label: i % 3 === 0 ? "fizz" : i % 3 === 1 ? "buzz" : null,
    })),
    "small",
  );
}

describe("data/dataset: token datasets", () => {
  const tok = new ByteTokenizer({ specials: ["<|endoftext|>"] });

  it("concatenates the encoded documents, with their spans and labels", () => {
    const corpus = smallCorpus();
    const ds = TokenDataset.fromCorpus(corpus, tok);
    const expected = corpus.documents.flatMap((d) => Array.from(Buffer.from(d.text)));
    assert.deepEqual(Array.from(ds.tokens), expected);
    assert.equal(ds.documents.length, 10);
    for (const [i, d] of corpus.documents.entries()) {
      const span = ds.documents[i];
      assert.equal(tok.decode(ds.tokens.subarray(span.start, span.end)), d.text);
      assert.equal(span.label, d.label);
      assert.equal(span.id, d.id);
      assert.equal(ds.documentAt(span.start), i);
      assert.equal(ds.labelAt(span.end - 1), d.label);
    }
    assert.deepEqual(ds.labels(), ["fizz", "buzz"]);
    assert.equal(ds.vocabSize, 257);
  });

  it("appends a separator after every document, by id or by name", () => {
    const corpus = smallCorpus();
    const a = TokenDataset.fromCorpus(corpus, tok, { separator: "<|endoftext|>" });
    const b = TokenDataset.fromCorpus(corpus, tok, { separator: 256 });
    assert.deepEqual(a.tokens, b.tokens);
    assert.equal(a.tokens.filter((t) => t === 256).length, 10);
    for (const d of a.documents) assert.equal(a.tokens[d.end], 256);
    assert.equal(a.length, corpus.chars + 10);
    assert.throws(
      () => TokenDataset.fromCorpus(corpus, tok, { separator: "<|eos|>" }),
      /no special token "<\|eos\|>"/,
    );
    assert.throws(
      () => TokenDataset.fromCorpus(corpus, tok, { separator: 999 }),
      /separator 999 is not a token id of the tokenizer \(0\.\.256\)/,
    );
  });

  it("rejects an empty corpus", () => {
    assert.throws(
      () => TokenDataset.fromCorpus(Corpus.fromTexts([], "none"), tok),
      /the corpus "none" is empty: no documents/,
    );
    assert.throws(
      () => TokenDataset.fromCorpus(Corpus.fromTexts(["", ""], "blank"), tok),
      /the corpus "blank" is empty: its documents hold no text/,
    );
  });

  it("checks tokens and spans it is built from", () => {
    assert.throws(
      () => new TokenDataset("x", Int32Array.of(1, 300), [], 256),
      /token 1 is 300, outside the vocabulary/,
    );
    assert.throws(
      () =>
        new TokenDataset(
          "x",
          Int32Array.of(1, 2, 3),
          [{ id: "a", label: null, start: 2, end: 5 }],
          256,
        ),
      /document "a" spans \[2, 5\)/,
    );
  });

  it("displays tokens, documents and labels", () => {
    const ds = TokenDataset.fromCorpus(smallCorpus(), tok);
    const b = (ds as unknown as Record<symbol, () => Record<string, string>>)[DISPLAY]();
    assert.match(
      b["text/plain"],
      /^TokenDataset "small": [\d,]+ tokens, 10 documents, 2 labels; tokenizer byte \(257 ids\)/,
    );
    assert.match(b["text/plain"], /fizz\s+4\s+\d+/);
    assert.match(b["text/plain"], /\(none\)\s+3\s/);
    assert.match(b["text/html"], /<table>/);
  });

  it("encodes the Brown corpus with BPE and a separator", function () {
    this.timeout(20000);
    const brown = Corpus.brown().filter((_, i) => i % 20 === 0);
    const bpe = BPETokenizer.train(brown, { vocabSize: 320, specials: ["<|endoftext|>"] });
    const ds = TokenDataset.fromCorpus(brown, bpe, { separator: "<|endoftext|>" });
    assert.equal(ds.documents.length, 25);
    assert.equal(
      bpe.decode(ds.tokens.subarray(ds.documents[3].start, ds.documents[3].end)),
      brown.documents[3].text,
    );
    assert.deepEqual(ds.labels(), brown.labels());
    assert.equal(ds.labels().length, 13);
  });
});

describe("data/batches: random windows", () => {
  const ds = TokenDataset.fromCorpus(smallCorpus(), new ByteTokenizer());

  it("gives [B, T] inputs and targets shifted by one, read from the stream", () => {
    const it = ds.batches({ batchSize: 4, seqLen: 16, seed: 1 });
    for (let k = 0; k < 5; k++) {
      const b = it.next();
      assert.deepEqual(b.inputs.shape, [4, 16]);
      assert.equal(b.labels, null);
      const p = plain(b);
      for (let r = 0; r < 4; r++) {
        const s = p.starts[r];
        assert.ok(s >= 0 && s + 17 <= ds.length);
        assert.deepEqual(
          p.inputs.slice(r * 16, r * 16 + 16),
          Array.from(ds.tokens.subarray(s, s + 16)),
        );
        assert.deepEqual(
          p.targets.slice(r * 16, r * 16 + 16),
          Array.from(ds.tokens.subarray(s + 1, s + 17)),
        );
        assert.deepEqual(
          p.inputs.slice(r * 16 + 1, r * 16 + 16),
          p.targets.slice(r * 16, r * 16 + 15),
        );
      }
    }
  });

  it("is a function of the seed", () => {
    const take = (seed: number): number[][] =>
      ds
        .batches({ batchSize: 3, seqLen: 8, seed })
        .take(4)
        .map((b) => plain(b).starts);
    assert.deepEqual(take(5), take(5));
    assert.notDeepEqual(take(5), take(6));
    // Starts cover the stream: over many draws both ends are reached closely.
    const all = ds
      .batches({ batchSize: 8, seqLen: 8, seed: 0 })
      .take(200)
      .flatMap((b) => plain(b).starts);
    assert.ok(Math.min(...all) < 5 && Math.max(...all) > ds.length - 9 - 5);
  });

  it("restores its exact sequence from a JSON state", () => {
    const a = ds.batches({ batchSize: 4, seqLen: 12, seed: 42 });
    a.take(5).forEach(plain);
    const saved = JSON.parse(JSON.stringify(a.state())) as BatchState;
    assert.equal(saved.step, 5);
    assert.equal(typeof saved.rng, "number");
    const rest = a.take(5).map(plain);
    const b = ds.batches({ batchSize: 4, seqLen: 12, seed: 42 });
    b.setState(saved);
    assert.deepEqual(b.take(5).map(plain), rest);
    assert.equal(b.state().step, 10);
  });

  it("iterates with for..of", () => {
    let n = 0;
    for (const b of ds.batches({ batchSize: 2, seqLen: 4 })) {
      plain(b);
      if (++n === 3) break;
    }
    assert.equal(n, 3);
  });
});

describe("data/batches: packed windows", () => {
  const ds = TokenDataset.fromCorpus(smallCorpus(), new ByteTokenizer(), { separator: undefined });
  const T = 16;

  it("keeps every row inside one document, labelled with it", () => {
    const it = ds.batches({ batchSize: 5, seqLen: T, seed: 3, mode: "packed" });
    for (const b of it.take(6)) {
      assert.equal(b.labels!.length, 5);
      const p = plain(b);
      p.starts.forEach((s, r) => {
        const d = ds.documents[ds.documentAt(s)];
        assert.ok(s >= d.start && s + T + 1 <= d.end, `row ${r} leaves its document`);
        assert.equal((p.labels as (string | null)[])[r], d.label);
        assert.equal((s - d.start) % T, 0);
      });
    }
  });

  it("visits every window once per epoch, in a new order each epoch", () => {
    const it = ds.batches({ batchSize: 1, seqLen: T, seed: 9, mode: "packed" });
    const W = it.windowCount;
    const expected = ds.documents.reduce(
      (n, d) => n + Math.max(0, Math.floor((d.end - d.start - 1) / T)),
      0,
    );
    assert.equal(W, expected);
    const epoch1 = it.take(W).map((b) => plain(b).starts[0]);
    const epoch2 = it.take(W).map((b) => plain(b).starts[0]);
    assert.equal(new Set(epoch1).size, W);
    assert.deepEqual(
      [...epoch1].sort((a, b) => a - b),
      [...epoch2].sort((a, b) => a - b),
    );
    assert.notDeepEqual(epoch1, epoch2);
    assert.equal(it.state().epoch, 1);
  });

  it("restores its exact sequence across an epoch boundary", () => {
    const opts = { batchSize: 4, seqLen: T, seed: 7, mode: "packed" as const };
    const a = ds.batches(opts);
    assert.ok(a.windowCount < 40, "the 10 batches must cross an epoch");
    a.take(5).forEach(plain);
    const saved = JSON.parse(JSON.stringify(a.state())) as BatchState;
    const rest = a.take(5).map(plain);
    const b = ds.batches(opts);
    b.setState(saved);
    assert.deepEqual(b.take(5).map(plain), rest);
    assert.ok(b.state().epoch! >= 1);
  });

  it("skips documents shorter than a window, and says when none is long enough", () => {
    const it = ds.batches({ batchSize: 1, seqLen: 70, mode: "packed" });
    const docsUsed = new Set(it.take(it.windowCount).map((b) => ds.documentAt(plain(b).starts[0])));
    for (const i of docsUsed) assert.ok(ds.documents[i].end - ds.documents[i].start >= 71);
    assert.ok(docsUsed.size < 10);
    assert.throws(
      () => ds.batches({ batchSize: 1, seqLen: 200, mode: "packed" }),
      /packed batches of seqLen 200 need a document of at least 201 tokens; the longest has 90/,
    );
  });
});

describe("data/batches: bad options and states", () => {
  const ds = TokenDataset.fromCorpus(
    Corpus.fromTexts(["x".repeat(50)], "tiny"),
    new ByteTokenizer(),
  );

  it("names the bad option", () => {
    assert.throws(
      () => ds.batches({ batchSize: 0, seqLen: 4 }),
      /batchSize must be a positive integer, got 0/,
    );
    assert.throws(
      () => ds.batches({ batchSize: 2, seqLen: 1.5 }),
      /seqLen must be a positive integer, got 1\.5/,
    );
    assert.throws(
      () => ds.batches({ batchSize: 2, seqLen: "8" as never }),
      /seqLen must be a positive integer, got "8"/,
    );
    assert.throws(
      () => ds.batches({ batchSize: 1, seqLen: 128 }),
      /a batch of seqLen 128 needs at least 129 tokens, the dataset has 50/,
    );
    assert.throws(
      () => ds.batches({ batchSize: 8, seqLen: 10 }),
      /a batch of 8 x 11 tokens is larger than the dataset \(50 tokens\)/,
    );
    assert.throws(
      () => ds.batches({ batchSize: 1, seqLen: 4, mode: "shuffled" as never }),
      /mode must be "random" or "packed"/,
    );
    assert.throws(
      () => ds.batches({ batchSize: 1, seqLen: 4, seed: 0.5 }),
      /seed must be an integer/,
    );
  });

  it("refuses a state from other options or other data", () => {
    const a = ds.batches({ batchSize: 2, seqLen: 4, seed: 1 });
    a.next();
    const s = a.state();
    assert.throws(
      () => ds.batches({ batchSize: 2, seqLen: 4, seed: 2 }).setState(s),
      /the batch state is for seed 1, this iterator has 2/,
    );
    assert.throws(
      () => ds.batches({ batchSize: 3, seqLen: 4, seed: 1 }).setState(s),
      /for batchSize 2/,
    );
    const other = TokenDataset.fromCorpus(Corpus.fromTexts(["y".repeat(50)]), new ByteTokenizer());
    assert.throws(
      () => other.batches({ batchSize: 2, seqLen: 4, seed: 1 }).setState(s),
      /the batch state is for another dataset \(50 tokens/,
    );
    assert.throws(
      () => ds.batches({ batchSize: 2, seqLen: 4, seed: 1 }).setState({ ...s, rng: -3 }),
      /rng must be an integer in \[0, 4294967295\]/,
    );
  });
});

describe("data/batches: evaluation windows", () => {
  const ds = TokenDataset.fromCorpus(smallCorpus(), new ByteTokenizer());

  it("spreads count windows evenly from the start to the end of the stream", () => {
    const T = 8;
    const batches = evalWindows(ds, { count: 10, seqLen: T, batchSize: 4 });
    assert.deepEqual(
      batches.map((b) => b.inputs.shape[0]),
      [4, 4, 2],
    );
    const starts = batches.flatMap((b) => plain(b).starts);
    const N = ds.length;
    assert.equal(starts[0], 0);
    assert.equal(starts[9], N - T - 1);
    for (let i = 0; i < 10; i++) assert.equal(starts[i], Math.floor((i * (N - T - 1)) / 9));
    const gaps = starts.slice(1).map((s, i) => s - starts[i]);
    assert.ok(Math.max(...gaps) - Math.min(...gaps) <= 1, `gaps ${gaps}`);
    // The same windows every call, targets shifted by one.
    const again = ds.evalWindows({ count: 10, seqLen: T, batchSize: 4 }).map(plain);
    const first = evalWindows(ds, { count: 10, seqLen: T, batchSize: 4 }).map(plain);
    assert.deepEqual(again, first);
    assert.deepEqual(first[0].targets.slice(0, T - 1), first[0].inputs.slice(1, T));
  });

  it("defaults to one batch of 64 windows", () => {
    const [b, ...rest] = evalWindows(ds, { seqLen: 4 });
    assert.equal(rest.length, 0);
    assert.deepEqual(b.inputs.shape, [64, 4]);
  });

  it("can keep windows inside documents, with labels", () => {
    const batches = evalWindows(ds, { count: 6, seqLen: 16, within: "documents" });
    const p = plain(batches[0]);
    p.starts.forEach((s, r) => {
      const d = ds.documents[ds.documentAt(s)];
      assert.ok(s + 17 <= d.end);
      assert.equal((p.labels as (string | null)[])[r], d.label);
    });
    assert.ok(new Set(p.starts.map((s) => ds.documentAt(s))).size >= 4);
  });

  it("rejects windows longer than the data", () => {
    assert.throws(
      () => evalWindows(ds, { count: 4, seqLen: ds.length }),
      new RegExp(
        `an evaluation window of seqLen ${ds.length} needs at least ${ds.length + 1} tokens, the dataset has ${ds.length}`,
      ),
    );
    assert.throws(
      () => evalWindows(ds, { count: 0, seqLen: 4 }),
      /count must be a positive integer, got 0/,
    );
  });
});
