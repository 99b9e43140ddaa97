/** The `moelab` command line: dispatch, usage errors, and `moelab kernel -f` serving a client. */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { RunningKernel } from "../../../kernel/runner/kernel-process.js";
import { ROOT, needsKernel } from "./kernelspec.js";

const BIN = path.join(ROOT, "bin", "moelab.js");

function moelab(args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 60000 });
}

describe("moelab command line", () => {
  it("prints usage and exits 2 for no or unknown commands", () => {
    const none = moelab([]);
    assert.equal(none.status, 2);
    assert.match(none.stdout, /usage: moelab <command>/);
    const bad = moelab(["frobnicate"]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /unknown command "frobnicate"/);
  });

  it("prints the package version", () => {
    const v = moelab(["--version"]);
    assert.equal(v.status, 0);
    assert.equal(
      v.stdout.trim(),
      JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")).version,
    );
  });

  it("kernel: needs a connection file, and names one it cannot read", () => {
    const missing = moelab(["kernel"]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /needs --connection-file FILE/);
    const unreadable = moelab(["kernel", "-f", "/nonexistent/conn.json"]);
    assert.equal(unreadable.status, 1);
    assert.match(unreadable.stderr, /\/nonexistent\/conn\.json/);
  });

  it("kernel -f / --connection-file=: serves kernel_info and shuts down on request", async function () {
    needsKernel(this);
    const data = mkdtempSync(path.join(tmpdir(), "moelab-cli-"));
    try {
      for (const flag of [["-f", "{connection_file}"], ["--connection-file={connection_file}"]]) {
        const k = await RunningKernel.start({
          command: [process.execPath, BIN, "kernel", ...flag],
          env: { ...process.env, JUPYTER_DATA_DIR: data },
        });
        try {
          assert.equal((k.kernelInfo.language_info as { name: string }).name, "typescript");
          assert.equal(k.kernelInfo.status, "ok");
        } finally {
          await k.shutdown();
        }
        assert.ok(k.hasExited, "the kernel process ends after shutdown_request");
      }
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });
});
