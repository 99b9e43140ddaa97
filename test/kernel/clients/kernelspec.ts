/**
 * Test support for real Jupyter clients: installs the moelab kernelspec into a temporary Jupyter
 * data dir and gives the environment that makes Debian's Jupyter find it (and nothing of the user's).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { installKernelSpec } from "../../../kernel/install.js";
import { skipBecause } from "../../helpers/env.js";

export const ROOT = path.resolve(__dirname, "..", "..", "..", "..");

export interface TempJupyter {
  dir: string;
  /** Environment for Python clients: JUPYTER_DATA_DIR/JUPYTER_PATH/runtime dir in `dir`. */
  env: NodeJS.ProcessEnv;
  cleanup(): void;
}

/** Installs the kernelspec "moelab" into a fresh temporary Jupyter data dir. */
export function tempJupyter(): TempJupyter {
  const dir = mkdtempSync(path.join(tmpdir(), "moelab-jupyter-"));
  const data = path.join(dir, "data");
  const runtime = path.join(dir, "runtime");
  mkdirSync(runtime, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    JUPYTER_DATA_DIR: data,
    JUPYTER_PATH: data,
    JUPYTER_RUNTIME_DIR: runtime,
    JUPYTER_CONFIG_DIR: path.join(dir, "config"),
    JUPYTER_PLATFORM_DIRS: "0",
    IPYTHONDIR: path.join(dir, "ipython"),
    PYTHONDONTWRITEBYTECODE: "1",
  };
  installKernelSpec({ name: "moelab", env: { JUPYTER_DATA_DIR: data } });
  return { dir, env, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Whether the moelab kernel has been built (kernel/main.ts by its owners). */
export function kernelBuilt(): boolean {
  const dist = path.join(ROOT, "dist", "kernel");
  return (
    existsSync(path.join(dist, "main.js")) && existsSync(path.join(dist, "executor", "index.js"))
  );
}

/** Skips (or, in CI, fails) when the kernel itself is not built yet. */
export function needsKernel(ctx: Mocha.Context): void {
  if (kernelBuilt()) return;
  skipBecause(ctx, "the kernel (dist/kernel/main.js, executor) is not built");
}

export interface Done {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion without blocking the event loop. */
export function runAsync(
  cmd: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; input?: string } = {},
): Promise<Done> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      env: options.env,
      cwd: options.cwd,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${options.timeoutMs} ms]`;
      child.kill("SIGKILL");
    }, options.timeoutMs ?? 120000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? "");
  });
}
