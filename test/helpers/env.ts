/**
 * Which optional system tools the tests may use. Tests that need Debian's Jupyter, PyTorch or
 * Chromium call `needs(this, ...)` and are skipped, with a notice naming the missing Debian
 * packages, when absent. `.ci/run` installs them all, so CI never skips (MOELAB_REQUIRE_ALL=1
 * turns a skip into a failure there).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

/** Debian's own Python, which has Debian's Jupyter and torch (the first python3 on PATH may not). */
export const DEBIAN_PYTHON = "/usr/bin/python3";

export type Tool =
  | "jupyter_client"
  | "nbclient"
  | "nbconvert"
  | "jupyter_server"
  | "jupyter_kernel_test"
  | "ipykernel"
  | "torch"
  | "chromium";

const packages: Record<Tool, string> = {
  jupyter_client: "python3-jupyter-client",
  nbclient: "python3-nbclient",
  nbconvert: "jupyter-nbconvert",
  jupyter_server: "jupyter-server",
  jupyter_kernel_test: "python3-jupyter-kernel-test",
  ipykernel: "python3-ipykernel",
  torch: "python3-torch",
  chromium: "chromium",
};

const cache = new Map<Tool, boolean>();

export function has(tool: Tool): boolean {
  const known = cache.get(tool);
  if (known !== undefined) return known;
  let ok: boolean;
  if (tool === "chromium") ok = existsSync("/usr/bin/chromium");
  else {
    ok =
      existsSync(DEBIAN_PYTHON) &&
      spawnSync(DEBIAN_PYTHON, ["-c", `import ${tool}`], { stdio: "ignore" }).status === 0;
  }
  cache.set(tool, ok);
  return ok;
}

/** Skips the current test (or suite, from a before hook) when a tool is missing. */
export function needs(ctx: Mocha.Context, ...tools: Tool[]): void {
  const missing = tools.filter((t) => !has(t));
  if (missing.length === 0) return;
  const notice = `needs Debian packages: ${missing.map((t) => packages[t]).join(", ")}`;
  if (process.env.MOELAB_REQUIRE_ALL === "1") throw new Error(notice);
  console.log(`      (skipped: ${notice})`);
  ctx.skip();
}
