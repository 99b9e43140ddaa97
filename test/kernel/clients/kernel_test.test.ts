/**
 * Real clients (b): Debian's jupyter_kernel_test (0.4.5), configured in kernel_test_moelab.py,
 * runs once against the installed kernelspec; each of its tests becomes one mocha test here.
 */
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { DEBIAN_PYTHON, needs } from "../../helpers/env.js";
import { ROOT, needsKernel, runAsync, tempJupyter, type TempJupyter } from "./kernelspec.js";

/** Runs the suite with a result object that reports every test (and subtest) as JSON. */
const RUNNER = `
import importlib, json, sys, unittest
cls = getattr(importlib.import_module(sys.argv[1]), sys.argv[2])
suite = unittest.defaultTestLoader.loadTestsFromTestCase(cls)
rank = {"ok": 0, "skipped": 1, "failed": 2, "error": 3}
out = {t.id().split(".")[-1]: ["ok", ""] for t in suite}
res = unittest.TestResult()
suite.run(res)
def note(test, status, detail):
    case = getattr(test, "test_case", test)
    cur = out.setdefault(case.id().split(".")[-1], ["ok", ""])
    if rank[status] > rank[cur[0]]:
        cur[0] = status
    cur[1] += ("" if test is case else str(test) + ": ") + str(detail) + "\\n"
for t, why in res.skipped: note(t, "skipped", why)
for t, tb in res.failures: note(t, "failed", tb)
for t, tb in res.errors: note(t, "error", tb)
print("RESULT " + json.dumps(out))
`;

const TESTS = [
  "test_kernel_info",
  "test_execute_stdout",
  "test_execute_stderr",
  "test_completion",
  "test_is_complete",
  "test_pager",
  "test_error",
  "test_execute_result",
  "test_display_data",
  "test_history",
  "test_inspect",
  "test_clear_output",
];

describe("real clients: jupyter_kernel_test 0.4.5", function () {
  let jup: TempJupyter;
  let results: Record<string, [string, string]> = {};
  let raw = "";

  before(async function () {
    needs(this, "jupyter_kernel_test", "jupyter_client");
    needsKernel(this);
    this.timeout(300000);
    jup = tempJupyter();
    const env = { ...jup.env, PYTHONPATH: path.join(ROOT, "test", "kernel", "clients") };
    const r = await runAsync(
      DEBIAN_PYTHON,
      ["-c", RUNNER, "kernel_test_moelab", "MoelabKernelTests"],
      { env, cwd: jup.dir, timeoutMs: 280000 },
    );
    raw = r.stderr.slice(-4000);
    const line = r.stdout.split("\n").find((l) => l.startsWith("RESULT "));
    assert.ok(line, `jupyter_kernel_test did not report (exit ${r.code}):\n${raw}`);
    results = JSON.parse(line.slice("RESULT ".length));
  });
  after(() => jup?.cleanup());

  it("runs all 12 tests of the suite", () => {
    assert.deepEqual(Object.keys(results).sort(), [...TESTS].sort(), raw);
  });

  for (const name of TESTS) {
    it(`${name} passes (not skipped)`, () => {
      const [status, detail] = results[name] ?? ["missing", raw];
      assert.equal(status, "ok", `${name}: ${status}\n${detail}`);
    });
  }
});
