/**
 * Classic Notebook 6.4 (Debian's python3-notebook) and the kernel's codemirror_mode: runs the
 * Notebook's own CodeMirror files (mode/meta.js, mode/javascript/javascript.js) and replays its
 * utils.requireCodeMirrorMode + Notebook._dispatch_mode, which hand the spec to the cells open at
 * kernel start but the codemirror_mode value itself to every cell created later (Shift+Enter).
 * The value must therefore be something CodeMirror highlights as TypeScript by itself.
 */
import { strict as assert } from "node:assert";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import * as vm from "node:vm";
import { kernelInfoReply } from "../../../kernel/protocol/kernel-info.js";

const STATIC = "/usr/lib/python3/dist-packages/notebook/static";
const CM = path.join(STATIC, "components", "codemirror");

interface ModeInfo {
  name: string;
  mime?: string;
  mimes?: string[];
  mode: string;
}

interface FakeCodeMirror {
  modes: Record<string, unknown>;
  mimeModes: Record<string, unknown>;
  modeInfo: ModeInfo[];
  findModeByName(n: string): ModeInfo | undefined;
  findModeByMIME(m: string): ModeInfo | undefined;
  findModeByExtension(e: string): ModeInfo | undefined;
}

/** Runs a CodeMirror 5 addon file against a recording stand-in for CodeMirror. */
function loadInto(cm: FakeCodeMirror, file: string): void {
  vm.runInNewContext(readFileSync(file, "utf8"), { CodeMirror: cm });
}

function fakeCodeMirror(): FakeCodeMirror {
  const cm = {
    modes: {} as Record<string, unknown>,
    mimeModes: {} as Record<string, unknown>,
    defineMode(name: string, factory: unknown) {
      cm.modes[name] = factory;
    },
    defineMIME(mime: string, spec: unknown) {
      cm.mimeModes[mime] = spec;
    },
    registerHelper() {},
    registerGlobalHelper() {},
  };
  return cm as unknown as FakeCodeMirror;
}

/** How CodeMirror 5 resolves a mode option: a mode name, a MIME, or a { name } spec. */
function resolvesTo(cm: FakeCodeMirror, option: unknown): { name: string; typescript: boolean } {
  let spec = option;
  if (typeof spec === "string" && spec in cm.mimeModes) spec = cm.mimeModes[spec];
  if (typeof spec === "string")
    return { name: spec in cm.modes ? spec : "null", typescript: false };
  const s = spec as { name: string; typescript?: boolean };
  return { name: s.name in cm.modes ? s.name : "null", typescript: s.typescript === true };
}

describe("classic Notebook 6.4: codemirror_mode highlights new cells as TypeScript", function () {
  before(function () {
    if (!existsSync(path.join(CM, "mode", "meta.js"))) {
      if (process.env.MOELAB_REQUIRE_ALL === "1")
        throw new Error("needs Debian package python3-notebook");
      console.log("      (skipped: needs Debian packages: python3-notebook)");
      this.skip();
    }
  });

  it("the Notebook still gives new cells the codemirror_mode value itself", () => {
    // The behaviour the kernel's choice answers to: if this changes, so may the choice.
    const nb = readFileSync(path.join(STATIC, "notebook", "js", "notebook.js"), "utf8");
    assert.match(nb, /codecell\.CodeCell\.options_default\.cm_config\.mode = newmode;/);
    assert.match(nb, /langinfo\.codemirror_mode \|\| langinfo\.name/);
  });

  it("language_info.codemirror_mode loads javascript.js and highlights old and new cells as TypeScript", () => {
    const mode = kernelInfoReply("0", "0").language_info.codemirror_mode as string;
    const cm = fakeCodeMirror();
    loadInto(cm, path.join(CM, "mode", "meta.js"));
    // utils.requireCodeMirrorMode, for a mode not loaded yet.
    const modename = typeof mode === "string" ? mode : ((mode as { name: string }).name ?? "");
    const info =
      cm.findModeByName(modename) ??
      cm.findModeByExtension(modename.split(".").slice(-1)[0]) ??
      cm.findModeByMIME(modename);
    assert.ok(info, `CodeMirror's meta.js knows no mode for ${JSON.stringify(mode)}`);
    const file = path.join(CM, "mode", info.mode, `${info.mode}.js`);
    assert.ok(existsSync(file), `the Notebook would require ${file}, which does not exist`);
    loadInto(cm, file);
    const spec = info.mime; // what the callback passes to the open cells
    const forOpenCells = resolvesTo(cm, spec);
    const forNewCells = resolvesTo(cm, mode); // _dispatch_mode: cm_config.mode = newmode
    assert.deepEqual(forOpenCells, { name: "javascript", typescript: true });
    assert.deepEqual(forNewCells, { name: "javascript", typescript: true }, "cells added later");
  });

  it("a bare mode name would leave cells added later unhighlighted (the bug this guards)", () => {
    const cm = fakeCodeMirror();
    loadInto(cm, path.join(CM, "mode", "meta.js"));
    loadInto(cm, path.join(CM, "mode", "javascript", "javascript.js"));
    assert.deepEqual(resolvesTo(cm, "typescript"), { name: "null", typescript: false });
  });
});
