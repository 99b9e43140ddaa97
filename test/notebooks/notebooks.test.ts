/**
 * The teaching notebooks (notebooks/02-mla ... 07-grpo), each executed by nbclient (Debian's) with
 * the moelab kernel in the reduced mode MOELAB_QUICK=1: no cell errors (every direction a notebook
 * asserts holds), no type-check complaint, DeepSeek's numbers beside the measured ones in a table;
 * then exported by nbconvert and opened in Debian's chromium with the network cut off, where
 * plotly.js draws every figure with no console error. Screenshots go to test-artifacts/frontend.
 */
import { strict as assert } from "node:assert";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import type { Browser } from "playwright-core";
import { DEBIAN_PYTHON } from "../helpers/env.js";
import { launch, needsBrowser, plotlyDrawn, screenshot, watchedPage } from "../frontend/browser.js";
import { ROOT, needsKernel, runAsync, tempJupyter, type TempJupyter } from "../kernel/clients/kernelspec.js";

export const TEACHING = [
  "02-mla",
  "03-moe-routing",
  "04-mtp",
  "05-fp8",
  "06-distillation",
  "07-grpo",
];

const NBCLIENT = `
import sys, nbformat
from nbclient import NotebookClient
src, out, cwd = sys.argv[1:4]
nb = nbformat.read(src, as_version=4)
NotebookClient(nb, kernel_name="moelab", timeout=600, startup_timeout=60,
               resources={"metadata": {"path": cwd}}).execute()
nbformat.validate(nb)
nbformat.write(nb, out)
`;

interface NbOutput {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, unknown>;
  ename?: string;
  evalue?: string;
}

const text = (v: unknown): string => (Array.isArray(v) ? v.join("") : String(v ?? ""));

describe("teaching notebooks (nbclient, MOELAB_QUICK=1, chromium offline)", function () {
  // QUICK mode: about a minute per notebook on a shared 2-core machine, plus export and drawing.
  this.timeout(600000);
  let dir: string;
  let jup: TempJupyter;
  let browser: Browser | undefined;

  before(async function () {
    needsKernel(this);
    needsBrowser(this, "nbclient", "nbconvert");
    dir = mkdtempSync(path.join(tmpdir(), "moelab-notebooks-"));
    jup = tempJupyter();
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    jup?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const name of TEACHING)
    it(`${name}: every cell runs, its tables and figures render offline`, async () => {
      const src = path.join(ROOT, "notebooks", `${name}.ipynb`);
      const committed = JSON.parse(readFileSync(src, "utf8")) as {
        cells: { cell_type: string; outputs?: unknown[]; execution_count?: number | null }[];
      };
      assert.ok(
        committed.cells.every((c) => c.cell_type !== "code" || (c.outputs?.length === 0 && c.execution_count === null)),
        `${name} is committed without outputs`,
      );
      copyFileSync(src, path.join(dir, `${name}.ipynb`));
      const out = path.join(dir, `${name}.nbclient.ipynb`);
      const env = { ...jup.env, MOELAB_QUICK: "1" };
      const r = await runAsync(DEBIAN_PYTHON, ["-c", NBCLIENT, path.join(dir, `${name}.ipynb`), out, dir], {
        env,
        cwd: dir,
        timeoutMs: 540000,
      });
      assert.equal(r.code, 0, `nbclient failed on ${name}:\n${r.stderr.slice(-4000)}`);
      const nb = JSON.parse(readFileSync(out, "utf8")) as { cells: { outputs?: NbOutput[] }[] };
      const outs = nb.cells.flatMap((c) => c.outputs ?? []);
      const errors = outs.filter((o) => o.output_type === "error");
      assert.deepEqual(
        errors.map((o) => `${o.ename}: ${o.evalue}`),
        [],
        "no cell raised",
      );
      const complaints = outs.filter(
        (o) => o.output_type === "stream" && o.name === "stderr" && /(error|warning) TS/.test(text(o.text)),
      );
      assert.deepEqual(complaints.map((o) => text(o.text)), [], "no cell draws a type-check complaint");
      const tables = outs.map((o) => text(o.data?.["text/markdown"])).filter((m) => /\n\|---/.test(m));
      assert.ok(
        tables.some((m) => /DeepSeek|LFB paper/.test(m)),
        `${name} shows DeepSeek's numbers beside the measured ones in a table`,
      );
      const figures = outs.filter((o) => o.data?.["application/vnd.plotly.v1+json"] !== undefined).length;
      assert.ok(figures > 0, `${name} draws figures`);

      const c = await runAsync(
        DEBIAN_PYTHON,
        ["-m", "nbconvert", "--to", "html", "--output", `${name}.nbconvert`, out],
        { env: jup.env, cwd: dir, timeoutMs: 120000 },
      );
      assert.equal(c.code, 0, c.stderr);
      const w = await watchedPage(browser!);
      await w.page.goto(`file://${path.join(dir, `${name}.nbconvert.html`)}`);
      assert.equal(await plotlyDrawn(w.page, 120000), figures, "plotly.js draws every figure");
      await screenshot(w.page, `notebook-${name}.png`);
      assert.deepEqual(w.errors, [], "no console errors");
      assert.deepEqual(w.blocked, [], "nothing asked for the network");
      await w.context.close();
    });
});
