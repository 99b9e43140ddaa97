/**
 * Every export of the native addon, called with hostile sizes, lengths and types (see
 * fuzz_specs.ts), each export in its own child process: every call must end in a named error
 * (a message that starts with the export's name) or, for variants that are still valid, a normal
 * return; never a signal, an abort or a hang. A new export without a spec fails the first test.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { DATA_EXPORTS, SPECS, cases } from "./fuzz_specs.js";

const ADDON_PATH = path.resolve(__dirname, "../../../build/Release/moelab_native.node");
const CHILD = path.join(__dirname, "fuzz_child.js");

// eslint-disable-next-line @typescript-eslint/no-require-imports
const addon = require(ADDON_PATH) as Record<string, unknown>;

interface Line {
  start?: number;
  i?: number;
  label: string;
  expect?: "throw" | "any";
  outcome?: "threw" | "returned";
  isError?: boolean;
  message?: string;
}

describe("native: hostile arguments to every export", function () {
  this.timeout(180000);

  it("has a fuzz spec for every function the addon exports, and knows its data exports", () => {
    const names = Object.keys(addon).sort();
    const fns = names.filter((n) => typeof addon[n] === "function");
    const uncovered = fns.filter((n) => !(n in SPECS));
    assert.deepEqual(uncovered, [], `exports without a fuzz spec in test/native/fuzz_specs.ts`);
    const stale = Object.keys(SPECS).filter((n) => typeof addon[n] !== "function");
    assert.deepEqual(stale, [], "specs for functions the addon no longer exports");
    const data = names.filter((n) => typeof addon[n] !== "function");
    assert.deepEqual(data, [...DATA_EXPORTS].sort());
    for (const n of data) assert.equal(typeof addon[n], "object", n);
    assert.ok(fns.length >= 34, `${fns.length} functions`);
  });

  it("derives hostile variants that include int64-wrapping size pairs", () => {
    const c = cases(SPECS.opsSoftmax);
    const wrap = c.find((x) => x.label === "args 2, 3 = 2^32, 2^32");
    assert.ok(wrap, "no 2^32 x 2^32 pair");
    assert.deepEqual(wrap.args.slice(2, 4), [2 ** 32, 2 ** 32]);
    assert.equal(wrap.expect, "throw");
    assert.ok(c.length > 60, `${c.length} cases`);
  });

  for (const name of Object.keys(SPECS).sort()) {
    it(`${name}: named errors, never a crash`, () => {
      const r = spawnSync(process.execPath, [CHILD, ADDON_PATH, name], {
        encoding: "utf8",
        timeout: 60000,
        maxBuffer: 64 << 20,
      });
      const lines = r.stdout
        .split("\n")
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as Line);
      const last = lines[lines.length - 1];
      const died =
        r.status !== 0 || r.signal !== null || r.error !== undefined || last?.start !== undefined;
      assert.ok(
        !died,
        `${name} died (status ${r.status}, signal ${r.signal}${r.error ? `, ${r.error.message}` : ""}) ` +
          `during "${last?.label}"\n${r.stderr.slice(-2000)}`,
      );
      const results = lines.filter((l) => l.start === undefined);
      assert.equal(results.length, cases(SPECS[name]).length);
      assert.equal(results[0].label, "baseline");
      assert.equal(
        results[0].outcome,
        "returned",
        `${name}'s baseline threw: ${results[0].message}`,
      );
      const prefix = SPECS[name].prefix ?? name;
      const problems: string[] = [];
      for (const l of results) {
        if (l.outcome === "threw" && (!l.isError || !l.message!.startsWith(prefix)))
          problems.push(`${l.label}: unnamed error "${l.message}"`);
        if (l.expect === "throw" && l.outcome !== "threw") problems.push(`${l.label}: returned`);
      }
      assert.deepEqual(problems, [], `${name}:\n${problems.join("\n")}`);
    });
  }
});
