import { strict as assert } from "node:assert";
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  HistoryStore,
  globToRegExp,
  historyFile,
  jupyterDataDir,
} from "../../../kernel/protocol/history.js";

function store(): HistoryStore {
  return new HistoryStore(historyFile(mkdtempSync(join(tmpdir(), "moelab-hist-"))));
}

describe("protocol/history", () => {
  it("finds the Jupyter data directory as jupyter_core does", () => {
    assert.equal(jupyterDataDir({ JUPYTER_DATA_DIR: "/x/data" }), "/x/data");
    if (process.platform === "linux") {
      assert.equal(jupyterDataDir({ XDG_DATA_HOME: "/x/xdg" }), "/x/xdg/jupyter");
      assert.match(jupyterDataDir({}), /\.local\/share\/jupyter$/);
    }
  });

  it("globs match whole strings with * ? and classes", () => {
    assert.ok(globToRegExp("1?2*").test("1+2"));
    assert.ok(globToRegExp("1?2*").test("1+2\n+3"));
    assert.ok(!globToRegExp("1?2").test("x1+2"));
    assert.ok(globToRegExp("a[bc]d").test("acd"));
    assert.ok(!globToRegExp("a[!bc]d").test("abd"));
    assert.ok(globToRegExp("(x).+").test("(x).+"));
    // "]" first in a set is a member (sqlite's GLOB); "^" and "!" negate.
    assert.ok(globToRegExp("a[]]b").test("a]b"));
    assert.ok(!globToRegExp("a[!]]b").test("a]b"));
    assert.ok(globToRegExp("a[^x]b").test("a]b"));
    assert.ok(globToRegExp("[a-c]").test("b"));
  });

  it("gives kernels started at the same moment different sessions", async () => {
    const file = store().file;
    const kernels = Array.from({ length: 4 }, () => new HistoryStore(file));
    await Promise.all(kernels.map((h) => h.open()));
    const sessions = kernels.map((h) => h.session);
    assert.equal(new Set(sessions).size, 4, `sessions ${sessions.join(", ")}`);
  });

  it("answers tail, range and search (with output, unique and n)", async () => {
    const h = store();
    await h.open();
    assert.equal(h.session, 1);
    h.add(1, "1 + 1", "2");
    h.add(2, "print hi", null);
    h.add(3, "1 + 1", "2");
    assert.deepEqual(h.query({ hist_access_type: "tail", n: 2 }), [
      [1, 2, "print hi"],
      [1, 3, "1 + 1"],
    ]);
    assert.deepEqual(h.query({ hist_access_type: "tail", n: 1, output: true }), [
      [1, 3, ["1 + 1", "2"]],
    ]);
    assert.deepEqual(h.query({ hist_access_type: "range", session: 1, start: 2, stop: 3 }), [
      [1, 2, "print hi"],
    ]);
    assert.deepEqual(h.query({ hist_access_type: "range", session: 0, start: 1 }).length, 3);
    assert.equal(h.query({ hist_access_type: "search", pattern: "1*" }).length, 2);
    assert.deepEqual(h.query({ hist_access_type: "search", pattern: "1*", unique: true }), [
      [1, 3, "1 + 1"],
    ]);
    assert.equal(h.query({ hist_access_type: "search", pattern: "*", n: 1 }).length, 1);
    assert.throws(
      () => h.query({ hist_access_type: "tail", n: -1 }),
      /n must be a non-negative integer/,
    );
    assert.throws(
      () => h.query({ hist_access_type: "sideways" as "tail" }),
      /unknown hist_access_type "sideways"/,
    );
  });

  it("persists across restarts with numbered sessions, and skips bad lines", async () => {
    const h = store();
    await h.open();
    h.add(1, "a", null);
    await h.flush();
    const again = new HistoryStore(h.file);
    await again.open();
    assert.equal(again.session, 2);
    again.add(1, "b", "x");
    assert.deepEqual(again.query({ hist_access_type: "tail", n: 5 }), [
      [1, 1, "a"],
      [2, 1, "b"],
    ]);
    assert.deepEqual(again.query({ hist_access_type: "range", session: -1 }), [[1, 1, "a"]]);
    again.newSession();
    assert.equal(again.session, 3);
    await again.flush();
    writeFileSync(h.file, readFileSync(h.file, "utf8") + "garbage\n");
    const logs: string[] = [];
    const third = new HistoryStore(h.file, (l) => logs.push(l));
    await third.open();
    assert.equal(third.session, 4);
    assert.equal(third.query({ hist_access_type: "tail", n: 10 }).length, 2);
    assert.match(logs.join("\n"), /skipped 1 unreadable line/);
  });

  it("truncates huge outputs", async () => {
    const h = store();
    await h.open();
    h.add(1, "big", "y".repeat(300_000));
    const [[, , [, out]]] = h.query({ hist_access_type: "tail", n: 1, output: true }) as [
      number,
      number,
      [string, string],
    ][];
    assert.ok(out.length < 100_100);
    assert.match(out, /\(truncated\)$/);
  });

  it("creates its folder on first write", async () => {
    const dir = mkdtempSync(join(tmpdir(), "moelab-hist-"));
    mkdirSync(join(dir, "data"));
    const h = new HistoryStore(historyFile(join(dir, "data", "deep")));
    await h.open();
    h.add(1, "x", null);
    await h.flush();
    assert.match(readFileSync(h.file, "utf8"), /"source":"x"/);
  });
});
