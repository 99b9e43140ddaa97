import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import { createExecutor } from "../../../kernel/executor/index.js";
import type { Executor, ExecutorEvent } from "../../../kernel/contracts.js";
import { makeNotebookDir, run, until, value } from "./helpers.js";

describe("executor: cells", function () {
  let ex: Executor;
  const background: ExecutorEvent[] = [];

  before(async () => {
    ex = await createExecutor({ cwd: makeNotebookDir() });
    ex.onBackgroundEvent((e) => background.push(e));
  });
  after(async () => {
    await ex.dispose();
  });

  it("evaluates an expression", async () => {
    const r = await run(ex, "1 + 1");
    assert.deepEqual(r.outcome, {
      status: "ok",
      result: { data: { "text/plain": "2" }, metadata: {} },
    });
  });

  it("keeps declarations across cells and lets a cell re-declare const", async () => {
    await value(ex, "const x: number = 5;");
    assert.equal(await value(ex, "x * 2"), "10");
    await value(ex, "const x = 6;");
    assert.equal(await value(ex, "x"), "6");
    await value(
      ex,
      "let { p, q: [r] } = { p: 1, q: [2] };\nfunction inc(n: number): number { return n + r; }",
    );
    assert.equal(await value(ex, "inc(p)"), "3");
    await value(ex, "class Pt { constructor(public x: number) {} }\nenum Color { Red, Green }");
    assert.equal(await value(ex, "new Pt(Color.Green).x"), "1");
  });

  it("shows no result for declarations, and the value despite a trailing ;", async () => {
    const decl = await run(ex, "const unused = 3;");
    assert.deepEqual(decl.outcome, { status: "ok" });
    assert.equal(await value(ex, "unused + 1;"), "4");
    assert.deepEqual((await run(ex, "undefined")).outcome, { status: "ok" });
  });

  it("supports top-level await", async () => {
    assert.equal(
      await value(ex, "const w = await new Promise<number>((r) => setTimeout(() => r(9), 5));\nw"),
      "9",
    );
  });

  it("leaves a promise result unawaited and shows it as text (tslab#17)", async () => {
    assert.equal(await value(ex, "new Promise(() => {})"), "Promise { <pending> }");
  });

  it("gives plain objects and arrays application/json too", async () => {
    const r = await run(ex, "({ a: [1, 2], b: 'x' })");
    assert.equal(r.outcome.status, "ok");
    if (r.outcome.status !== "ok") return;
    assert.deepEqual(r.outcome.result?.data["application/json"], { a: [1, 2], b: "x" });
    assert.equal(r.outcome.result?.data["text/plain"], "{ a: [ 1, 2 ], b: 'x' }");
    const map = await run(ex, "new Map([[1, 2]])");
    if (map.outcome.status !== "ok") throw new Error("map failed");
    assert.equal(map.outcome.result?.data["application/json"], undefined);
    assert.equal(map.text, "Map(1) { 1 => 2 }");
  });

  it("streams console output and process.stdout writes in order", async () => {
    const r = await run(
      ex,
      "console.log('a', { b: 1 });\nconsole.error('e');\nprocess.stdout.write('raw\\n');\nconsole.info('i'); console.warn('w'); console.debug('d');\nconsole.table([{ c: 1 }]);",
    );
    assert.equal(r.outcome.status, "ok");
    assert.match(r.stdout, /^a \{ b: 1 \}\nraw\ni\nd\n/);
    assert.match(r.stdout, /│ c │/);
    assert.equal(r.stderr, "e\nw\n");
    const kinds = r.events.map((e) => (e.type === "stream" ? e.name : e.type));
    assert.deepEqual(kinds.slice(0, 3), ["stdout", "stderr", "stdout"]);
  });

  it("joins many writes of one tick into few stream events, losing nothing", async () => {
    const r = await run(ex, "for (let i = 0; i < 3000; i++) console.log(i);");
    const expected = Array.from({ length: 3000 }, (_, i) => `${i}\n`).join("");
    assert.equal(r.stdout, expected);
    assert.ok(r.events.length < 3000, `${r.events.length} events for 3000 writes`);
  });

  it("sends display and output of callbacks that outlive their cell as background events", async () => {
    background.length = 0;
    await value(ex, "setTimeout(() => { display(md`*later*`); console.log('tick'); }, 20);");
    await until(() => background.some((e) => e.type === "stream" && e.text === "tick\n"));
    assert.deepEqual(background[0], {
      type: "display_data",
      data: { "text/markdown": "*later*", "text/plain": "*later*" },
      metadata: {},
      transient: {},
    });
  });

  it("posts a few lines at once even when the cell then computes without yielding", async () => {
    let seen = "";
    const r = await run(
      ex,
      "console.log('header 1');\nconsole.log('header 2');\nconsole.log('header 3');\nconst spinUntil = Date.now() + 100000;\nwhile (Date.now() < spinUntil) {}",
      {
        onEvent: (e) => {
          if (e.type === "stream") seen += e.text;
          // All three lines arrived while the cell spins: stop it.
          if (seen === "header 1\nheader 2\nheader 3\n") void ex.interrupt();
        },
      },
    );
    assert.equal(r.outcome.status, "interrupted");
    assert.equal(seen, "header 1\nheader 2\nheader 3\n");
  });

  it("delivers output while the cell is still running", async () => {
    let seenBeforeInput = "";
    let events: ExecutorEvent[] = [];
    const r = await run(
      ex,
      "console.log('first');\nawait input('continue?');\nconsole.log('second');",
      {
        onEvent: (e) => events.push(e),
        requestInput: async () => {
          // The cell is blocked on this answer, so 'first' can only be here if it streamed.
          seenBeforeInput = events.map((e) => (e.type === "stream" ? e.text : "")).join("");
          return "yes";
        },
      },
    );
    assert.equal(r.outcome.status, "ok");
    assert.equal(seenBeforeInput, "first\n");
    events = [];
  });

  it("reports errors with the cell's TypeScript line and column", async () => {
    const r = await run(
      ex,
      "interface Box { v: { w: number } }\nfunction get(b: Box): number {\n  return (b as any).missing.w;\n}\nget({ v: { w: 1 } });",
    );
    assert.equal(r.outcome.status, "error");
    if (r.outcome.status !== "error") return;
    assert.equal(r.outcome.ename, "TypeError");
    assert.match(r.outcome.evalue, /reading 'w'/);
    const tb = r.outcome.traceback.join("\n");
    assert.match(tb, /at get \(In\[\d+\]:3:\d+\)/);
    assert.match(tb, /In\[\d+\]:5:1/);
    assert.doesNotMatch(tb, /node:internal|kernel\/executor/);
  });

  it("reports syntax errors naming the line", async () => {
    const r = await run(ex, "const ok = 1;\nconst bad = (1 + ;\n");
    assert.equal(r.outcome.status, "error");
    if (r.outcome.status !== "error") return;
    assert.equal(r.outcome.ename, "SyntaxError");
    assert.match(r.outcome.evalue, /line 2, column 18/);
    assert.ok(r.outcome.traceback.some((l) => l.includes("const bad = (1 + ;")));
    // V8-level syntax errors (TypeScript parses them) also name the line.
    const v8 = await run(ex, "const a1 = 1;\nfunction g() { await a1 }");
    assert.equal(v8.outcome.status, "error");
    if (v8.outcome.status === "error") {
      assert.equal(v8.outcome.ename, "SyntaxError");
      assert.match(v8.outcome.evalue, /line 2/);
    }
  });

  it("reports an error whose cause chain loops (e.cause = e) as itself", async () => {
    const r = await run(ex, "const e = new Error('cyc');\n(e as any).cause = e;\nthrow e;");
    assert.equal(r.outcome.status, "error");
    if (r.outcome.status === "error") {
      assert.equal(r.outcome.ename, "Error");
      assert.equal(r.outcome.evalue, "cyc");
      assert.ok(r.outcome.traceback.some((l) => /the chain loops/.test(l)));
    }
  });

  it("reports thrown non-errors", async () => {
    const r = await run(ex, "throw { code: 7 }");
    assert.equal(r.outcome.status, "error");
    if (r.outcome.status === "error") assert.match(r.outcome.evalue, /code: 7/);
  });

  it("reports background errors and output from timers without ending the worker", async () => {
    background.length = 0;
    // The timer may fire while the second cell runs: its output then belongs to that cell.
    const toBoth = { onEvent: (e: ExecutorEvent) => background.push(e) };
    await run(
      ex,
      "setTimeout(() => { console.log('late'); throw new Error('timer boom'); }, 10);",
      toBoth,
    );
    await run(ex, "Promise.reject(new Error('nobody catches me'));", toBoth);
    await until(() => background.some((e) => e.type === "stream" && /timer boom/.test(e.text)));
    const text = background.map((e) => (e.type === "stream" ? e.text : "")).join("");
    assert.match(text, /late\n/);
    assert.match(text, /Uncaught exception in a callback:\nError: timer boom/);
    assert.match(text, /Unhandled promise rejection/);
    assert.match(text, /nobody catches me/);
    assert.equal(await value(ex, "40 + 2"), "42");
  });

  it("a rejection the cell leaves unhandled is part of that cell's own output", async () => {
    const r = await run(ex, "Promise.reject(new Error('mine, not the next cell'));\n2");
    assert.equal(r.outcome.status, "ok");
    const text = r.events.map((e) => (e.type === "stream" ? e.text : "")).join("");
    assert.match(text, /Unhandled promise rejection:\nError: mine, not the next cell/);
  });

  it("input() asks through requestInput, with password flag, and fails clearly without stdin", async () => {
    const asked: [string, boolean][] = [];
    const r = await run(
      ex,
      "const a = await input('name? ');\nconst b = await input('pw', { password: true });\na + '/' + b",
      {
        requestInput: async (prompt, password) => {
          asked.push([prompt, password]);
          return password ? "secret" : "ada";
        },
      },
    );
    assert.equal(r.text, "'ada/secret'");
    assert.deepEqual(asked, [
      ["name? ", false],
      ["pw", true],
    ]);
    const no = await run(ex, "await input('x')", { allowStdin: false });
    assert.equal(no.outcome.status, "error");
    if (no.outcome.status === "error") assert.match(no.outcome.evalue, /allow_stdin=false/);
  });

  it("silent cells run but give no result", async () => {
    const r = await run(ex, "const silentVar = 5; silentVar", { silent: true });
    assert.deepEqual(r.outcome, { status: "ok" });
    assert.equal(await value(ex, "silentVar"), "5");
  });

  it("keeps working after a cell calls process.exit (fresh worker)", async () => {
    const r = await run(ex, "process.exit(3)");
    assert.equal(r.outcome.status, "error");
    if (r.outcome.status === "error") assert.equal(r.outcome.ename, "WorkerExited");
    assert.equal(await value(ex, "1 + 2"), "3");
  });
});

describe("executor: cells that shadow globals", () => {
  it("may declare crypto, performance, Buffer, display... and the executor keeps working", async () => {
    const ex = await createExecutor({ cwd: makeNotebookDir() });
    try {
      for (const name of ["crypto", "performance", "Buffer", "global", "URL", "display", "fetch"])
        assert.equal(await value(ex, `const ${name} = 5;\n${name} + 1`), "6", name);
      const r = await run(
        ex,
        "console.log('still streaming');\nprocess.stdout.write(new Uint8Array([104, 105, 10]));\n7",
      );
      assert.equal(r.stdout, "still streaming\nhi\n");
      assert.equal(r.text, "7");
    } finally {
      await ex.dispose();
    }
  });
});

describe("executor: dispose", () => {
  it("ends the worker, also while a cell spins, and later cells get an error outcome", async () => {
    const ex = await createExecutor({ cwd: makeNotebookDir() });
    const spinning = run(ex, "while (true) {}");
    await new Promise((r) => setTimeout(r, 50));
    await ex.dispose();
    const o = await spinning;
    assert.equal(o.outcome.status, "error");
    const after = await run(ex, "1");
    assert.equal(after.outcome.status, "error");
    if (after.outcome.status === "error") assert.match(after.outcome.evalue, /shut down/);
  });

  it("runs onShutdown hooks", async () => {
    const ex = await createExecutor({ cwd: makeNotebookDir() });
    const dir = makeNotebookDir();
    await value(
      ex,
      `const k = (globalThis as any)[Symbol.for("moelab.kernel")];\nk.onShutdown(() => require("node:fs").writeFileSync(${JSON.stringify(dir + "/bye")}, "bye"));`,
    );
    await ex.dispose();
    assert.equal(fs.readFileSync(dir + "/bye", "utf8"), "bye");
  });

  it("rejects a missing cwd clearly", async () => {
    await assert.rejects(createExecutor({} as { cwd: string }), /cwd/);
  });
});
