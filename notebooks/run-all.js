"use strict";
// `npm run notebooks`: executes every notebook in this folder with `moelab run`, full length (or
// reduced with MOELAB_QUICK=1), writing NAME.out.ipynb and NAME.html beside each (git-ignored
// build artifacts), and prints each notebook's time. Stops at the first failing notebook.
// Usage: node notebooks/run-all.js [NAME...]   (names without .ipynb; default: all)
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const dir = __dirname;
const bin = path.join(dir, "..", "bin", "moelab.js");
const wanted = process.argv.slice(2);
const names = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith(".ipynb") && !f.endsWith(".out.ipynb"))
  .map((f) => f.slice(0, -".ipynb".length))
  .filter((n) => wanted.length === 0 || wanted.includes(n))
  .sort();
const mode = process.env.MOELAB_QUICK === "1" ? "quick (MOELAB_QUICK=1)" : "full length";
console.log(`moelab notebooks, ${mode}: ${names.join(", ")}`);
for (const name of names) {
  const t0 = Date.now();
  const r = spawnSync(
    process.execPath,
    [
      bin,
      "run",
      path.join(dir, `${name}.ipynb`),
      "--out",
      path.join(dir, `${name}.out.ipynb`),
      "--html",
      path.join(dir, `${name}.html`),
    ],
    { stdio: "inherit" },
  );
  const s = ((Date.now() - t0) / 1000).toFixed(0);
  if (r.status !== 0) {
    console.error(`${name}: failed after ${s} s (exit ${r.status}); see notebooks/${name}.html`);
    process.exit(1);
  }
  console.log(`${name}: ${s} s -> notebooks/${name}.out.ipynb, notebooks/${name}.html`);
}
