"use strict";
// Runs every compiled test (dist/test/**/*.test.js) with mocha and ends with the plain
// "N passed, N failed, N skipped" line CI reads, after the list of skipped tests with their
// reasons. Under MOELAB_REQUIRE_ALL=1 (CI) any skip whose reason is not on the allow-list in
// test/allowed-skips.json fails the run. Usage: node test/run.js [--grep PATTERN] [files...]
const path = require("node:path");
const fs = require("node:fs");
const mochaModule = require("mocha");
const Mocha = mochaModule.Mocha || mochaModule;

function collect(dir, out) {
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) collect(p, out);
    else if (e.name.endsWith(".test.js")) out.push(p);
  }
  return out;
}

const args = process.argv.slice(2);
let grep;
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--grep") grep = args[++i];
  else files.push(path.resolve(args[i]));
}
const mocha = new Mocha({ timeout: 60000, reporter: "spec", grep });
const all = files.length ? files : collect(path.join(__dirname, "..", "dist", "test"), []).sort();
for (const f of all) mocha.addFile(f);
const ALLOWED = JSON.parse(
  fs.readFileSync(path.join(__dirname, "allowed-skips.json"), "utf8"),
).allowed;
const REQUIRE_ALL = process.env.MOELAB_REQUIRE_ALL === "1";

/** The reason test/helpers/env.ts's skipBecause recorded, on the test or (hook skips) a suite. */
function skipReason(test) {
  for (let r = test; r; r = r.parent) if (typeof r.skipReason === "string") return r.skipReason;
  return "no reason given (a bare this.skip(), it.skip or describe.skip)";
}

let passed = 0,
  failed = 0,
  skipped = 0;
const skips = [];
function start() {
  const runner = mocha.run((failures) => {
    let unallowed = 0;
    if (skips.length > 0) {
      console.log(`\nskipped (${skips.length}):`);
      for (const s of skips) {
        const ok = ALLOWED.includes(s.reason);
        if (!ok) unallowed++;
        console.log(`  - ${s.title}: ${s.reason}${REQUIRE_ALL && !ok ? "  [not allowed]" : ""}`);
      }
    }
    if (REQUIRE_ALL && unallowed > 0)
      console.log(
        `\nMOELAB_REQUIRE_ALL=1: ${unallowed} skip(s) not on the allow-list (${ALLOWED.join("; ")})`,
      );
    console.log(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
    process.exitCode = failures || (passed === 0 || (REQUIRE_ALL && unallowed > 0) ? 1 : 0);
    // Native handles (sockets, child kernels) must not keep CI waiting after the summary.
    setTimeout(() => process.exit(process.exitCode), 2000).unref();
  });
  runner.on("pass", () => passed++);
  runner.on("fail", () => failed++);
  runner.on("pending", (test) => {
    skipped++;
    skips.push({ title: test.fullTitle(), reason: skipReason(test) });
  });
}
Promise.resolve(
  typeof mocha.loadFilesAsync === "function" ? mocha.loadFilesAsync() : undefined,
).then(start, (err) => {
  console.error(err);
  console.log("\ntests: 0 passed, 1 failed, 0 skipped");
  process.exit(1);
});
