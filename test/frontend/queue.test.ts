/**
 * The text/html of figures in chromium, without a kernel: a figure whose output renders before
 * the one carrying plotly.js draws once the library arrives, under require.js (classic Notebook's
 * loader) as well, and a page that never gets the library keeps the SVG.
 */
import { strict as assert } from "node:assert";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import type { Browser } from "playwright-core";
import { Figure, resetPlotlySession } from "../../lib/viz/index.js";
import { launch, needsBrowser, plotlyDrawn, svgFallbacks, watchedPage } from "./browser.js";

const REQUIRE_JS = "/usr/share/javascript/requirejs/require.min.js";

function fig(k: number): Figure {
  return new Figure(
    {
      data: [{ type: "bar", x: ["a", "b", "c"], y: [k, 2 * k, 3 * k], name: `run ${k}` }],
      layout: { title: `figure ${k}` },
    },
    `figure ${k}`,
  );
}

describe("front ends: figure html in chromium", function () {
  this.timeout(120000);
  let browser: Browser | undefined;
  let dir: string;
  before(async function () {
    needsBrowser(this);
    dir = mkdtempSync(path.join(tmpdir(), "moelab-queue-"));
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function open(name: string, body: string, javaScript = true) {
    const file = path.join(dir, name);
    writeFileSync(
      file,
      `<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>${body}</body></html>`,
    );
    const w = await watchedPage(browser!, { javaScript });
    await w.page.goto(`file://${file}`);
    return w;
  }

  it("draws a figure rendered before the output carrying plotly.js", async () => {
    resetPlotlySession();
    const first = String(fig(1).bundle()["text/html"]);
    const second = String(fig(2).bundle()["text/html"]);
    assert.ok(first.includes("data-moelab-plotly") && !second.includes("data-moelab-plotly"));
    const w = await open("order.html", second + first);
    assert.equal(await plotlyDrawn(w.page), 2);
    assert.deepEqual(w.errors, []);
    await w.context.close();
  });

  it("defines window.Plotly under require.js instead of an anonymous module", async function () {
    if (!existsSync(REQUIRE_JS)) {
      if (process.env.MOELAB_REQUIRE_ALL === "1")
        throw new Error(`needs ${REQUIRE_JS} (libjs-requirejs)`);
      console.log(`      (skipped: needs ${REQUIRE_JS}, Debian package libjs-requirejs)`);
      this.skip();
    }
    resetPlotlySession();
    const html = String(fig(1).bundle()["text/html"]) + String(fig(2).bundle()["text/html"]);
    const w = await open("require.html", `<script src="file://${REQUIRE_JS}"></script>${html}`);
    assert.equal(await plotlyDrawn(w.page), 2);
    assert.equal(await w.page.evaluate("typeof define === 'function' && !!define.amd"), true);
    assert.deepEqual(w.errors, [], "require.js reports no mismatched anonymous define()");
    await w.context.close();
  });

  it("keeps the SVG where the library never arrives", async () => {
    resetPlotlySession();
    fig(0).bundle(); // the session's library went to an output that is gone
    const w = await open("nolib.html", String(fig(3).bundle()["text/html"]));
    await w.page.waitForTimeout(300);
    assert.equal(await svgFallbacks(w.page), 1);
    assert.equal(
      await w.page.evaluate("document.querySelector('.moelab-fallback').style.display"),
      "",
    );
    assert.deepEqual(w.errors, []);
    await w.context.close();
  });
});
