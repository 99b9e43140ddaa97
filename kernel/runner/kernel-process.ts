/**
 * Starts a kernel process on a fresh connection file and waits until it answers, the way
 * Jupyter's own launchers do: the kernel command gets `{connection_file}` substituted.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { KernelClient, newConnectionInfo, type ConnectionInfo, type Message } from "./client.js";

/** The moelab kernel's own command: this Node running bin/moelab.js. */
export function moelabKernelCommand(): string[] {
  const bin = path.resolve(__dirname, "..", "..", "..", "bin", "moelab.js");
  return [process.execPath, bin, "kernel", "--connection-file", "{connection_file}"];
}

/**
 * The kernel command `moelab run` uses: MOELAB_RUN_KERNEL_CMD (a JSON array with
 * "{connection_file}", for tests that drive another kernel) or moelab's own.
 */
export function defaultKernelCommand(env: NodeJS.ProcessEnv = process.env): string[] {
  const raw = env.MOELAB_RUN_KERNEL_CMD;
  if (!raw) return moelabKernelCommand();
  let cmd: unknown;
  try {
    cmd = JSON.parse(raw);
  } catch {
    throw new Error("MOELAB_RUN_KERNEL_CMD must be a JSON array of strings");
  }
  if (!Array.isArray(cmd) || cmd.length === 0 || !cmd.every((a) => typeof a === "string")) {
    throw new Error("MOELAB_RUN_KERNEL_CMD must be a non-empty JSON array of strings");
  }
  return cmd as string[];
}

export interface StartOptions {
  /** argv with "{connection_file}"; defaults to defaultKernelCommand(). */
  command?: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Milliseconds to wait for the first kernel_info_reply (default 60 s). */
  startupTimeoutMs?: number;
}

/** A running kernel with a connected client. */
export class RunningKernel {
  private stderrText = "";
  private exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private readonly exitPromise: Promise<void>;
  kernelInfo: Record<string, unknown> = {};

  private constructor(
    readonly process: ChildProcess,
    readonly client: KernelClient,
    readonly connection: ConnectionInfo,
    private readonly dir: string,
  ) {
    process.stderr?.on("data", (d: Buffer) => {
      // Keep the tail only: it is shown when the kernel fails.
      this.stderrText = (this.stderrText + d.toString("utf8")).slice(-20000);
    });
    process.stdout?.on("data", () => undefined);
    this.exitPromise = new Promise((resolve) => {
      process.once("exit", (code, signal) => {
        this.exited = { code, signal };
        resolve();
      });
      process.once("error", (e) => {
        this.stderrText += `\n${e.message}`;
        this.exited = { code: null, signal: null };
        resolve();
      });
    });
  }

  get stderr(): string {
    return this.stderrText;
  }

  get hasExited(): boolean {
    return this.exited !== null;
  }

  /** Why the kernel is gone, with its stderr, for error messages. */
  describeExit(): string {
    const e = this.exited;
    const how = !e
      ? "is still running"
      : e.signal
        ? `was killed by ${e.signal}`
        : `exited with code ${e.code}`;
    const err = this.stderrText.trim();
    return `the kernel ${how}${err ? `; its stderr:\n${err}` : " (no stderr)"}`;
  }

  static async start(options: StartOptions = {}): Promise<RunningKernel> {
    const command = options.command ?? defaultKernelCommand();
    const info = await newConnectionInfo();
    const dir = mkdtempSync(path.join(tmpdir(), "moelab-run-"));
    const file = path.join(dir, "kernel.json");
    writeFileSync(file, JSON.stringify(info, null, 2), { mode: 0o600 });
    const argv = command.map((a) => a.replace("{connection_file}", file));
    const child = spawn(argv[0], argv.slice(1), {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const client = new KernelClient(info);
    const k = new RunningKernel(child, client, info, dir);
    try {
      await k.waitReady(options.startupTimeoutMs ?? 60000);
    } catch (e) {
      await k.kill();
      throw e;
    }
    return k;
  }

  /**
   * Sends kernel_info_request until a reply came AND iopub delivered its idle status, so no
   * output of the first cell is lost to a subscription still being set up.
   */
  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const gone = this.exitPromise.then(() => "exit" as const);
    while (Date.now() < deadline) {
      let idleSeen!: () => void;
      const idle = new Promise<"idle">((r) => (idleSeen = () => r("idle")));
      let id = "";
      const stop = this.client.onIopub((m: Message) => {
        if (m.parent_header.msg_id === id && m.content.execution_state === "idle") idleSeen();
      });
      const req = this.client.request("shell", "kernel_info_request", {});
      id = req.msgId;
      req.reply.catch(() => undefined);
      const wait = (ms: number) =>
        new Promise<"timeout">((r) => setTimeout(() => r("timeout"), ms).unref());
      const reply = await Promise.race([
        req.reply,
        gone,
        wait(Math.min(2000, deadline - Date.now())),
      ]);
      if (reply === "exit") {
        stop();
        throw new Error(`kernel failed to start: ${this.describeExit()}`);
      }
      if (reply !== "timeout") {
        this.kernelInfo = reply.content;
        const seen = await Promise.race([idle, gone, wait(500)]);
        stop();
        if (seen === "idle") return;
        if (seen === "exit") throw new Error(`kernel failed to start: ${this.describeExit()}`);
      } else {
        stop();
      }
    }
    throw new Error(
      `kernel failed to start: no kernel_info_reply within ${timeoutMs / 1000} s; ${this.describeExit()}`,
    );
  }

  /** Asks for shutdown on control, waits for the process to end, then cleans up. */
  async shutdown(timeoutMs = 5000): Promise<void> {
    if (!this.hasExited) {
      const req = this.client.request("control", "shutdown_request", { restart: false }, timeoutMs);
      await req.reply.catch(() => undefined);
      const ended = await Promise.race([
        this.exitPromise.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref()),
      ]);
      if (!ended) await this.kill();
    }
    this.cleanup();
  }

  /** Ends the process without asking (SIGKILL after a grace period). */
  async kill(): Promise<void> {
    if (!this.hasExited) {
      this.process.kill("SIGTERM");
      const ended = await Promise.race([
        this.exitPromise.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 2000).unref()),
      ]);
      if (!ended) {
        this.process.kill("SIGKILL");
        await this.exitPromise;
      }
    }
    this.cleanup();
  }

  /** Resolves when the process has ended. */
  waitExit(): Promise<void> {
    return this.exitPromise;
  }

  private cleanup(): void {
    this.client.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
