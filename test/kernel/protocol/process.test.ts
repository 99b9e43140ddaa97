/**
 * The kernel as its own process (as Jupyter runs it): signals, shutdown and restart exit the
 * process, history survives the restart. With fake parts through the test launcher, and with the
 * real `moelab kernel` when the executor and language service are built.
 */
import { strict as assert } from "node:assert";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import {
  LaunchedKernel,
  launchKernel,
  outputsOf,
  streamText,
  writeConnectionFile,
} from "../../helpers/client.js";
import { Header } from "../../../kernel/wire/messages.js";
import { skipBecause } from "../../helpers/env.js";

const LAUNCHER = join(__dirname, "..", "..", "helpers", "launch-kernel.js");
const fakeArgv = [process.execPath, LAUNCHER, "{connection_file}", "--fake"];

describe("protocol: kernel process (fake parts)", function () {
  this.timeout(30000);
  let dataDir: string;
  let kernels: LaunchedKernel[] = [];
  const launch = async (file?: string): Promise<LaunchedKernel> => {
    const k = await launchKernel({ argv: fakeArgv, env: { JUPYTER_DATA_DIR: dataDir }, file });
    kernels.push(k);
    return k;
  };
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), "moelab-data-"));
    kernels = [];
  });
  afterEach(async () => {
    for (const k of kernels) await k.close();
  });

  it("SIGINT interrupts a busy cell and the kernel keeps its state", async () => {
    const k = await launch();
    const c = k.client;
    await c.execute("set x 7");
    const h = c.sendExecute("loop");
    await c.waitFor(
      () => c.iopubFor(h.msg_id).find((m) => m.header.msg_type === "execute_input"),
      "the loop",
    );
    k.process.kill("SIGINT");
    const reply = await c.reply(h.msg_id);
    assert.equal(reply.content.status, "error");
    assert.equal(reply.content.ename, "Interrupted");
    const r = await c.execute("get x");
    assert.equal(
      (outputsOf(r.iopub, "execute_result")[0].content.data as Record<string, string>)[
        "text/plain"
      ],
      "7",
    );
    assert.equal(k.process.exitCode, null);
  });

  it("shutdown_request replies, then the process exits with code 0", async () => {
    const k = await launch();
    const r = await k.client.request("control", "shutdown_request", { restart: false });
    assert.deepEqual(r.reply.content, { status: "ok", restart: false });
    assert.equal(await k.exited, 0);
  });

  it("restart: reply, exit; the relaunched kernel has a new session and the old history", async () => {
    const k = await launch();
    await k.client.execute("1 + 2");
    const oldSession = k.client.replies[k.client.replies.length - 1].header.session;
    const r = await k.client.request("shell", "shutdown_request", { restart: true });
    assert.deepEqual(r.reply.content, { status: "ok", restart: true });
    assert.equal(await k.exited, 0);
    k.client.close();

    const again = await launch(k.file);
    const c = again.client;
    const e = await c.execute("3 * 3");
    assert.equal(e.reply.content.execution_count, 1);
    assert.notEqual(e.reply.header.session, oldSession);
    const hist = await c.request("shell", "history_request", {
      hist_access_type: "tail",
      n: 2,
      output: true,
    });
    assert.deepEqual(hist.reply.content.history, [
      [1, 1, ["1 + 2", "3"]],
      [2, 1, ["3 * 3", "9"]],
    ]);
  });

  it("SIGTERM shuts down cleanly", async () => {
    const k = await launch();
    k.process.kill("SIGTERM");
    assert.equal(await k.exited, 0);
  });

  it("a bad connection file ends the launch with a message naming it", async () => {
    await assert.rejects(
      launchKernel({ argv: [process.execPath, LAUNCHER, "/nonexistent/conn.json", "--fake"] }),
      /cannot read the connection file \/nonexistent\/conn.json/,
    );
  });
});

describe("protocol: the real `moelab kernel` process", function () {
  this.timeout(60000);
  const dist = join(__dirname, "..", "..", "..", "kernel");
  before(function () {
    const parts = ["cli.js", "executor/index.js", "language/index.js"].filter(
      (p) => !existsSync(join(dist, p)),
    );
    if (parts.length > 0)
      skipBecause(this, `not built yet: ${parts.map((p) => "dist/kernel/" + p).join(", ")}`);
  });

  let k: LaunchedKernel;
  beforeEach(async () => {
    k = await launchKernel({
      env: { JUPYTER_DATA_DIR: mkdtempSync(join(tmpdir(), "moelab-data-")) },
    });
  });
  afterEach(async () => {
    await k.close();
  });

  it("executes, streams, reports errors and shuts down", async () => {
    const c = k.client;
    const r = await c.execute("1 + 1", { timeoutMs: 30000 });
    assert.equal(r.reply.content.status, "ok");
    assert.equal(
      (outputsOf(r.iopub, "execute_result")[0].content.data as Record<string, string>)[
        "text/plain"
      ],
      "2",
    );
    const out = await c.execute('console.log("hello, world")');
    assert.match(streamText(out.iopub, "stdout"), /hello, world/);
    // A tight print loop arrives whole, in a few joined messages (not one per line).
    const flood = await c.execute("for (let i = 0; i < 20000; i++) console.log(i);", {
      timeoutMs: 30000,
    });
    const lines = streamText(flood.iopub, "stdout").split("\n");
    assert.equal(lines.length, 20001);
    assert.equal(lines[19999], "19999");
    const n = outputsOf(flood.iopub, "stream").length;
    assert.ok(n < 100, `${n} stream messages for 20000 lines`);
    const err = await c.execute('throw new Error("boom")');
    assert.equal(err.reply.content.status, "error");
    assert.equal(outputsOf(err.iopub, "error").length, 1);
    const sd = await c.request("control", "shutdown_request", { restart: false });
    assert.equal((sd.reply.parent_header as Header).msg_type, "shutdown_request");
    assert.equal(await k.exited, 0);
  });

  it("interrupts `while (true) {}` through interrupt_request, keeping heartbeat alive", async () => {
    const c = k.client;
    await c.execute("const kept = 5", { timeoutMs: 30000 });
    const h = c.sendExecute("while (true) {}");
    await c.waitFor(
      () => c.iopubFor(h.msg_id).find((m) => m.header.msg_type === "execute_input"),
      "the loop",
    );
    assert.ok(await c.heartbeat());
    await c.request("control", "interrupt_request", {});
    const stopped = await c.reply(h.msg_id);
    assert.equal(stopped.content.status, "error");
    const after = await c.execute("kept + 1");
    assert.equal(
      (outputsOf(after.iopub, "execute_result")[0].content.data as Record<string, string>)[
        "text/plain"
      ],
      "6",
    );
  });
});

/** Whether process `pid` still runs after waiting up to `ms` for it to end (it is killed if so). */
async function stillRunningAfter(pid: number, ms: number): Promise<boolean> {
  const alive = (): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const deadline = Date.now() + ms;
  while (alive() && Date.now() < deadline) await new Promise((res) => setTimeout(res, 200));
  const still = alive();
  if (still) process.kill(pid, "SIGKILL");
  return still;
}

describe("protocol: kernel process whose launcher dies", function () {
  this.timeout(30000);

  // Regression: a kernel whose client crashed kept running forever (seen with `moelab run`).
  it("exits by itself when its parent process is gone", async () => {
    const { file } = await writeConnectionFile();
    // An intermediate process (the kernel's parent, named by JPY_PARENT_PID as jupyter_client
    // does) starts the kernel detached, prints its pid and exits soon after.
    const script = `
      const { spawn } = require("node:child_process");
      const k = spawn(process.execPath, ${JSON.stringify([LAUNCHER, file, "--fake"])},
        { stdio: "ignore", detached: true, env: { ...process.env, JPY_PARENT_PID: String(process.pid) } });
      k.unref();
      console.log(k.pid);
      setTimeout(() => process.exit(0), 1500);`;
    const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8" });
    const pid = Number(r.stdout.trim());
    assert.ok(pid > 0, `no kernel pid from the launcher: ${r.stderr}`);
    const stillAlive = await stillRunningAfter(pid, 15000);
    assert.equal(stillAlive, false, "the orphaned kernel is still running after 15 s");
  });

  // Regression: with its stderr a pipe to the dead launcher (as `moelab run` and jupyter_client
  // give it), every log line failed with EPIPE, the failure was logged again, and the kernel
  // spun at full CPU forever, deaf to SIGTERM.
  it("exits when the launcher that held its stdout and stderr pipes is gone", async () => {
    const { file } = await writeConnectionFile();
    const script = `
      const { spawn } = require("node:child_process");
      const k = spawn(process.execPath, ${JSON.stringify([LAUNCHER, file, "--fake"])},
        { stdio: ["ignore", "pipe", "pipe"], detached: true, env: { ...process.env, JPY_PARENT_PID: String(process.pid) } });
      k.stdout.resume();
      k.stderr.resume();
      console.log(k.pid);
      setTimeout(() => process.exit(0), 1500);`;
    const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8" });
    const pid = Number(r.stdout.trim().split("\n")[0]);
    assert.ok(pid > 0, `no kernel pid from the launcher: ${r.stderr}`);
    const stillAlive = await stillRunningAfter(pid, 20000);
    assert.equal(stillAlive, false, "the kernel whose pipes broke is still running after 20 s");
  });
});
