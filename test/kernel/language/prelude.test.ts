import { strict as assert } from "node:assert";
import * as ts from "typescript";
import { EXPORT_INSERT, Prelude, originalOffset } from "../../../kernel/language/prelude.js";

describe("language/prelude", () => {
  const prelude = new Prelude(ts);

  it("exports every top-level declaration and lists import bindings", () => {
    const code =
      'import fs, { readFileSync as rfs } from "node:fs";\nconst a = 1;\n/** doc */\nfunction f() {}\nexport let b = 2;\nx + 1;';
    const r = prelude.exportAll(code);
    assert.equal(
      r.source,
      'import fs, { readFileSync as rfs } from "node:fs";\nexport const a = 1;\n/** doc */\nexport function f() {}\nexport let b = 2;\nx + 1;',
    );
    assert.deepEqual(
      r.imports.map((b) => b.name),
      ["fs", "rfs"],
    );
    // Named and default imports are re-exported and reached through the file's own namespace.
    assert.equal(
      r.imports[1].importLine("alias"),
      'export { readFileSync as alias } from "node:fs";',
    );
    assert.equal(r.imports[1].viaSelf, true);
    assert.equal(r.declares, true);
    assert.equal(prelude.exportAll("1 + 1; call();").declares, false);
  });

  it("maps offsets in the exported source back to the cell", () => {
    const code = "const a = 1; const b = 2;";
    const r = prelude.exportAll(code);
    assert.deepEqual(r.inserts, [0, 13]);
    const at = (needle: string): number => r.source.indexOf(needle);
    assert.equal(originalOffset(r.inserts, at("a =")), code.indexOf("a ="));
    assert.equal(originalOffset(r.inserts, at("b =")), code.indexOf("b ="));
    assert.equal(originalOffset(r.inserts, at(EXPORT_INSERT) + 2), 0);
  });

  it("carries its whole state through a snapshot", () => {
    const p = new Prelude(ts);
    p.add("export declare const a: number;\n", []);
    p.add("export declare const b: string;\n", prelude.exportAll('import { x } from "m";').imports);
    const q = new Prelude(ts);
    q.restore(structuredClone(p.snapshot()));
    assert.deepEqual(q.files(), p.files());
    assert.equal(q.size, 3);
    q.add("export declare const a: boolean;\n", []);
    assert.equal(q.files().length, 2, "a's old cell is dropped");
    assert.match(q.files()[0].text, /export \{ x as __moelab_import_2_0 \} from "m";/);
  });

  it("keeps the newest declaration of each name and drops cells left with none", () => {
    const p = new Prelude(ts);
    p.add("export declare const a: number;\nexport declare const b: string;\n", []);
    p.add("export declare const a: string;\n", []);
    assert.equal(p.files().length, 2);
    assert.match(p.files()[0].text, /const b: string;/);
    assert.doesNotMatch(p.files()[0].text, /const a/);
    p.add("export interface b { x: number }\n", []);
    assert.equal(p.files().length, 2);
    assert.equal(p.size, 2);
    assert.match(
      p
        .files()
        .map((f) => f.text)
        .join("\n"),
      /interface b \{ x: number \}/,
    );
  });
});
