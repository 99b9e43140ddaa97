/**
 * Debian's jupyter_kernel_test (its message validator and all its checks) against the protocol
 * side, with the fake executor and language service behind it, so only the protocol is judged.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEBIAN_PYTHON, needs } from "../../helpers/env";

const LAUNCHER = join(__dirname, "..", "..", "helpers", "launch-kernel.js");

const SUITE = `
import unittest
import jupyter_kernel_test as jkt

class MoelabProtocolTests(jkt.KernelTests):
    kernel_name = "moelab-fake"
    language_name = "typescript"
    file_extension = ".ts"
    code_hello_world = "print hello, world"
    code_stderr = "eprint oops"
    completion_samples = [{"text": "Math.a", "matches": {"abs", "acos"}}]
    complete_code_samples = ["1 + 1"]
    incomplete_code_samples = ["function f() {"]
    invalid_code_samples = [") x"]
    code_generate_error = "throw Error boom"
    code_execute_result = [{"code": "6 * 7", "result": "42"}]
    code_display_data = [{"code": "display hi", "mime": "text/plain"}]
    code_history_pattern = "6*7"
    supported_history_operations = ("tail", "range", "search")
    code_inspect_sample = "Math"
    code_clear_output = "clear"

if __name__ == "__main__":
    unittest.main()
`;

describe("protocol: jupyter_kernel_test (Debian) with fake parts", function () {
  this.timeout(120000);
  before(function () {
    needs(this, "jupyter_kernel_test");
  });

  it("passes every test of the suite (pager aside)", () => {
    const root = mkdtempSync(join(tmpdir(), "moelab-jkt-"));
    const spec = join(root, "path", "kernels", "moelab-fake");
    mkdirSync(spec, { recursive: true });
    writeFileSync(
      join(spec, "kernel.json"),
      JSON.stringify({
        argv: [process.execPath, LAUNCHER, "{connection_file}", "--fake"],
        display_name: "moelab (fake parts)",
        language: "typescript",
        interrupt_mode: "message",
      }),
    );
    writeFileSync(join(root, "suite.py"), SUITE);
    const r = spawnSync(DEBIAN_PYTHON, [join(root, "suite.py"), "-v"], {
      env: {
        ...process.env,
        JUPYTER_PATH: join(root, "path"),
        JUPYTER_DATA_DIR: join(root, "data"),
      },
      encoding: "utf8",
      timeout: 110000,
    });
    const out = `${r.stdout}\n${r.stderr}`;
    assert.equal(r.status, 0, out);
    // test_pager needs a pager payload, which the executor contract does not carry: the only skip.
    assert.equal((out.match(/\.\.\. ok$/gm) ?? []).length, 11, out);
    assert.equal((out.match(/\.\.\. skipped/g) ?? []).length, 1, out);
  });
});
