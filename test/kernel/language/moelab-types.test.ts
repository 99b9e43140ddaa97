/**
 * The library the kernel exists for, in the language service: `moelab` (and npm packages with
 * bundled or @types declarations) resolve to their declarations in cells recorded earlier, from
 * a notebook folder anywhere; internals stay out of completions; checking is loose by default.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { CellService } from "../../../kernel/language/service.js";
import { MOELAB_TYPES, makeNotebookDir, removeDir } from "./fixture.js";

const MODEL_CELL = 'import { Transformer } from "moelab";\nconst m = Transformer.create("tiny");';

function typedPackages(dir: string): void {
  // An untyped CommonJS package with its declarations in @types (export =), and a default export.
  const lib = path.join(dir, "node_modules", "left-pad-ish");
  fs.mkdirSync(lib, { recursive: true });
  fs.writeFileSync(path.join(lib, "package.json"), '{"name":"left-pad-ish","main":"index.js"}');
  fs.writeFileSync(path.join(lib, "index.js"), "module.exports = (s, n) => s.padStart(n);\n");
  const types = path.join(dir, "node_modules", "@types", "left-pad-ish");
  fs.mkdirSync(types, { recursive: true });
  fs.writeFileSync(
    path.join(types, "package.json"),
    '{"name":"@types/left-pad-ish","types":"index.d.ts"}',
  );
  fs.writeFileSync(
    path.join(types, "index.d.ts"),
    "/** Pads on the left. */\ndeclare function leftPad(s: string, n: number): string;\nexport = leftPad;\n",
  );
}

describe("language: moelab's own types (and npm packages') across cells", function () {
  this.timeout(120_000);
  let dir: string;
  let svc: CellService;

  before(() => {
    // A notebook folder outside the checkout, with no moelab in its node_modules.
    dir = makeNotebookDir();
    typedPackages(dir);
    svc = new CellService({ cwd: dir, moelabTypes: MOELAB_TYPES });
    assert.deepEqual(svc.check(MODEL_CELL), []);
    svc.record(MODEL_CELL);
  });
  after(() => {
    svc.dispose();
    removeDir(dir);
  });

  it("completes a model's members after the cell that made it, without internals", () => {
    const r = svc.complete("m.", 2);
    for (const name of ["forward", "loss", "runWithCache", "hookPoints"])
      assert.ok(r.matches.includes(name), `m. lacks ${name}: ${r.matches.join(", ")}`);
    assert.deepEqual(
      r.matches.filter((n) => n.startsWith("_")),
      [],
      "underscore-prefixed internals are not offered",
    );
    const statics = svc.complete("Transformer.", 12).matches;
    assert.ok(statics.includes("create") && statics.includes("load"), statics.join(", "));
  });

  it("offers internals only when the user types the underscore", () => {
    svc.record("class Box { _secret = 1; shown = 2 }\nconst box = new Box();");
    assert.deepEqual(svc.complete("box.", 4).matches, ["shown"]);
    assert.deepEqual(svc.complete("box._", 5).matches, ["_secret"]);
  });

  it("shows Transformer.create's signature and doc comment", () => {
    const code = "Transformer.create";
    const r = svc.inspect(code, code.length, 0);
    assert.equal(r.found, true);
    const text = String(r.data["text/plain"]);
    assert.match(text, /Transformer\.create\(config: .*\): Transformer/);
    assert.match(text, /freshly initialised weights/);
    const rwc = String(svc.inspect("m.runWithCache", 8, 0).data["text/plain"]);
    assert.match(rwc, /runWithCache\(tokens: Tokens/);
    assert.doesNotMatch(rwc, /^any$/);
  });

  it("reports a model assigned to a number, and infers callback parameters from moelab", () => {
    const bad = svc.check("const bad: number = m");
    assert.equal(bad.length, 1);
    assert.equal(bad[0].code, 2322);
    assert.match(bad[0].message, /Type 'Transformer' is not assignable to type 'number'/);
    assert.deepEqual(
      svc.check("m.hookPoints().filter((n) => n.includes('moe')).length"),
      [],
      "n is a string: no implicit any",
    );
  });

  it("keeps default, namespace and @types imports typed in later cells", () => {
    const cell =
      'import leftPad from "left-pad-ish";\nimport * as ml from "moelab";\nimport { greet as hello } from "fake-pkg";';
    assert.deepEqual(svc.check(cell), []);
    svc.record(cell);
    const diags = svc.check(
      'const a: number = leftPad("x", 3);\nconst b: number = ml.Transformer;\nconst c: number = hello("z");',
    );
    assert.deepEqual(
      diags.map((d) => [d.line, d.code]),
      [
        [1, 2322],
        [2, 2322],
        [3, 2322],
      ],
      JSON.stringify(diags),
    );
    assert.match(String(svc.inspect("leftPad", 3, 0).data["text/plain"]), /Pads on the left/);
  });

  it("is loose by default and strict when configured", () => {
    const code = "function twice(n) { return n * 2; }\ntwice(2)";
    assert.deepEqual(svc.check(code), [], "no noImplicitAny by default");
    assert.deepEqual(svc.configure({ strict: true }), { strict: true });
    assert.deepEqual(
      svc.check(code).map((d) => d.code),
      [7006],
    );
    assert.deepEqual(svc.configure({ strict: false }), { strict: false });
    assert.deepEqual(svc.check(code), []);
    // Null checks stay on in loose mode.
    assert.deepEqual(
      svc.check("const found = [1].find((x) => x > 0);\nfound.toFixed()").map((d) => d.code),
      [18048],
    );
  });
});
