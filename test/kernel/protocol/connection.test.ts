import { strict as assert } from "node:assert";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readConnectionFile, startKernel, validateConnection } from "../../../kernel/main.js";

const good = {
  transport: "tcp",
  ip: "127.0.0.1",
  shell_port: 1,
  iopub_port: 2,
  stdin_port: 3,
  control_port: 4,
  hb_port: 5,
  key: "k",
  signature_scheme: "hmac-sha256",
};

function file(text: string): string {
  const f = join(mkdtempSync(join(tmpdir(), "moelab-conn-")), "kernel.json");
  writeFileSync(f, text);
  return f;
}

describe("kernel/main connection files", () => {
  it("reads a valid connection file", () => {
    const c = readConnectionFile(file(JSON.stringify(good)));
    assert.equal(c.shell_port, 1);
    assert.equal(c.key, "k");
  });

  it("names the file and the problem for bad files", () => {
    assert.throws(
      () => readConnectionFile("/nonexistent/kernel.json"),
      /cannot read the connection file \/nonexistent\/kernel.json/,
    );
    assert.throws(() => readConnectionFile(file("{oops")), /is not valid JSON/);
    assert.throws(() => validateConnection([1]), /is not a JSON object/);
    assert.throws(
      () => validateConnection({ ...good, transport: "udp" }),
      /transport must be "tcp" or "ipc", got "udp"/,
    );
    assert.throws(
      () => validateConnection({ ...good, hb_port: "5" }),
      /hb_port must be an integer port/,
    );
    assert.throws(
      () => validateConnection({ ...good, shell_port: 70000 }),
      /shell_port must be an integer port/,
    );
    assert.throws(
      () => validateConnection({ ...good, signature_scheme: "hmac-md5" }),
      /unsupported signature_scheme/,
    );
    assert.throws(() => validateConnection({ ...good, key: 5 }), /key must be a string/);
  });

  it("startKernel rejects a bad connection file before binding anything", async () => {
    await assert.rejects(startKernel(file("[]"), { exitProcess: false }), /is not a JSON object/);
  });

  it("writes back the ports it chose when the file says 0", async () => {
    const f = file(
      JSON.stringify({
        ...good,
        shell_port: 0,
        iopub_port: 0,
        stdin_port: 0,
        control_port: 0,
        hb_port: 0,
      }),
    );
    const k = await startKernel(f, {
      exitProcess: false,
      log: () => {},
      dataDir: mkdtempSync(join(tmpdir(), "moelab-data-")),
      createExecutor: () => Promise.reject(new Error("not needed")),
      createLanguage: () => {
        throw new Error("not needed");
      },
    });
    try {
      const written = JSON.parse(readFileSync(f, "utf8")) as typeof good;
      assert.ok(written.shell_port > 0);
      assert.equal(written.shell_port, k.connection.shell_port);
      assert.equal(written.key, "k");
    } finally {
      await k.shutdown();
    }
  });
});
