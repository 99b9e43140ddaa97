import { strict as assert } from "node:assert";
import * as vm from "node:vm";
import { transformCell } from "../../../kernel/executor/transform.js";
import { useTranspileModule } from "../../../kernel/executor/transpile.js";

const opts = { fileName: "In[1]" };

/** Runs transformed code against a sandbox that plays the worker's helper object. */
async function evaluate(code: string, sandbox: Record<string, unknown> = {}): Promise<unknown> {
  const out = transformCell(code, opts);
  assert.deepEqual(out.diagnostics, []);
  const ctx = vm.createContext({
    __moelab: {
      chk: (v: unknown) => v,
      import: async (s: string) => ({ default: `default of ${s}`, named: `named of ${s}` }),
      require: (s: string) => `required ${s}`,
    },
    ...sandbox,
  });
  const fn = vm.runInContext(out.js, ctx) as () => Promise<unknown>;
  const box = (await fn()) as unknown[] | undefined;
  return box === undefined ? undefined : box[0];
}

describe("executor: cell transformer", () => {
  it("returns the last expression, also with a trailing semicolon", async () => {
    assert.equal(await evaluate("1 + 1"), 2);
    assert.equal(await evaluate("1 + 1;"), 2);
    assert.equal(await evaluate("const a = 2;\na * 3;\n;;"), 6);
    assert.equal(await evaluate("'x'\ninterface I { a: number }\ntype T = string;"), "x");
  });

  it("reads a cell like { a: 1 } as an object literal, and a real block as a block", async () => {
    assert.equal(JSON.stringify(await evaluate("{ a: 1, b: [2] }")), '{"a":1,"b":[2]}');
    assert.equal(await evaluate("{ const inner = 1; }"), undefined);
    assert.equal(transformCell("{ let q = 1; q }", opts).hasResult, false);
  });

  it("gives no result for declarations and statements", () => {
    for (const code of [
      "const x = 1;",
      "let y = 2",
      "function f() {}",
      "class A {}",
      "for (const i of [1]) {}",
      "if (true) { 1 }",
      "interface I {}",
    ])
      assert.equal(transformCell(code, opts).hasResult, false, code);
  });

  it("turns top-level declarations into globals, so re-declaring works", async () => {
    const sandbox: Record<string, unknown> = {};
    const ctx = vm.createContext(sandbox);
    for (let i = 0; i < 2; i++) {
      const out = transformCell(
        "const x: number = 1;\nlet { a, b: [c = 3, ...d] } = { a: 1, b: [undefined, 4, 5] };\nvar v = 2;\nfunction f(n: number) { return n + x; }\nclass K { k = 1 }\nenum E { A, B = 10, C }",
        opts,
      );
      await (vm.runInContext(out.js, ctx) as () => Promise<unknown>)();
      assert.deepEqual([...out.names].sort(), ["E", "K", "a", "c", "d", "f", "v", "x"].sort());
    }
    const read = (e: string) => vm.runInContext(e, ctx);
    assert.equal(read("x"), 1);
    assert.equal(read("c"), 3);
    assert.deepEqual(read("JSON.stringify(d)"), "[4,5]");
    assert.equal(read("f(2)"), 3);
    assert.equal(read("new K().k"), 1);
    assert.equal(read("E.C"), 11);
    assert.equal(read("E[10]"), "B");
  });

  it("namespaces read their own exported members", async () => {
    assert.equal(
      await evaluate(
        "namespace N { export const a = 1; export function f() { return a + 1; } }\nN.f()",
      ),
      2,
    );
  });

  it("hoists functions so a cell can call one declared below", async () => {
    assert.equal(await evaluate("const r = g(2);\nfunction g(n: number) { return n * 5 }\nr"), 10);
  });

  it("rewrites imports (default, named, namespace, side-effect) and erases type-only ones", async () => {
    const out = transformCell(
      [
        "import d from 'a';",
        "import { named as n, type T } from 'b';",
        "import * as ns from 'c';",
        "import 'd';",
        "import type { X } from 'e';",
        "import { type Y } from 'f';",
        "import r = require('g');",
      ].join("\n"),
      opts,
    );
    assert.deepEqual(out.diagnostics, []);
    assert.deepEqual([...out.names].sort(), ["d", "n", "ns", "r"]);
    assert.doesNotMatch(out.js, /'e'|"e"|'f'|"f"/);
    assert.equal(await evaluate("import d from 'a';\nd"), "default of a");
    assert.equal(await evaluate("import { named } from 'b';\nnamed"), "named of b");
    assert.equal(await evaluate("import * as ns from 'c';\nns.named"), "named of c");
    assert.equal(await evaluate("import r = require('g');\nr"), "required g");
    assert.equal(await evaluate("const m = await import('h');\nm.named"), "named of h");
  });

  it("tolerates export keywords", async () => {
    assert.equal(await evaluate("export const q = 4;\nexport function w() { return q }\nw()"), 4);
    assert.equal(await evaluate("export default 42"), 42);
    assert.equal(await evaluate("const z = 1;\nexport { z };\nz"), 1);
  });

  it("supports top-level await and keeps a promise result unawaited", async () => {
    assert.equal(await evaluate("await Promise.resolve(7)"), 7);
    const out = transformCell("Promise.resolve(8)", opts);
    const ctx = vm.createContext({ __moelab: { chk: (v: unknown) => v } });
    const box = (await (vm.runInContext(out.js, ctx) as () => Promise<unknown[]>)()) ?? [];
    assert.equal(typeof (box[0] as { then?: unknown }).then, "function");
  });

  it("reports syntax errors with the cell's line and column", () => {
    const out = transformCell("const a = 1;\nlet b = (;\n", opts);
    assert.equal(out.diagnostics.length > 0, true);
    assert.equal(out.diagnostics[0].line, 2);
    assert.equal(out.diagnostics[0].column, 10);
    assert.match(out.diagnostics[0].message, /expected/i);
  });

  it("fast path emits what ts.transpileModule emits", () => {
    const cells = [
      "const x: number = await foo(1);\nx + 1",
      "enum E { A, B, C = 10, D, S = 'x' }\nE.D",
      "class A<T> { x = 1; private y?: T; constructor(public z: number) { } static s = A.name }",
      "interface I { a: number }\nlet v: I = { a: 1 } as I;\nv!",
      "abstract class B { abstract m(): void }\nfunction f<T>(a: T): T { return a }",
      "const {a, b: [c, ...d], ...e} = obj satisfies X;",
      "import x, { y } from 'm';\nexport const q = x + y;",
      "let z = <number>y; for await (const u of it) {}",
      "namespace N { export const a = 1; export function f() { return a + 1; } const hidden = 2; }\nN.f()",
      "enum Flags { A = 1, B = A << 1, C = A | B, D = 'd'.length }",
    ];
    for (const code of cells) {
      const fast = transformCell(code, opts);
      useTranspileModule(true);
      try {
        const slow = transformCell(code, opts);
        assert.equal(fast.js.trim(), slow.js.trim(), code);
        assert.deepEqual(fast.names, slow.names);
      } finally {
        useTranspileModule(false);
      }
    }
  });

  it("maps generated positions back to the cell (source map present)", () => {
    const out = transformCell("const a: number = 1;\n\n\nthrow new Error('x');", opts);
    const map = JSON.parse(out.map) as { mappings: string; sources: string[] };
    assert.deepEqual(map.sources, ["In[1].ts"]);
    assert.ok(map.mappings.length > 0);
  });
});
