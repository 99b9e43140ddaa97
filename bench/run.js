"use strict";
// Runs the compiled benchmarks (dist/bench/*.js), each in its own process, one after another.
// Usage: node bench/run.js [NAME...]   e.g. `node bench/run.js kernel` runs dist/bench/kernel.js.
const path = require("node:path");
const fs = require("node:fs");
const { spawnSync } = require("node:child_process");

const dir = path.join(__dirname, "..", "dist", "bench");
const available = fs.existsSync(dir)
  ? fs.readdirSync(dir).filter((f) => f.endsWith(".js")).map((f) => f.slice(0, -3)).sort()
  : [];
const wanted = process.argv.slice(2).map((n) => n.replace(/\.(ts|js)$/, "").replace(/^bench\//, ""));
const unknown = wanted.filter((n) => !available.includes(n));
if (available.length === 0) {
  console.error("bench/run.js: no compiled benchmarks in dist/bench (run `npm run build` first)");
  process.exit(2);
}
if (unknown.length) {
  console.error(`bench/run.js: unknown benchmark(s) ${unknown.join(", ")}; available: ${available.join(", ")}`);
  process.exit(2);
}
let failed = 0;
for (const name of wanted.length ? wanted : available) {
  console.log(`=== bench ${name}`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [path.join(dir, `${name}.js`)], { stdio: "inherit" });
  console.log(`=== bench ${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s${r.status ? ` (exit ${r.status})` : ""}`);
  if (r.status !== 0) failed++;
}
process.exitCode = failed ? 1 : 0;
