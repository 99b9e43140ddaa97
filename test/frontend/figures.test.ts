/**
 * Real front ends (1) and (3): the figures notebook (one cell per figure kind) executed by
 * `moelab run --html` and by nbclient; the HTML opened in Debian's chromium with the network cut
 * off shows every figure drawn by plotly.js (its SVG layers present, no console errors), and with
 * scripts off (what GitHub or an untrusted viewer shows) every figure's own SVG. Screenshots go
 * to test-artifacts/frontend.
 */
import { strict as assert } from "node:assert";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import type { Browser } from "playwright-core";
import { DEBIAN_PYTHON } from "../helpers/env.js";
import { needsKernel, runAsync, tempJupyter } from "../kernel/clients/kernelspec.js";
import {
  ROOT,
  launch,
  needsBrowser,
  plotlyDrawn,
  screenshot,
  svgFallbacks,
  watchedPage,
} from "./browser.js";

const NOTEBOOK = path.join(ROOT, "test", "frontend", "figures.ipynb");
/** Figures the notebook draws: router scores, dashboard, comparison, summary, FP8 x2, bars. */
const FIGURES = 7;

const NBCLIENT = `
import sys, nbformat
from nbclient import NotebookClient
src, out, cwd = sys.argv[1:4]
nb = nbformat.read(src, as_version=4)
NotebookClient(nb, kernel_name="moelab", timeout=120, startup_timeout=60,
               resources={"metadata": {"path": cwd}}).execute()
nbformat.validate(nb)
nbformat.write(nb, out)
`;

interface NbOutput {
  output_type: string;
  data?: Record<string, unknown>;
}

function outputs(file: string): NbOutput[] {
  const nb = JSON.parse(readFileSync(file, "utf8")) as { cells: { outputs?: NbOutput[] }[] };
  return nb.cells.flatMap((c) => c.outputs ?? []);
}

const text = (v: unknown): string => (Array.isArray(v) ? v.join("") : String(v ?? ""));

describe("front ends: the figures notebook in chromium", function () {
  this.timeout(300000);
  let dir: string;
  let browser: Browser | undefined;
  let html: string;

  before(async function () {
    needsBrowser(this);
    needsKernel(this);
    dir = mkdtempSync(path.join(tmpdir(), "moelab-frontend-"));
    copyFileSync(NOTEBOOK, path.join(dir, "figures.ipynb"));
    html = path.join(dir, "figures.html");
    const r = await runAsync(
      process.execPath,
      [path.join(ROOT, "bin", "moelab.js"), "run", path.join(dir, "figures.ipynb"), "--html", html],
      { cwd: dir, timeoutMs: 240000 },
    );
    assert.equal(r.code, 0, r.stderr + r.stdout);
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("moelab run --html: plotly.js draws every figure offline, with no console errors", async () => {
    const page = html;
    assert.equal(readFileSync(page, "utf8").match(/data-moelab-plotly=/g)?.length, 1);
    const w = await watchedPage(browser!);
    await w.page.goto(`file://${page}`);
    assert.equal(await plotlyDrawn(w.page), FIGURES);
    await screenshot(w.page, "figures-html.png");
    assert.deepEqual(w.errors, []);
    assert.deepEqual(w.blocked, []);
    await w.context.close();
  });

  it("the same page without scripts shows every figure's SVG", async () => {
    const w = await watchedPage(browser!, { javaScript: false });
    await w.page.goto(`file://${html}`);
    assert.equal(await svgFallbacks(w.page), FIGURES);
    await screenshot(w.page, "figures-no-script.png");
    await w.context.close();
  });

  it("nbclient keeps the Plotly MIME outputs; nbconvert's HTML draws them, and shows the SVGs without scripts", async function () {
    needsBrowser(this, "nbclient", "nbconvert");
    const jup = tempJupyter();
    try {
      const out = path.join(dir, "figures.nbclient.ipynb");
      const r = await runAsync(
        DEBIAN_PYTHON,
        ["-c", NBCLIENT, path.join(dir, "figures.ipynb"), out, dir],
        { env: jup.env, cwd: dir, timeoutMs: 240000 },
      );
      assert.equal(r.code, 0, r.stderr);
      const outs = outputs(out);
      const plotly = outs.filter((o) => o.data?.["application/vnd.plotly.v1+json"]);
      assert.equal(plotly.length, FIGURES);
      for (const o of plotly) {
        const spec = o.data!["application/vnd.plotly.v1+json"] as {
          data: unknown[];
          layout: object;
        };
        assert.ok(Array.isArray(spec.data) && spec.data.length > 0 && spec.layout);
        assert.ok(text(o.data!["image/svg+xml"]).startsWith("<svg"));
      }
      const carriers = outs.filter((o) =>
        text(o.data?.["text/html"]).includes("data-moelab-plotly"),
      );
      assert.equal(carriers.length, 1, "plotly.js once per notebook");

      const c = await runAsync(
        DEBIAN_PYTHON,
        ["-m", "nbconvert", "--to", "html", "--output", "figures.nbconvert", out],
        { env: jup.env, cwd: dir, timeoutMs: 120000 },
      );
      assert.equal(c.code, 0, c.stderr);
      const converted = path.join(dir, "figures.nbconvert.html");
      const w = await watchedPage(browser!);
      await w.page.goto(`file://${converted}`);
      assert.equal(await plotlyDrawn(w.page), FIGURES);
      await screenshot(w.page, "figures-nbconvert.png");
      await w.context.close();
      const off = await watchedPage(browser!, { javaScript: false });
      await off.page.goto(`file://${converted}`);
      assert.equal(await svgFallbacks(off.page), FIGURES);
      await screenshot(off.page, "figures-nbconvert-no-script.png");
      await off.context.close();
    } finally {
      jup.cleanup();
    }
  });
});
