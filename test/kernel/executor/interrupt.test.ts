import { strict as assert } from "node:assert";
import { Worker } from "node:worker_threads";
import { createExecutor } from "../../../kernel/executor/index.js";
import type { Executor, ExecutorEvent } from "../../../kernel/contracts.js";
import { makeNotebookDir, run, RunResult, sleep, until, value } from "./helpers.js";

/** Starts a cell, interrupts it once it has printed "started", returns its result. */
async function interruptAfterStart(ex: Executor, code: string): Promise<RunResult> {
  let started = false;
  const p = run(ex, code, {
    onEvent: (e: ExecutorEvent) => {
      if (e.type === "stream" && e.text.includes("started")) started = true;
    },
  });
  await until(() => started);
  await sleep(20);
  await ex.interrupt();
  return p;
}

function assertInterrupted(r: RunResult) {
  assert.equal(r.outcome.status, "interrupted", JSON.stringify(r.outcome));
  if (r.outcome.status === "interrupted") assert.equal(r.outcome.ename, "Interrupted");
}

describe("executor: interrupt", function () {
  let ex: Executor;
  const background: ExecutorEvent[] = [];
  before(async () => {
    ex = await createExecutor({ cwd: makeNotebookDir() });
    ex.onBackgroundEvent((e) => background.push(e));
  });
  after(async () => {
    await ex.dispose();
  });

  it("stops while (true) {} and keeps the variables defined before", async () => {
    await value(ex, "const kept = 41;");
    const r = await interruptAfterStart(
      ex,
      "let partial = 1;\nconsole.log('started');\nwhile (true) {}",
    );
    assertInterrupted(r);
    assert.equal(await value(ex, "kept + partial"), "42");
  });

  it("stops a loop after an await", async () => {
    const r = await interruptAfterStart(
      ex,
      "await new Promise((r) => setTimeout(r, 5));\nconsole.log('started');\nwhile (true) {}",
    );
    assertInterrupted(r);
    assert.equal(await value(ex, "kept"), "41");
  });

  for (const [where, schedule] of [
    ["a setTimeout callback", "setTimeout"],
    ["a setImmediate callback", "setImmediate"],
  ] as const)
    it(`stops a loop inside ${where} (the process survives, variables kept)`, async () => {
      const r = await interruptAfterStart(
        ex,
        `await new Promise<void>(() => ${schedule}(() => { console.log('started'); while (true) {} }));`,
      );
      assertInterrupted(r);
      assert.equal(await value(ex, "kept"), "41");
    });

  it("stops an await that never resolves", async () => {
    const r = await interruptAfterStart(
      ex,
      "console.log('started');\nawait new Promise(() => {});",
    );
    assertInterrupted(r);
  });

  it("stops long synchronous code in a function from an earlier cell", async () => {
    await value(ex, "function spin(): number { let s = 0; for (;;) { s += Math.sqrt(s + 1); } }");
    const r = await interruptAfterStart(ex, "console.log('started');\nspin();");
    assertInterrupted(r);
  });

  it("lets library loops stop cooperatively through the shared flag", async () => {
    const r = await interruptAfterStart(
      ex,
      "const k = (globalThis as any)[Symbol.for('moelab.kernel')];\nconsole.log('started');\nlet steps = 0;\nwhile (true) { steps++; k.checkInterrupt(); }",
    );
    assertInterrupted(r);
    assert.ok(Number(await value(ex, "steps")) > 0);
  });

  it("stops a loop of awaits, which then stays stopped", async () => {
    background.length = 0;
    const r = await interruptAfterStart(
      ex,
      "let ticks = 0;\nconsole.log('started');\nwhile (true) { ticks++; await new Promise((r) => setTimeout(r, 2)); }",
    );
    assertInterrupted(r);
    const t1 = Number(await value(ex, "ticks"));
    await sleep(50);
    const t2 = Number(await value(ex, "ticks"));
    assert.ok(t2 - t1 <= 1, `the loop kept running: ${t1} -> ${t2}`);
  });

  it("async functions declared by an interrupted cell still work in later cells", async () => {
    const r = await interruptAfterStart(
      ex,
      "async function later(n: number): Promise<number> { await new Promise((r) => setTimeout(r, 1)); return n * 2; }\nconsole.log('started');\nwhile (true) { await new Promise((r) => setTimeout(r, 2)); }",
    );
    assertInterrupted(r);
    assert.equal(await value(ex, "await later(21)"), "42");
  });

  it("survives repeated interrupts; timers, promises and nextTick work afterwards", async () => {
    for (let i = 0; i < 4; i++) {
      const r = await interruptAfterStart(ex, `console.log('started');\nwhile (true) { ${i} }`);
      assertInterrupted(r);
    }
    assert.equal(
      await value(
        ex,
        "await new Promise((r) => setTimeout(r, 5));\nawait new Promise((r) => process.nextTick(r));\nawait Promise.resolve(kept)",
      ),
      "41",
    );
  });

  it("is a no-op when idle, and an idle interrupt does not hurt the next cell", async () => {
    await ex.interrupt();
    assert.equal(await value(ex, "kept + 1"), "42");
  });

  it("an interrupt racing the end of a cell leaves the next cell intact", async () => {
    for (let i = 0; i < 5; i++) {
      const p = run(
        ex,
        `const spinUntil = Date.now() + ${150 + i * 20};\nwhile (Date.now() < spinUntil) {}\n${i}`,
      );
      await sleep(140 + i * 20);
      await ex.interrupt();
      const r = await p;
      assert.ok(r.outcome.status === "ok" || r.outcome.status === "interrupted");
      assert.equal(await value(ex, `kept + ${i}`), String(41 + i));
    }
  });

  it("a cell holding the interrupt stops itself at its next safe point, past the default grace", async () => {
    // Steps of ~400 ms (twice the default 200 ms grace); the flag is read between steps only.
    let out = "";
    const p = run(
      ex,
      [
        "const k = (globalThis as any)[Symbol.for('moelab.kernel')];",
        "const release = k.holdInterrupt(5000);",
        "let steps = 0;",
        "console.log('started');",
        "try {",
        "  while (Atomics.load(k.interruptFlag, 0) === 0) {",
        "    const end = Date.now() + 400; while (Date.now() < end) {}",
        "    steps++;",
        "  }",
        "  console.log('stopped at a step boundary');",
        "} finally { release(); }",
        "k.checkInterrupt();",
      ].join("\n"),
      { onEvent: (e: ExecutorEvent) => void (e.type === "stream" && (out += e.text)) },
    );
    await until(() => out.includes("started"));
    await sleep(20);
    await ex.interrupt();
    const r = await p;
    assertInterrupted(r);
    assert.ok(out.includes("stopped at a step boundary"), out);
    assert.ok(Number(await value(ex, "steps")) >= 1);
    // The hold ended with the cell: a plain loop is stopped by the default grace again.
    const t0 = Date.now();
    assertInterrupted(await interruptAfterStart(ex, "console.log('started');\nwhile (true) {}"));
    assert.ok(Date.now() - t0 < 4000);
  });

  it("refuses a negative hold", async () => {
    const r = await run(ex, "(globalThis as any)[Symbol.for('moelab.kernel')].holdInterrupt(-1)");
    assert.equal(r.outcome.status, "error");
    if (r.outcome.status === "error") assert.match(r.outcome.evalue, /ms must be >= 0/);
  });

  it("resets the shared flag when the next cell starts", async () => {
    await interruptAfterStart(ex, "console.log('started');\nwhile (true) {}");
    assert.equal(await value(ex, "(globalThis as any)[Symbol.for('moelab.interrupt')][0]"), "0");
  });
});

describe("executor: interrupt with other workers in the process", () => {
  it("stops its own worker, not another one (inspector ids are not thread ids)", async () => {
    // Thread ids and the inspector's worker ids drift apart once workers have come and gone.
    const gone = new Worker("setTimeout(() => {}, 10)", { eval: true });
    await new Promise((r) => gone.once("exit", r));
    const other = new Worker(
      "const { parentPort } = require('node:worker_threads');\nsetInterval(() => {}, 5);\nparentPort.on('message', (m) => parentPort.postMessage(m + 1));",
      { eval: true },
    );
    const ex = await createExecutor({ cwd: makeNotebookDir() });
    try {
      const r = await interruptAfterStart(ex, "console.log('started');\nwhile (true) {}");
      assertInterrupted(r);
      const pong = await new Promise((resolve) => {
        other.once("message", resolve);
        other.postMessage(41);
      });
      assert.equal(pong, 42);
    } finally {
      await ex.dispose();
      await other.terminate();
    }
  });
});
