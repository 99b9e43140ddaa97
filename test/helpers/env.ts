/**
 * Which optional system tools the tests may use, and how tests skip. Tests that need Debian's
 * Jupyter, PyTorch or Chromium call `needs(this, ...)` and are skipped, with a notice naming the
 * missing Debian packages, when absent. Every skip goes through `skipBecause` with a reason that
 * test/run.js lists; `.ci/run` installs every tool and sets MOELAB_REQUIRE_ALL=1, which turns any
 * skip not on test/allowed-skips.json (no CUDA device, no AVX-512) into a failure.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

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
  skipBecause(ctx, `needs Debian packages: ${missing.map((t) => packages[t]).join(", ")}`);
}

/**
 * The skip reasons MOELAB_REQUIRE_ALL=1 accepts (test/allowed-skips.json, which test/run.js also
 * reads): hardware a machine may lack.
 */
export const ALLOWED_SKIPS: readonly string[] = (
  JSON.parse(
    readFileSync(join(__dirname, "..", "..", "..", "test", "allowed-skips.json"), "utf8"),
  ) as { allowed: string[] }
).allowed;

/** Why native-backend tests skip where the addon was not built. */
export const NO_ADDON = "the native addon is not built (npm install builds it)";
/** Why AVX-512-vs-portable comparisons skip: without AVX-512 both sides run the portable code. */
export const NO_AVX512 = "no AVX-512 on this CPU";

type Skippable = Mocha.Runnable & { skipReason?: string; type?: string; parent?: Mocha.Suite };

/**
 * Skips the running test, or (from a before hook) its suite, with a reason test/run.js prints.
 * Under MOELAB_REQUIRE_ALL=1 (CI) a reason not on ALLOWED_SKIPS is a failure instead.
 */
export function skipBecause(ctx: Mocha.Context, reason: string): never {
  if (process.env.MOELAB_REQUIRE_ALL === "1" && !ALLOWED_SKIPS.includes(reason))
    throw new Error(
      `would skip (${reason}), but MOELAB_REQUIRE_ALL=1 allows only: ${ALLOWED_SKIPS.join("; ")}`,
    );
  const runnable = ctx.test as Skippable | undefined;
  if (runnable?.type === "hook" && runnable.parent)
    // From a hook the whole suite is skipped: test/run.js finds the reason on the suite.
    (runnable.parent as Mocha.Suite & { skipReason?: string }).skipReason = reason;
  else if (runnable) runnable.skipReason = reason;
  console.log(`      (skipped: ${reason})`);
  ctx.skip();
}

/**
 * For tests generated per backend: when the addon is missing, registers one skipped test (with
 * its reason) in place of the native ones, so they are counted rather than silently absent.
 */
export function nativeOrSkip(hasNative: boolean, what: string): boolean {
  if (!hasNative)
    it(`${what} (native backend)`, function () {
      skipBecause(this, NO_ADDON);
    });
  return hasNative;
}
