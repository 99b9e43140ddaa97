/**
 * Debian's jupyter_kernel_test (its message validator and all its checks) against the protocol
 * side, with the fake executor and language service behind it, so only the protocol is judged.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEBIAN_PYTHON, needs } from "../../helpers/env.js";

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

const MANAGER = `
import builtins, time
from jupyter_client.manager import start_new_kernel
km, kc = start_new_kernel(kernel_name="moelab-fake")
builtins.input = lambda prompt="": "Ada"
outs = []
r = kc.execute_interactive("input name?", output_hook=outs.append, timeout=10)
assert r["content"]["status"] == "ok", r
assert [m["content"]["text"] for m in outs if m["msg_type"] == "stream"] == ["got: Ada\\n"], outs
kc.execute("loop")
time.sleep(0.3)
km.interrupt_kernel()
rep = kc.get_shell_msg(timeout=5)
assert rep["content"]["ename"] == "Interrupted", rep
km.restart_kernel(now=False)
assert km.is_alive()
kc.wait_for_ready(timeout=10)
r = kc.execute_interactive("count", timeout=10)
assert r["content"]["execution_count"] == 1, r
kc.history(hist_access_type="tail", n=3)
h = kc.get_shell_msg(timeout=5)["content"]["history"]
assert [e[0] for e in h] == [1, 1, 2], h
km.shutdown_kernel(now=False)
assert not km.is_alive()
print("MANAGER OK")
`;

function kernelspec(root: string): string {
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
  return join(root, "path");
}

describe("protocol: jupyter_client's KernelManager with fake parts", function () {
  this.timeout(120000);
  before(function () {
    needs(this, "jupyter_client");
  });

  it("does stdin, interrupt (message mode), restart (process exits, history kept) and shutdown", () => {
    const root = mkdtempSync(join(tmpdir(), "moelab-jc-"));
    writeFileSync(join(root, "manager.py"), MANAGER);
    const r = spawnSync(DEBIAN_PYTHON, [join(root, "manager.py")], {
      env: { ...process.env, JUPYTER_PATH: kernelspec(root), JUPYTER_DATA_DIR: join(root, "data") },
      encoding: "utf8",
      timeout: 110000,
      cwd: root,
    });
    const out = `${r.stdout}\n${r.stderr}`;
    assert.equal(r.status, 0, out);
    assert.match(out, /MANAGER OK/);
  });
});

describe("protocol: jupyter_kernel_test (Debian) with fake parts", function () {
  this.timeout(120000);
  before(function () {
    needs(this, "jupyter_kernel_test");
  });

  it("passes every test of the suite (pager aside)", () => {
    const root = mkdtempSync(join(tmpdir(), "moelab-jkt-"));
    const path = kernelspec(root);
    writeFileSync(join(root, "suite.py"), SUITE);
    const r = spawnSync(DEBIAN_PYTHON, [join(root, "suite.py"), "-v"], {
      env: {
        ...process.env,
        JUPYTER_PATH: path,
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
