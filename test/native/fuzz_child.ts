/**
 * Child process of fuzz.test.ts: calls one addon export with every hostile variant from
 * fuzz_specs.ts and prints one JSON line per call. A line {"start": i} goes out (synchronously)
 * before each call, so when the process dies the parent knows which call killed it.
 * Usage: node fuzz_child.js ADDON_PATH EXPORT_NAME
 */
import { writeSync } from "node:fs";
import { SPECS, cases } from "./fuzz_specs.js";

const [addonPath, name] = process.argv.slice(2);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const addon = require(addonPath) as Record<string, (...args: unknown[]) => unknown>;
const fn = addon[name];
const spec = SPECS[name];
if (typeof fn !== "function" || !spec) throw new Error(`no export or no spec for ${name}`);
// One thread: a hostile call that slips through then crashes the same way every run.
if (typeof addon.setNumThreads === "function") addon.setNumThreads(2);
cases(spec).forEach((c, i) => {
  writeSync(1, JSON.stringify({ start: i, label: c.label }) + "\n");
  let line: Record<string, unknown>;
  try {
    fn(...c.args);
    line = { i, label: c.label, expect: c.expect, outcome: "returned" };
  } catch (e) {
    const err = e as Error;
    line = {
      i,
      label: c.label,
      expect: c.expect,
      outcome: "threw",
      isError: e instanceof Error,
      message: String(err?.message ?? e),
    };
  }
  writeSync(1, JSON.stringify(line) + "\n");
  // setNumThreads is fuzzed too: keep later calls on the same pool size.
  if (name === "setNumThreads") addon.setNumThreads(2);
});
