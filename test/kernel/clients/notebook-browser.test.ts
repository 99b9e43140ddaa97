/**
 * Real browser: classic Notebook 6.4 (`python3 -m notebook`, Debian) in chromium through
 * playwright-core. A cell created with Shift+Enter after the kernel started is highlighted as
 * TypeScript, with no reload (the kernel's language_info.codemirror_mode reaches new cells).
 * Skipped when playwright-core (not a dependency of moelab's own) or chromium is absent.
 */
import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { DEBIAN_PYTHON, needs } from "../../helpers/env.js";
import { freePort } from "../../helpers/net.js";
import { needsKernel, tempJupyter, type TempJupyter } from "./kernelspec.js";

interface Page {
  goto(url: string): Promise<unknown>;
  waitForFunction(fn: string, arg?: unknown, opts?: { timeout: number }): Promise<unknown>;
  evaluate<T>(fn: string): Promise<T>;
  keyboard: { type(text: string): Promise<void>; press(key: string): Promise<void> };
  click(selector: string): Promise<void>;
}
interface Browser {
  newPage(): Promise<Page>;
  close(): Promise<void>;
}
type Playwright = { chromium: { launch(o: object): Promise<Browser> } };

function loadPlaywright(): Playwright | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require("playwright-core") as Playwright;
  } catch {
    return undefined;
  }
}

describe("real browser: classic Notebook highlights new cells as TypeScript", function () {
  let jup: TempJupyter;
  let dir: string;
  let server: ChildProcess | undefined;
  let browser: Browser | undefined;
  let log = "";

  before(async function () {
    needs(this, "chromium");
    needsKernel(this);
    const pw = loadPlaywright();
    if (!pw) {
      if (process.env.MOELAB_REQUIRE_ALL === "1") throw new Error("needs playwright-core");
      console.log("      (skipped: needs the npm package playwright-core)");
      this.skip();
    }
    this.timeout(120_000);
    jup = tempJupyter();
    dir = mkdtempSync(path.join(tmpdir(), "moelab-nb-"));
    writeFileSync(
      path.join(dir, "t.ipynb"),
      JSON.stringify({
        cells: [
          { cell_type: "code", metadata: {}, source: [], outputs: [], execution_count: null },
        ],
        metadata: {
          kernelspec: {
            name: "moelab",
            display_name: "TypeScript (moelab)",
            language: "typescript",
          },
        },
        nbformat: 4,
        nbformat_minor: 5,
      }),
    );
    const port = await freePort();
    const token = "moelab-test";
    server = spawn(
      DEBIAN_PYTHON,
      [
        "-m",
        "notebook",
        "--no-browser",
        `--port=${port}`,
        "--ip=127.0.0.1",
        `--NotebookApp.token=${token}`,
        `--notebook-dir=${dir}`,
        "--allow-root",
      ],
      { env: jup.env, cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
    );
    server.stdout?.on("data", (d: Buffer) => (log += d.toString()));
    server.stderr?.on("data", (d: Buffer) => (log += d.toString()));
    const base = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      try {
        const r = await fetch(`${base}/api?token=${token}`);
        if (r.ok) break;
      } catch {
        // not listening yet
      }
      if (i > 300) throw new Error(`python3 -m notebook did not start:\n${log.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    browser = await pw!.chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-gpu"],
    });
    (this as unknown as { page: Page }).page = await browser.newPage();
    const page = (this as unknown as { page: Page }).page;
    await page.goto(`${base}/notebooks/t.ipynb?token=${token}`);
  });

  after(async function () {
    this.timeout(30_000);
    await browser?.close();
    server?.kill("SIGTERM");
    jup?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("a cell made with Shift+Enter after the kernel started is highlighted as TypeScript", async function () {
    this.timeout(120_000);
    const page = (this as unknown as { test: { ctx: { page: Page } } }).test.ctx.page;
    // The kernel is ready and its language_info has set the notebook's mode.
    await page.waitForFunction(
      "window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel && Jupyter.notebook.kernel.info_reply && Jupyter.notebook.kernel.info_reply.language_info && Jupyter.notebook.codemirror_mode === Jupyter.notebook.kernel.info_reply.language_info.codemirror_mode",
      undefined,
      { timeout: 90_000 },
    );
    await page.click(".cell .CodeMirror");
    await page.keyboard.type("const a: number = 1");
    await page.keyboard.press("Shift+Enter");
    await page.waitForFunction("Jupyter.notebook.get_cells().length === 2", undefined, {
      timeout: 30_000,
    });
    await page.keyboard.type("const b: string = 'x'");
    const seen = await page.evaluate<{
      mode: unknown;
      modeName: string;
      keyword: string | null;
      type: string | null;
      html: string;
    }>(
      `(() => {
        const cm = Jupyter.notebook.get_cell(1).code_mirror;
        return {
          mode: cm.getOption("mode"),
          modeName: cm.getMode().name,
          keyword: cm.getTokenTypeAt({ line: 0, ch: 2 }),
          type: cm.getTokenTypeAt({ line: 0, ch: 11 }),
          html: Jupyter.notebook.get_cell(1).element.find(".CodeMirror-code").html(),
        };
      })()`,
    );
    assert.equal(seen.modeName, "javascript", JSON.stringify(seen));
    assert.equal(seen.keyword, "keyword", JSON.stringify(seen));
    // `string` in a type position is a type only in the TypeScript flavour of the mode.
    assert.equal(seen.type, "type", JSON.stringify(seen));
    assert.match(seen.html, /cm-keyword/);
  });
});
