/** The addon loader: a prebuilt binary shipped in the package is loaded before a local build. */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addonCandidates, addonSource, loadAddon } from "../../../lib/tensor/addon.js";

const ROOT = join(__dirname, "..", "..", "..", "..");
const BUILT = join(ROOT, "build", "Release", "moelab_native.node");

describe("tensor: native addon loader", () => {
  it("loads the addon this checkout built, with the kernels the library needs", () => {
    const addon = loadAddon();
    assert.ok(addon, `no addon: ${addonSource}`);
    for (const name of ["sgemm", "opsSoftmax", "fp8Gemm", "setNumThreads"])
      assert.equal(typeof addon[name], "function", `addon lacks ${name}`);
  });

  it("prefers prebuilds/<platform>-<arch> over build/Release (installs that skip scripts)", function () {
    if (!existsSync(BUILT)) this.skip();
    // A package laid out as npm installs it, with only the prebuilt binary and no build/.
    const pkg = mkdtempSync(join(tmpdir(), "moelab-pkg-"));
    mkdirSync(join(pkg, "dist", "lib", "tensor"), { recursive: true });
    copyFileSync(
      join(__dirname, "..", "..", "..", "lib", "tensor", "addon.js"),
      join(pkg, "dist", "lib", "tensor", "addon.js"),
    );
    const pre = join(pkg, "prebuilds", `${process.platform}-${process.arch}`);
    mkdirSync(pre, { recursive: true });
    copyFileSync(BUILT, join(pre, "moelab_native.node"));
    const probe = `const a = require(${JSON.stringify(join(pkg, "dist", "lib", "tensor", "addon.js"))});
      const m = a.loadAddon(); console.log(JSON.stringify({ source: a.addonSource, sgemm: typeof m.sgemm }));`;
    const r = spawnSync(process.execPath, ["-e", probe], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { source: string; sgemm: string };
    assert.equal(out.source, join(pre, "moelab_native.node"));
    assert.equal(out.sgemm, "function");
  });

  it("names where it looked when no addon exists, and MOELAB_REQUIRE_NATIVE makes that an error", () => {
    const pkg = mkdtempSync(join(tmpdir(), "moelab-pkg-"));
    mkdirSync(join(pkg, "dist", "lib", "tensor"), { recursive: true });
    copyFileSync(
      join(__dirname, "..", "..", "..", "lib", "tensor", "addon.js"),
      join(pkg, "dist", "lib", "tensor", "addon.js"),
    );
    const file = JSON.stringify(join(pkg, "dist", "lib", "tensor", "addon.js"));
    const r = spawnSync(process.execPath, ["-e", `require(${file}).loadAddon()`], {
      encoding: "utf8",
      env: { ...process.env, MOELAB_REQUIRE_NATIVE: "1", MOELAB_NO_NATIVE: "" },
    });
    assert.notEqual(r.status, 0);
    assert.match(
      r.stderr,
      /moelab native addon not found \(looked for .*prebuilds.*build\/Release/,
    );
    assert.equal(addonCandidates().length, 2);
  });
});
