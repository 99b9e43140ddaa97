import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Corpus, brownGenres, detokenizeBrown } from "../../../lib/data/index.js";

const DISPLAY = Symbol.for("Jupyter.display");

/**
 * The tags of most of the Brown corpus's tokens, as they would trail a word. Punctuation tags
 * are left out: "/r/." (a phoneme, then a period) is real text. A tag ends at white space.
 */
const COMMON_TAGS = (
  "at nn nns np in jj vb vbd vbn vbg vbz cc rb cs pps ppss ppo pp\\$ dt md be bez bedz hvd to " +
  "cd wdt ap np\\$ nn\\$ ql rp ex abn `` ''"
).split(" ");
const TAG_REMNANT = new RegExp(`\\S/(?:${COMMON_TAGS.join("|")})(?:-(?:tl|hl|nc))*(?=\\s|$)`);

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "moelab-corpus-"));
}

describe("data/corpus: the Brown corpus", function () {
  this.timeout(20000);
  let brown: Corpus;
  before(() => {
    brown = Corpus.brown();
  });

  it("has 500 documents in 15 genres, with the genre counts of its CONTENTS", () => {
    assert.equal(brown.length, 500);
    assert.equal(brown.documents[0].id, "ca01");
    assert.equal(brown.documents[499].id, "cr09");
    const counts = Object.fromEntries(brown.byLabel());
    assert.deepEqual(counts, {
      news: 44,
      editorial: 27,
      reviews: 17,
      religion: 17,
      hobbies: 36,
      lore: 48,
      belles_lettres: 75,
      government: 30,
      learned: 80,
      fiction: 29,
      mystery: 24,
      science_fiction: 6,
      adventure: 29,
      romance: 29,
      humor: 9,
    });
    assert.equal(brown.labels().length, 15);
    for (const d of brown.documents)
      assert.equal(d.label, brownGenres().find((g) => g.letter === d.id[1])!.label);
  });

  it("names each genre's letter, label and CONTENTS title", () => {
    const g = brownGenres();
    assert.equal(g.length, 15);
    assert.deepEqual(g[0], { letter: "a", label: "news", title: "PRESS: REPORTAGE" });
    assert.deepEqual(
      g.find((x) => x.letter === "m"),
      {
        letter: "m",
        label: "science_fiction",
        title: "FICTION: SCIENCE",
      },
    );
  });

  it("reads back as plain English: no tags, no `` or '' tokens, punctuation joined", () => {
    // The check itself finds tags in the raw files.
    assert.match("The/at Fulton/np-tl County/nn-tl said/vbd ./.", TAG_REMNANT);
    assert.match("evidence/nn ''/'' that/cs", TAG_REMNANT);
    assert.match("Atlanta's/np$ recent/jj", TAG_REMNANT);
    let chars = 0;
    for (const d of brown.documents) {
      const m = TAG_REMNANT.exec(d.text);
      assert.equal(
        m,
        null,
        `${d.id}: tag remnant ${m?.[0]} in ...${d.text.slice(Math.max(0, (m?.index ?? 0) - 40), (m?.index ?? 0) + 40)}`,
      );
      assert.ok(!d.text.includes("``") && !d.text.includes("`"), `${d.id} keeps a \`\` quote`);
      assert.ok(!/\s[.,;:?!](?=\s|$)/.test(d.text), `${d.id} has a space before punctuation`);
      assert.ok(!/;;|\?\?|!!/.test(d.text), `${d.id} doubles ; ? or !`);
      assert.ok(!d.text.startsWith(" ") && !d.text.endsWith(" "), `${d.id} is not trimmed`);
      chars += d.text.length;
    }
    assert.ok(chars > 5_500_000 && chars < 6_500_000, `${chars} characters`);
    assert.equal(brown.chars, chars);
    const first = brown.documents[0].text;
    assert.ok(
      first.startsWith(
        "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary " +
          'election produced "no evidence" that any irregularities took place.\n\n',
      ),
      first.slice(0, 200),
    );
    // Slashes that are part of words stay: "and/or", fractions.
    assert.ok(brown.documents.some((d) => d.text.includes("and/or")));
    assert.ok(brown.documents.some((d) => /\b1\/2\b/.test(d.text)));
  });

  it("detokenizes quotes, parentheses, headlines and paragraphs", () => {
    const tagged =
      "\n\n\tHe/pps said/vbd ,/, ``/`` Go/vb (/( now/rb )/) ''/'' ./.\n" +
      "It/pps was/bedz Jr./np ./.\n\n\n\nMerger/nn-hl proposed/vbn-hl \n" +
      "A/at list/nn :/: one/cd\n\n\n,/, two/cd\n\nand/cc three/cd\n\n./.\n" +
      "\tShe/pps read/vbd '/' Met/np '/' and/cc 1/4''/nn and/or/cc //in AAb//nn ./.\n";
    assert.equal(
      detokenizeBrown(tagged),
      'He said, "Go (now)". It was Jr.\n\nMerger proposed\n\nA list: one, two and three.\n\n' +
        "She read 'Met' and 1/4\" and/or / AAb/.",
    );
  });

  it("loads fast and caches the parse", () => {
    const t0 = process.hrtime.bigint();
    const again = Corpus.brown();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.ok(ms < 200, `${ms} ms`);
    assert.equal(again.documents[7], brown.documents[7]);
  });

  it("displays documents, characters and labels", () => {
    const b = (brown as unknown as Record<symbol, () => Record<string, string>>)[DISPLAY]();
    assert.match(b["text/plain"], /^Corpus "brown": 500 documents, [\d,]+ characters, 15 labels/);
    assert.match(b["text/plain"], /science_fiction\s+6\s/);
    assert.match(b["text/html"], /<table>.*<td[^>]*>humor<\/td><td[^>]*>9<\/td>/s);
  });
});

describe("data/corpus: splits", () => {
  const corpus = Corpus.fromTexts(
    Array.from({ length: 53 }, (_, i) => ({
      text: `document ${i}`,
      label: i % 2 ? "odd" : "even",
    })),
  );

  it("every: 10 holds out indices 9, 19, ... in order", () => {
    const { train, validation } = corpus.split({ every: 10 });
    assert.deepEqual(
      validation.documents.map((d) => d.id),
      ["9", "19", "29", "39", "49"],
    );
    assert.equal(train.length, 48);
    assert.equal(train.documents[9].id, "10");
  });

  it("validation: fraction is seeded, disjoint, complete, and keeps corpus order", () => {
    const a = corpus.split({ validation: 0.2, seed: 7 });
    const b = corpus.split({ validation: 0.2, seed: 7 });
    const c = corpus.split({ validation: 0.2, seed: 8 });
    const ids = (x: Corpus): string[] => x.documents.map((d) => d.id);
    assert.deepEqual(ids(a.validation), ids(b.validation));
    assert.deepEqual(ids(a.train), ids(b.train));
    assert.notDeepEqual(ids(a.validation), ids(c.validation));
    assert.equal(a.validation.length, Math.round(0.2 * 53));
    const all = new Set([...ids(a.train), ...ids(a.validation)]);
    assert.equal(all.size, 53);
    assert.equal(a.train.length + a.validation.length, 53);
    const order = ids(a.validation).map(Number);
    assert.deepEqual(
      order,
      [...order].sort((x, y) => x - y),
    );
    assert.equal(a.validation.documents[0].label, Number(order[0]) % 2 ? "odd" : "even");
  });

  it("rejects bad split options", () => {
    assert.throws(() => corpus.split({ every: 1 }), /every must be an integer >= 2/);
    assert.throws(() => corpus.split({ validation: 1.5 }), /fraction in \[0, 1\)/);
    assert.throws(() => corpus.split({} as never), /split expects/);
  });

  it("filter keeps matching documents", () => {
    const evens = corpus.filter((d) => d.label === "even", "evens");
    assert.equal(evens.length, 27);
    assert.equal(evens.name, "evens");
    assert.deepEqual(evens.labels(), ["even"]);
  });
});

describe("data/corpus: user files", () => {
  let dir: string;
  beforeEach(() => {
    dir = tmpDir();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("loads one .txt file as one document", () => {
    const f = path.join(dir, "story.txt");
    fs.writeFileSync(f, "Once upon a time.\nThe end. ✓");
    const c = Corpus.fromPath(f);
    assert.equal(c.length, 1);
    assert.deepEqual(c.documents[0], {
      id: "story.txt",
      text: "Once upon a time.\nThe end. ✓",
      label: null,
    });
    assert.equal(c.name, f);
    fs.writeFileSync(f, "\ufeffWith a byte-order mark");
    assert.equal(Corpus.fromPath(f, { name: "bom" }).documents[0].text, "With a byte-order mark");
  });

  it("loads a folder sorted by path, labelled by subfolder or by a function", () => {
    fs.mkdirSync(path.join(dir, "poems"));
    fs.mkdirSync(path.join(dir, "news", "deep"), { recursive: true });
    fs.writeFileSync(path.join(dir, "b.txt"), "top b");
    fs.writeFileSync(path.join(dir, "a.txt"), "top a");
    fs.writeFileSync(path.join(dir, "notes.csv"), "ignored");
    fs.writeFileSync(path.join(dir, "poems", "p1.txt"), "roses");
    fs.writeFileSync(path.join(dir, "news", "deep", "n1.txt"), "headline");
    const c = Corpus.fromPath(dir);
    assert.deepEqual(
      c.documents.map((d) => [d.id, d.label, d.text]),
      [
        ["a.txt", null, "top a"],
        ["b.txt", null, "top b"],
        ["news/deep/n1.txt", "news", "headline"],
        ["poems/p1.txt", "poems", "roses"],
      ],
    );
    const byLen = Corpus.fromPath(dir, { label: (rel) => (rel.length > 6 ? "long" : "short") });
    assert.deepEqual(
      byLen.documents.map((d) => d.label),
      ["short", "short", "long", "long"],
    );
    assert.deepEqual(Corpus.fromPath(dir, { label: null }).labels(), []);
  });

  it("loads JSONL with text and label fields, skipping blank lines", () => {
    const f = path.join(dir, "data.jsonl");
    fs.writeFileSync(f, '{"text": "alpha", "label": "x"}\n\n{"text": "beta"}\n');
    assert.deepEqual(Corpus.fromPath(f).documents, [
      { id: "data.jsonl:1", text: "alpha", label: "x" },
      { id: "data.jsonl:3", text: "beta", label: null },
    ]);
    const g = path.join(dir, "other.jsonl");
    fs.writeFileSync(
      g,
      '{"body": "gamma", "kind": 3, "id": "g"}\n{"body": "delta", "kind": null}\n',
    );
    assert.throws(
      () => Corpus.fromPath(g),
      (e: Error) => e.message.startsWith(`${g}:1: no string field "text" (fields: body, kind, id)`),
    );
    const c = Corpus.fromPath(g, { textField: "body", labelField: "kind" });
    assert.deepEqual(c.documents, [
      { id: "g", text: "gamma", label: "3" },
      { id: "other.jsonl:2", text: "delta", label: null },
    ]);
  });

  it("names the path and line in every error", () => {
    const missing = path.join(dir, "nope.txt");
    assert.throws(
      () => Corpus.fromPath(missing),
      new RegExp(`cannot read corpus path ${escape(missing)}: no such file`),
    );
    const bad = path.join(dir, "bad.jsonl");
    fs.writeFileSync(bad, '{"text": "ok"}\n{"text": "broken\n');
    assert.throws(() => Corpus.fromPath(bad), new RegExp(`${escape(bad)}:2: malformed JSON`));
    fs.writeFileSync(bad, '{"text": "ok"}\n[1, 2]\n');
    assert.throws(
      () => Corpus.fromPath(bad),
      new RegExp(`${escape(bad)}:2: expected a JSON object, got an array`),
    );
    fs.writeFileSync(bad, '{"text": 5}\n');
    assert.throws(
      () => Corpus.fromPath(bad),
      new RegExp(`${escape(bad)}:1: no string field "text" \\(it is number\\)`),
    );
    fs.writeFileSync(bad, "\n\n");
    assert.throws(() => Corpus.fromPath(bad), new RegExp(`the corpus at ${escape(bad)} is empty`));
    const empty = path.join(dir, "empty");
    fs.mkdirSync(empty);
    assert.throws(
      () => Corpus.fromPath(empty),
      new RegExp(`the folder ${escape(empty)} holds no .txt files`),
    );
    const csv = path.join(dir, "x.csv");
    fs.writeFileSync(csv, "a,b");
    assert.throws(
      () => Corpus.fromPath(csv),
      new RegExp(`cannot load ${escape(csv)}: expected a folder`),
    );
    const blank = path.join(dir, "blank.txt");
    fs.writeFileSync(blank, "");
    assert.throws(() => Corpus.fromPath(blank), /is empty/);
  });

  it("reports an unreadable file inside a folder by its path", () => {
    fs.writeFileSync(path.join(dir, "good.txt"), "fine");
    const dangling = path.join(dir, "gone.txt");
    fs.symlinkSync(path.join(dir, "missing-target.txt"), dangling);
    assert.throws(
      () => Corpus.fromPath(dir),
      new RegExp(`cannot read ${escape(dangling)}: no such file or folder`),
    );
  });

  it("fromTexts takes strings or objects and checks them", () => {
    const c = Corpus.fromTexts(["a", { text: "b", label: "L", id: "bee" }]);
    assert.deepEqual(c.documents, [
      { id: "0", text: "a", label: null },
      { id: "bee", text: "b", label: "L" },
    ]);
    assert.throws(
      () => Corpus.fromTexts([{ txt: "a" } as never]),
      /item 0 is neither a string nor \{ text: string \}/,
    );
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
