#!/usr/bin/env node
"use strict";
// The `moelab` command: dist/ is built by `npm install` (the prepare script).
require("../dist/kernel/cli.js").main(process.argv.slice(2));
