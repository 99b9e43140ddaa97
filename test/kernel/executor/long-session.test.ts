import { strict as assert } from "node:assert";
import { createExecutor } from "../../../kernel/executor/index.js";
import { transformCell } from "../../../kernel/executor/transform.js";
import type { Executor } from "../../../kernel/contracts.js";
import { makeNotebookDir, run, value } from "./helpers.js";

const quick = process.env.MOELAB_QUICK === "1";

describe("executor: long sessions", function () {
  let ex: Executor;
  before(async () => {
    ex = await createExecutor({ cwd: makeNotebookDir() });
  });
  after(async () => {
    await ex.dispose();
  });

  it("runs a thousand cells that each re-declare the same names", async () => {
    const n = quick ? 200 : 1000;
    for (let i = 0; i < n; i++) {
      const r = await run(
        ex,
        `const counter: number = ${i};\nfunction at(): number { return counter; }\nat() + 1`,
      );
      assert.equal(r.text, String(i + 1));
    }
  });

  it("compiles a cell the same way however long the session is (no history re-processing)", () => {
    const code = "const q: number = 1;\nq + 1";
    const first = transformCell(code, { fileName: "In[5]" });
    for (let i = 0; i < 200; i++) transformCell(`const v${i} = ${i};`, { fileName: `In[${i}]` });
    const again = transformCell(code, { fileName: "In[5]" });
    assert.equal(again.js, first.js);
    assert.deepEqual(again.names, ["q"]);
  });

  it("does not grow the heap when cells reassign the same 1 MB array", async () => {
    await value(
      ex,
      [
        "import v8 from 'node:v8';",
        "import vm from 'node:vm';",
        "v8.setFlagsFromString('--expose-gc');",
        "const gc = vm.runInNewContext('gc') as () => void;",
        "function heapMb(): number { gc(); gc(); return v8.getHeapStatistics().used_heap_size / 1048576; }",
      ].join("\n"),
    );
    // 131072 doubles = 1 MB of heap per array.
    const cell = "let big = Array.from({ length: 131072 }, (_, i) => i + 0.5);\nbig.length";
    for (let i = 0; i < 10; i++) await value(ex, cell);
    const base = Number(await value(ex, "heapMb()"));
    const n = quick ? 100 : 300;
    for (let i = 0; i < n; i++) assert.equal(await value(ex, cell), "131072");
    const end = Number(await value(ex, "heapMb()"));
    assert.ok(end - base < 30, `heap grew from ${base.toFixed(1)} MB to ${end.toFixed(1)} MB`);
  });
});
