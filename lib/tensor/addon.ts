/**
 * Finds and loads the native addon once for the whole library (tensor ops, SGEMM, FP8).
 *
 * Order: a prebuilt binary shipped in the package (`prebuilds/<platform>-<arch>/`), so that
 * `npm install moelab` works where npm skips dependencies' install scripts; then the one
 * `npm install` built from source (`build/Release/`). MOELAB_NO_NATIVE=1 skips both (tests use it
 * to compare the TypeScript paths); MOELAB_REQUIRE_NATIVE=1 turns a missing addon into an error.
 */
import * as path from "node:path";
import { existsSync } from "node:fs";

/** The package root: dist/lib/tensor/addon.js -> <root>. */
const ROOT = path.join(__dirname, "..", "..", "..");

export function addonCandidates(): string[] {
  return [
    path.join(ROOT, "prebuilds", `${process.platform}-${process.arch}`, "moelab_native.node"),
    path.join(ROOT, "build", "Release", "moelab_native.node"),
  ];
}

let cached: Record<string, unknown> | null | undefined;
/** Where the loaded addon came from, or why none was loaded. */
export let addonSource = "not loaded yet";

export function loadAddon(): Record<string, unknown> | null {
  if (cached !== undefined) return cached;
  cached = null;
  if (process.env.MOELAB_NO_NATIVE === "1") {
    addonSource = "disabled by MOELAB_NO_NATIVE=1";
    return cached;
  }
  const errors: string[] = [];
  for (const file of addonCandidates()) {
    if (!existsSync(file)) continue;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      cached = require(file) as Record<string, unknown>;
      addonSource = file;
      return cached;
    } catch (e) {
      errors.push(`${file}: ${(e as Error).message}`);
    }
  }
  addonSource =
    errors.length > 0
      ? `failed to load: ${errors.join("; ")}`
      : `not found (looked for ${addonCandidates().join(", ")}); run \`npm install\` in the moelab package to build it`;
  if (process.env.MOELAB_REQUIRE_NATIVE === "1")
    throw new Error(`moelab native addon ${addonSource}`);
  // The TypeScript paths still work, only slower: say so once rather than fail.
  process.emitWarning(`moelab: native addon ${addonSource}; using the (slower) TypeScript kernels`);
  return cached;
}
