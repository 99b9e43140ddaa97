/**
 * test/run.js's skip accounting: every skipped test is listed with its reason (from
 * test/helpers/env.ts's skipBecause, on the test or its suite), and under MOELAB_REQUIRE_ALL=1 a
 * skip whose reason is not on test/allowed-skips.json fails the run, bare this.skip() included.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { ALLOWED_SKIPS, NO_AVX512 } from "./helpers/env.js";

const ROOT = path.resolve(__dirname, "..", "..");
const RUN = path.join(ROOT, "test", "run.js");
const ENV = JSON.stringify(path.join(__dirname, "helpers", "env.js"));

const TRIAL = `
const { skipBecause, NO_AVX512 } = require(${ENV});
describe("trial", function () {
  describe("hook-skipped suite", function () {
    before(function () { skipBecause(this, "a tool is missing"); });
    it("a", () => {});
    it("b", () => {});
  });
  it("allowed", function () { skipBecause(this, NO_AVX512); });
  it("passes", () => {});
});
`;

function run(file: string, requireAll: boolean) {
  const env = { ...process.env, MOELAB_REQUIRE_ALL: requireAll ? "1" : "" };
  const r = spawnSync(process.execPath, [RUN, file], { encoding: "utf8", env });
  return { status: r.status, out: r.stdout + r.stderr };
}

describe("test/run.js: every skip counted", function () {
  this.timeout(60000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "moelab-skips-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("the allow-list is the hardware a machine may lack", () => {
    assert.deepEqual([...ALLOWED_SKIPS], ["no CUDA device", "no AVX-512 on this CPU"]);
    assert.ok(ALLOWED_SKIPS.includes(NO_AVX512));
  });

  it("lists each skipped test with its reason, hook skips included", () => {
    const f = path.join(dir, "trial.test.js");
    writeFileSync(f, TRIAL);
    const r = run(f, false);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /skipped \(3\):/);
    assert.match(r.out, /- trial hook-skipped suite a: a tool is missing\n/);
    assert.match(r.out, /- trial hook-skipped suite b: a tool is missing\n/);
    assert.match(r.out, /- trial allowed: no AVX-512 on this CPU\n/);
    assert.match(r.out, /tests: 1 passed, 0 failed, 3 skipped/);
  });

  it("MOELAB_REQUIRE_ALL=1: a skip off the allow-list fails, an allowed one does not", () => {
    const f = path.join(dir, "trial.test.js");
    writeFileSync(f, TRIAL);
    const r = run(f, true);
    assert.equal(r.status, 1, r.out);
    // skipBecause itself fails in CI rather than skipping:
    assert.match(r.out, /would skip \(a tool is missing\), but MOELAB_REQUIRE_ALL=1 allows only/);
    assert.match(r.out, /- trial allowed: no AVX-512 on this CPU\n/);
    const allowedOnly = path.join(dir, "allowed.test.js");
    writeFileSync(
      allowedOnly,
      `const { skipBecause } = require(${ENV});
       it("no cuda", function () { skipBecause(this, "no CUDA device"); });
       it("passes", () => {});`,
    );
    const ok = run(allowedOnly, true);
    assert.equal(ok.status, 0, ok.out);
    assert.match(ok.out, /tests: 1 passed, 0 failed, 1 skipped/);
  });

  it("MOELAB_REQUIRE_ALL=1: a bare this.skip() or it.skip fails the run", () => {
    const f = path.join(dir, "bare.test.js");
    writeFileSync(
      f,
      `it("bare", function () { this.skip(); });
       it.skip("marked", () => {});
       it("passes", () => {});`,
    );
    const loose = run(f, false);
    assert.equal(loose.status, 0, loose.out);
    assert.match(loose.out, /- bare: no reason given/);
    const strict = run(f, true);
    assert.equal(strict.status, 1, strict.out);
    assert.match(strict.out, /- bare: no reason given .*\[not allowed\]/);
    assert.match(strict.out, /MOELAB_REQUIRE_ALL=1: 2 skip\(s\) not on the allow-list/);
  });
});
