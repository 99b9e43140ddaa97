import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { CellService } from "../../../kernel/language/service.js";
import { MOELAB_TYPES, makeNotebookDir, removeDir } from "./fixture.js";

const codePoints = (s: string): number => [...s].length;

describe("language/service", function () {
  this.timeout(120_000);
  let dir: string;
  let svc: CellService;

  before(() => {
    dir = makeNotebookDir();
    svc = new CellService({ cwd: dir, moelabTypes: MOELAB_TYPES });
    svc.warmUp();
  });

  after(() => {
    svc.dispose();
    removeDir(dir);
  });

  describe("complete", () => {
    it("completes members of built-ins and gives the replaced span", () => {
      const r = svc.complete("Math.ab", 7);
      assert.deepEqual(r.matches, ["abs"]);
      assert.equal(r.cursor_start, 5);
      assert.equal(r.cursor_end, 7);
      const types = r.metadata._jupyter_types_experimental as Array<Record<string, unknown>>;
      assert.equal(types[0].text, "abs");
      assert.equal(types[0].type, "function");
      assert.match(String(types[0].signature), /abs\(x: number\): number/);
    });

    it("counts the cursor in code points after astral characters", () => {
      const code = 'const s = "😀😀𝔸"; Math.ab';
      const cp = codePoints(code);
      const r = svc.complete(code, cp);
      assert.deepEqual(r.matches, ["abs"]);
      assert.equal(r.cursor_start, cp - 2);
      assert.equal(r.cursor_end, cp);
      // A cursor in the middle of the cell, after the emoji, completes there.
      const mid = "😀; Math.ma; 1";
      const r2 = svc.complete(mid, codePoints("😀; Math.ma"));
      assert.deepEqual(r2.matches, ["max"]);
      assert.equal(r2.cursor_start, codePoints("😀; Math."));
    });

    it("completes names declared by recorded cells", () => {
      svc.record("const recordedAnswer = 42;\nfunction recordedFn(a: string) { return a.length; }");
      assert.deepEqual(svc.complete("recordedA", 9).matches, ["recordedAnswer"]);
      assert.ok(svc.complete("recordedFn(1).toFi", 18).matches.includes("toFixed"));
    });

    it("completes named imports of node builtins", () => {
      const code = 'import { rea } from "node:fs"';
      const r = svc.complete(code, 12);
      assert.ok(r.matches.includes("readFile"), r.matches.join(","));
      assert.ok(r.matches.includes("readFileSync"));
      assert.ok(r.matches.every((m) => m.startsWith("rea")));
      assert.equal(r.cursor_start, 9);
      assert.equal(r.cursor_end, 12);
    });

    it("completes module specifiers inside the string", () => {
      const code = 'import x from "node:f';
      const r = svc.complete(code, code.length);
      assert.ok(r.matches.includes("node:fs"), r.matches.join(","));
      assert.equal(r.cursor_start, code.indexOf("node:"));
    });

    it("completes members of an npm package's types from the notebook folder", () => {
      const code = 'import { Greeter } from "fake-pkg";\nnew Greeter().greetL';
      assert.deepEqual(svc.complete(code, code.length).matches, ["greetLoudly"]);
      svc.record('import * as fp from "fake-pkg";');
      assert.deepEqual(svc.complete("fp.gree", 7).matches.sort(), ["greet", "greeting"]);
    });

    it("returns no matches where nothing completes", () => {
      const r = svc.complete('const s = "abc', 14);
      assert.deepEqual(r.matches, []);
    });
  });

  describe("inspect", () => {
    it("shows the signature and documentation of Math.max", () => {
      const r = svc.inspect("Math.max", 8, 0);
      assert.equal(r.found, true);
      const text = String(r.data["text/plain"]);
      assert.match(text, /Math\.max\(\.\.\.values: number\[\]\): number/);
      assert.match(text, /Returns the larger of a set of supplied numeric expressions/);
      assert.match(String(r.data["text/markdown"]), /```typescript/);
    });

    it("inspects inside a call's parentheses and after astral characters", () => {
      const code = '"😀"; Math.min(1, ';
      const r = svc.inspect(code, codePoints(code), 0);
      assert.equal(r.found, true);
      assert.match(String(r.data["text/plain"]), /min/);
    });

    it("shows the JSDoc of a recorded declaration", () => {
      svc.record("/** The documented thing. */\nconst documented = { a: 1 };");
      const r = svc.inspect("documented", 4, 1);
      assert.equal(r.found, true);
      assert.match(String(r.data["text/plain"]), /const documented: \{\s*a: number;\s*\}/);
      assert.match(String(r.data["text/plain"]), /The documented thing\./);
    });

    it("finds nothing on blank code", () => {
      assert.equal(svc.inspect("   ", 1, 0).found, false);
      assert.deepEqual(svc.inspect("", 0, 0).data, {});
    });
  });

  describe("check", () => {
    it("reports type errors with 1-based positions in the cell", () => {
      const d = svc.check("const ok = 1;\nlet n: number = 'x';");
      assert.equal(d.length, 1);
      assert.deepEqual([d[0].line, d[0].column, d[0].code, d[0].category], [2, 5, 2322, "error"]);
      assert.match(d[0].message, /not assignable to type 'number'/);
    });

    it("counts columns in code points", () => {
      const d = svc.check("const s = '😀😀'; let n: number = s;");
      assert.equal(d.length, 1);
      assert.equal(d[0].column, codePoints("const s = '😀😀'; let ") + 1);
    });

    it("accepts the cell-mode rules: top-level await, redeclaration, bare expressions", () => {
      svc.record("const shadowed = 1;\nlet counter = 0;");
      const d = svc.check(
        "const shadowed = 'now a string';\nlet counter = await Promise.resolve('x');\nshadowed.toUpperCase();\ncounter;",
      );
      assert.deepEqual(d, []);
    });

    it("knows the kernel's globals and Node's", () => {
      const code = [
        "display(1, { displayId: 'a', update: true });",
        "const h = html`<b>${1}</b>`; md`# t`; svg`<svg/>`;",
        "clear_output(true);",
        "const answer: string = await input('name?', { password: true });",
        "process.env.HOME; Buffer.from('x'); setTimeout(() => {}, 1);",
        "display(h);",
        "const c = comms.open('jupyter.widget', { a: 1 }); c.send({ b: 2 }); c.onMsg((m) => m.data);",
        "comms.registerTarget('t', (comm, open) => { comm.close(open.data); });",
        'display({ "text/plain": "x" }, { raw: true, metadata: { a: 1 } }); html("<i>plain</i>");',
      ].join("\n");
      assert.deepEqual(svc.check(code), []);
    });

    it("resolves moelab, npm packages and local files; reports missing modules", () => {
      assert.deepEqual(
        svc.check(
          'import { version } from "moelab";\nimport { greet } from "fake-pkg";\nimport { helperValue } from "./helper.js";\nversion.toUpperCase(); greet("a"); helperValue().toFixed();',
        ),
        [],
      );
      const d = svc.check('import { nothing } from "./missing-file.js";');
      assert.equal(d.length, 1);
      assert.equal(d[0].code, 2307);
    });

    it("sees edits to the notebook's own modules", () => {
      const file = path.join(dir, "editable.ts");
      fs.writeFileSync(file, "export const edited = 1;\n");
      assert.deepEqual(svc.check('import { edited } from "./editable.js";\nedited.toFixed();'), []);
      fs.writeFileSync(file, "export const edited = 'now text';\n");
      const later = new Date(Date.now() + 5000);
      fs.utimesSync(file, later, later);
      assert.deepEqual(
        svc.check('import { edited } from "./editable.js";\nedited.toUpperCase();'),
        [],
      );
    });

    it("lets later cells assign recorded let variables but not consts", () => {
      svc.record("let tally = 0;\nconst fixed = 1;");
      assert.deepEqual(svc.check("tally += 1;"), []);
      assert.equal(svc.check("fixed = 2;")[0]?.code, 2588);
    });

    it("lets the newest declaration of a name win, whatever its kind and type", () => {
      svc.record("interface Shape { width: number }\nconst thing: Shape = { width: 1 };");
      assert.deepEqual(svc.check("const s: Shape = { width: 2 }; thing.width.toFixed();"), []);
      svc.record("type Shape = { label: string };\nconst thing = 'text';");
      assert.deepEqual(svc.check("const s: Shape = { label: 'x' }; thing.toUpperCase();"), []);
      const d = svc.check("const s: Shape = { width: 2 };");
      assert.equal(d.length, 1);
    });

    it("keeps import bindings of recorded cells, until a name is reused", () => {
      svc.record(
        'import fsMod, { readFileSync as rfs } from "node:fs";\nimport * as pathMod from "node:path";',
      );
      assert.deepEqual(
        svc.check(
          "fsMod.existsSync('.'); rfs; pathMod.join('a'); const st: fsMod.Stats | undefined = undefined;",
        ),
        [],
      );
      assert.ok(svc.complete("pathMod.jo", 10).matches.includes("join"));
      const shown = String(svc.inspect("pathMod", 3, 0).data["text/plain"]);
      assert.match(shown, /PlatformPath/);
      assert.doesNotMatch(shown, /__moelab/);
      svc.record("const pathMod = 7;");
      assert.deepEqual(svc.complete("pathMod.toFi", 12).matches, ["toFixed"]);
      assert.deepEqual(svc.check("fsMod.existsSync('.'); pathMod.toFixed();"), []);
    });

    it("keeps destructured, overloaded and class declarations", () => {
      svc.record(
        "const { dx, dy } = { dx: 1, dy: 'b' };\nfunction ov(a: number): number;\nfunction ov(a: string): string;\nfunction ov(a: any) { return a; }\nclass Box { constructor(public v: number) {} twice() { return this.v * 2; } }",
      );
      assert.deepEqual(
        svc.check(
          "dx.toFixed(); dy.toUpperCase(); ov(1).toFixed(); ov('a').toUpperCase(); new Box(1).twice().toFixed();",
        ),
        [],
      );
      svc.record("const dx = 'now text';");
      assert.deepEqual(svc.check("dx.toUpperCase(); dy.toUpperCase();"), []);
    });
  });

  it("keeps the prelude bounded when 300 cells redefine the same names", () => {
    const cell = (i: number): string =>
      i % 2
        ? `const churn = ${i};\nfunction churnFn(a: number) { return a + ${i}; }\ninterface Churn { n${i}: number }`
        : `const churn = "s${i}";\nfunction churnFn(a: string) { return a; }\ntype Churn = { s${i}: string };`;
    for (let i = 0; i < 10; i++) svc.record(cell(i));
    const early = svc.stats();
    for (let i = 10; i < 300; i++) svc.record(cell(i));
    const late = svc.stats();
    assert.equal(late.names, early.names);
    assert.equal(late.preludeFiles, early.preludeFiles);
    assert.ok(
      late.preludeChars <= early.preludeChars + 20,
      `${early.preludeChars} -> ${late.preludeChars}`,
    );
    // The newest (cell 299: odd) declarations are the ones in force.
    assert.deepEqual(svc.complete("churn.toFix", 11).matches, ["toFixed"]);
    assert.deepEqual(svc.check("const c: Churn = { n299: 1 }; churnFn(1).toFixed();"), []);
  });

  it("answers is_complete", () => {
    assert.deepEqual(svc.isComplete("if (x) {"), { status: "incomplete", indent: "  " });
    assert.equal(svc.isComplete(")").status, "invalid");
    assert.equal(svc.isComplete("1 + 1").status, "complete");
  });
});
