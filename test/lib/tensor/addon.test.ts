/** The addon loader: a prebuilt binary shipped in the package is loaded before a local build. */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addonCandidates, addonSource, loadAddon } from "../../../lib/tensor/addon.js";
import { skipBecause } from "../../helpers/env.js";

const ROOT = join(__dirname, "..", "..", "..", "..");
const BUILT = join(ROOT, "build", "Release", "moelab_native.node");

describe("tensor: native addon loader", () => {
  it("loads the addon this checkout built, with every kernel the library calls", () => {
    const addon = loadAddon();
    assert.ok(addon, `no addon: ${addonSource}`);
    // Every `native.X`, `nat.X`, `addon.X` the library's source calls (the router, the gathers,
    // the FP8 kernels...), found in lib/ rather than listed here, so a new call is checked too.
    const called = new Set<string>();
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith(".ts"))
          for (const m of readFileSync(p, "utf8").matchAll(/\b(?:native|nat|addon)!?\??\.(\w+)\b/g))
            if (/^(ops|moe|fp8|sgemm|adamw|sumSquares|getNumThreads|setNumThreads)/.test(m[1]))
              called.add(m[1]);
      }
    };
    walk(join(ROOT, "lib"));
    for (const name of [
      "moeRoute",
      "opsGatherRows",
      "opsScatterAddRows",
      "fp8QuantizeGemm",
      "sgemm",
    ])
      assert.ok(called.has(name), `the scan of lib/ missed ${name}: ${[...called].join(", ")}`);
    assert.ok(called.size >= 28, `only ${called.size} native calls found in lib/`);
    const missing = [...called].filter((name) => typeof addon[name] !== "function");
    assert.deepEqual(missing, [], "functions lib/ calls that the addon lacks");
  });

  it("never hands the raw addon to user code (moelab's exports, nested namespaces included)", async () => {
    const addon = loadAddon()!;
    const raw = new Set<unknown>([addon, ...Object.values(addon)]);
    const moelab = (await import("../../../lib/index.js")) as Record<string, unknown>;
    const fp8 = moelab.fp8 as Record<string, unknown>;
    assert.equal(fp8.native, undefined, "fp8.native() handed out the addon");
    assert.equal(typeof fp8.nativeAvailable, "function");
    assert.equal((fp8.nativeAvailable as () => boolean)(), true);
    const leaks: string[] = [];
    const seen = new Set<unknown>();
    const visit = (v: unknown, at: string, depth: number): void => {
      if (v === null || (typeof v !== "object" && typeof v !== "function") || seen.has(v)) return;
      seen.add(v);
      if (raw.has(v)) leaks.push(at);
      if (typeof v === "function" && /^(loadAddon|addonObject|fp8Native)$/.test(v.name))
        leaks.push(at);
      if (depth === 0) return;
      for (const k of Object.keys(v)) {
        let child: unknown;
        try {
          child = (v as Record<string, unknown>)[k];
        } catch {
          continue;
        }
        visit(child, `${at}.${k}`, depth - 1);
      }
    };
    visit(moelab, "moelab", 3);
    assert.ok(seen.size > 100, `walked only ${seen.size} values`);
    assert.deepEqual(leaks, [], "exports that reach the raw addon");
  });

  it("prefers prebuilds/<platform>-<arch> over build/Release (installs that skip scripts)", function () {
    if (!existsSync(BUILT)) skipBecause(this, "build/Release/moelab_native.node is not built");
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
