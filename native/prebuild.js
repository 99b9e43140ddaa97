"use strict";
// Copies the addon `npm install` built (build/Release) to prebuilds/<platform>-<arch>/, which the
// package carries (see "files" in package.json) and lib/tensor/addon.ts loads first. Run by
// `npm pack` / `npm publish` through the prepack script.
const fs = require("node:fs");
const path = require("node:path");

const root = path.join(__dirname, "..");
const from = path.join(root, "build", "Release", "moelab_native.node");
const dir = path.join(root, "prebuilds", `${process.platform}-${process.arch}`);
if (!fs.existsSync(from)) {
  console.error(`native/prebuild.js: ${from} is missing; run \`npm install\` first`);
  process.exit(1);
}
fs.mkdirSync(dir, { recursive: true });
fs.copyFileSync(from, path.join(dir, "moelab_native.node"));
console.log(`prebuilt addon: ${path.relative(root, path.join(dir, "moelab_native.node"))}`);
