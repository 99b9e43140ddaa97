import { strict as assert } from "node:assert";
import {
  createLanguage,
  strictFromEnv,
  type LanguageServer,
} from "../../../kernel/language/index.js";
import { makeNotebookDir, removeDir } from "./fixture.js";

describe("language (worker client)", function () {
  this.timeout(120_000);
  let dir: string;
  let lang: LanguageServer;

  before(() => {
    dir = makeNotebookDir();
    lang = createLanguage({ cwd: dir, warmupDelayMs: 0 });
  });

  after(async () => {
    await lang.dispose();
    removeDir(dir);
  });

  it("completes, inspects, checks and answers is_complete through the worker", async () => {
    const [c, i, k, d] = await Promise.all([
      lang.complete("Math.ab", 7),
      lang.inspect("Math.max", 8, 0),
      lang.isComplete("foo(1,"),
      lang.check("let n: number = 'x';"),
    ]);
    assert.deepEqual(c.matches, ["abs"]);
    assert.equal(i.found, true);
    assert.match(String(i.data["text/plain"]), /Returns the larger/);
    assert.equal(k.status, "incomplete");
    assert.deepEqual(
      d.map((x) => [x.line, x.column, x.code]),
      [[1, 5, 2322]],
    );
  });

  it("sees recorded cells in later requests, in order", async () => {
    lang.record("const fromWorker = [1, 2, 3];");
    lang.record("1 + 1");
    lang.record('import { greet } from "fake-pkg";');
    const c = await lang.complete("fromWorker.fil", 14);
    assert.deepEqual(c.matches, ["fill", "filter"]);
    assert.deepEqual(
      await lang.check('greet("x").toUpperCase(); fromWorker.map((v) => v * 2);'),
      [],
    );
    const stats = await lang.stats();
    assert.ok(stats && stats.recorded === 3 && stats.names === 2, JSON.stringify(stats));
  });

  it("resolves moelab from any folder", async () => {
    assert.deepEqual(
      await lang.check('import { version } from "moelab";\nversion.toUpperCase();'),
      [],
    );
    const c = await lang.complete('import { vers } from "moelab"', 13);
    assert.deepEqual(c.matches, ["version"]);
  });

  it("answers bad input with empty results instead of throwing", async () => {
    const c = await lang.complete("Math.ab", 999);
    assert.deepEqual(c.matches, ["abs"]);
    assert.equal(c.cursor_end, 7);
    const neg = await lang.complete("Math.ab", -4);
    assert.equal(neg.cursor_start, 0);
    const bad = lang as unknown as {
      check(code: unknown): Promise<unknown>;
      isComplete(code: unknown): Promise<unknown>;
    };
    assert.deepEqual(await bad.check(42), []);
    assert.deepEqual(await bad.isComplete(undefined), { status: "unknown" });
    assert.throws(() => createLanguage({ cwd: "" }), /opts\.cwd/);
  });

  it("returns empty results after dispose", async () => {
    const other = createLanguage({ cwd: dir, warmupDelayMs: 60_000 });
    await other.dispose();
    const c = await other.complete("Math.ab", 7);
    assert.deepEqual(c, { matches: [], cursor_start: 7, cursor_end: 7, metadata: {} });
    assert.deepEqual(await other.inspect("Math.max", 8, 0), {
      found: false,
      data: {},
      metadata: {},
    });
    other.record("const x = 1;");
  });

  it("gives up on a request that outlives its timeout", async () => {
    const slow = createLanguage({ cwd: dir, warmupDelayMs: 60_000, timeoutMs: 1 });
    // The first request needs a program (far more than 1 ms), so it times out and is empty.
    const c = await slow.complete("Math.ab", 7);
    assert.deepEqual(c.matches, []);
    await slow.dispose();
  });

  it("restarts a worker that died, replaying the recorded cells", async () => {
    const fresh = createLanguage({ cwd: dir, warmupDelayMs: 60_000 });
    fresh.record("const survivor = 'kept';");
    assert.deepEqual((await fresh.complete("survivor.toUpp", 14)).matches, ["toUpperCase"]);
    const inner = fresh as unknown as { worker?: { terminate(): Promise<number> } };
    assert.ok(inner.worker, "a worker is running");
    await inner.worker.terminate();
    assert.deepEqual((await fresh.complete("survivor.toLow", 14)).matches, ["toLowerCase"]);
    await fresh.dispose();
  });

  it("replaces its worker every rotateAfter programs, keeping declarations and settings", async () => {
    const l = createLanguage({ cwd: dir, warmupDelayMs: 0, rotateAfter: 6 });
    try {
      l.record('import { Transformer } from "moelab";\nconst model = Transformer.create("tiny");');
      l.record("let kept = { alpha: 1 };");
      assert.deepEqual(await l.configure({ strict: true }), { strict: true });
      for (let i = 0; i < 6; i++) {
        l.record(`const step${i} = ${i};`);
        assert.deepEqual(await l.check(`kept.alpha + step${i}`), []);
      }
      // Cells recorded while the replacement warms up reach it too.
      l.record("const duringWarmUp = 7;");
      // The new worker takes over once it has built its first program.
      let stats = await l.stats();
      for (let i = 0; i < 600 && !(stats && stats.replaced >= 1); i++) {
        await new Promise((r) => setTimeout(r, 100));
        stats = await l.stats();
      }
      assert.ok(stats && stats.replaced >= 1, `workers: ${JSON.stringify(stats)}`);
      assert.ok(stats.names >= 8, `names carried over: ${JSON.stringify(stats)}`);
      const c = await l.complete("model.runWith", 13);
      assert.deepEqual(c.matches, ["runWithCache", "runWithHooks"]);
      assert.deepEqual((await l.complete("step", 4)).matches.length, 6);
      assert.deepEqual((await l.complete("duringWarm", 10)).matches, ["duringWarmUp"]);
      assert.deepEqual(await l.check("const n: number = duringWarmUp;"), []);
      // Strict checking survived the new workers.
      const d = await l.check("function f(x) { return x; }");
      assert.deepEqual(
        d.map((x) => x.code),
        [7006],
      );
      await assert.rejects(
        l.configure({ strict: "yes" as unknown as boolean }),
        /settings.strict must be true or false/,
      );
    } finally {
      await l.dispose();
    }
  });

  it("reads MOELAB_STRICT from the kernel's environment", () => {
    for (const v of ["1", "true", "YES", " on "])
      assert.equal(strictFromEnv({ MOELAB_STRICT: v }), true, v);
    for (const v of ["", "0", "false", "off", "strict"])
      assert.equal(strictFromEnv({ MOELAB_STRICT: v }), false, v);
    assert.equal(strictFromEnv({}), false);
  });
});
