/**
 * Real front end (2): a live classic Notebook server (Debian's notebook 6.4, `python3 -m notebook`)
 * with the moelab kernel installed in a temporary Jupyter dir, driven in chromium: a cell that
 * trains a few steps shows the dashboard updating in place (one output, several states), a router
 * score figure renders through plotly.js, and the saved notebook keeps a static SVG that shows
 * with no kernel and no scripts (nbconvert's HTML). Screenshots go to test-artifacts/frontend.
 */
import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import type { Browser } from "playwright-core";
import { DEBIAN_PYTHON } from "../helpers/env.js";
import { freePort } from "../helpers/net.js";
import {
  needsKernel,
  runAsync,
  tempJupyter,
  type TempJupyter,
} from "../kernel/clients/kernelspec.js";
import { launch, needsBrowser, screenshot, svgFallbacks, watchedPage } from "./browser.js";

const TRAIN = [
  'import { inspect, viz, Transformer, Trainer, TokenDataset, Corpus, ByteTokenizer } from "moelab";',
  "const docs = Array.from({ length: 12 }, (_, i) => 'experts route token ' + i + ' by its text; '.repeat(20));",
  "const { train, validation } = Corpus.fromTexts(docs).split({ every: 4 });",
  "const tok = new ByteTokenizer();",
  "const data = { train: TokenDataset.fromCorpus(train, tok), validation: TokenDataset.fromCorpus(validation, tok) };",
  "const model = Transformer.create({ vocab_size: 256, dim: 32, inter_dim: 64, moe_inter_dim: 16, n_layers: 3, n_dense_layers: 1, n_heads: 2, n_routed_experts: 8, n_shared_experts: 1, n_activated_experts: 2, q_lora_rank: 0, kv_lora_rank: 16, qk_nope_head_dim: 8, qk_rope_head_dim: 8, v_head_dim: 8, max_seq_len: 64, mtp_depth: 1 }, { seed: 0 });",
  "const trainer = new Trainer(model, data, { batchSize: 4, seqLen: 32, view: new viz.Dashboard({ intervalMs: 150 }) });",
  "await trainer.fit({ steps: 30, evalEvery: 10 });",
].join("\n");

const ROUTER = [
  "const ids = [...'Experts!'].map((c) => c.charCodeAt(0));",
  "inspect.routerTrace(model, [ids], { layers: [1] })",
].join("\n");

async function waitForServer(url: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the Notebook server did not answer ${url} within ${ms} ms`);
}

interface Cell {
  outputs: { output_type: string; data?: Record<string, unknown> }[];
}
const text = (v: unknown): string => (Array.isArray(v) ? v.join("") : String(v ?? ""));

describe("front ends: a live classic Notebook server in chromium", function () {
  this.timeout(300000);
  let jup: TempJupyter | undefined;
  let server: ChildProcess | undefined;
  let browser: Browser | undefined;
  let log = "";
  let port = 0;

  before(async function () {
    needsBrowser(this, "notebook", "nbconvert");
    needsKernel(this);
    jup = tempJupyter();
    const nbdir = path.join(jup.dir, "nb");
    mkdirSync(nbdir);
    const code = (source: string) => ({
      cell_type: "code",
      metadata: {},
      source,
      outputs: [],
      execution_count: null,
    });
    writeFileSync(
      path.join(nbdir, "live.ipynb"),
      JSON.stringify({
        nbformat: 4,
        nbformat_minor: 4,
        metadata: {
          kernelspec: {
            name: "moelab",
            display_name: "TypeScript (moelab)",
            language: "typescript",
          },
        },
        cells: [code(TRAIN), code(ROUTER)],
      }),
    );
    port = await freePort();
    server = spawn(
      DEBIAN_PYTHON,
      [
        "-m",
        "notebook",
        "--no-browser",
        `--port=${port}`,
        "--ip=127.0.0.1",
        "--NotebookApp.token=",
        "--NotebookApp.password=",
        `--notebook-dir=${nbdir}`,
        // CI containers run as root, which the server refuses without this.
        ...(process.getuid?.() === 0 ? ["--allow-root"] : []),
      ],
      { env: jup.env, cwd: nbdir, stdio: ["ignore", "pipe", "pipe"] },
    );
    server.stdout!.on("data", (d: Buffer) => (log += d.toString()));
    server.stderr!.on("data", (d: Buffer) => (log += d.toString()));
    await waitForServer(`http://127.0.0.1:${port}/api`, 60000).catch((e: Error) => {
      throw new Error(`${e.message}\n${log}`);
    });
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    if (server && server.exitCode === null) {
      server.kill("SIGTERM");
      await new Promise((r) => setTimeout(r, 500));
      if (server.exitCode === null) server.kill("SIGKILL");
    }
    jup?.cleanup();
  });

  it("trains with the dashboard updating in place, renders a router figure, saves a static SVG", async () => {
    const host = `127.0.0.1:${port}`;
    const w = await watchedPage(browser!, { allowHost: host });
    await w.page.goto(`http://${host}/notebooks/live.ipynb`);
    await w.page.waitForFunction(
      "window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel && Jupyter.notebook.kernel.is_connected()",
      undefined,
      { timeout: 90000 },
    );
    // Record every state the first cell's output area goes through.
    await w.page.evaluate(`(() => {
      const area = Jupyter.notebook.get_cell(0).output_area.element[0];
      window.__seen = { states: [], maxOutputs: 0, figures: 0 };
      new MutationObserver(() => {
        // Displays only: the cell's Out[] (fit() returns the history) is not one.
        const n = [...area.querySelectorAll(".output_area")].filter((o) => !o.querySelector(".output_result")).length;
        window.__seen.maxOutputs = Math.max(window.__seen.maxOutputs, n);
        const p = area.querySelector(".moelab-progress");
        const t = p ? p.textContent : "";
        if (t && window.__seen.states[window.__seen.states.length - 1] !== t) window.__seen.states.push(t);
        window.__seen.figures = Math.max(window.__seen.figures, area.querySelectorAll(".moelab-figure").length);
      }).observe(area, { childList: true, subtree: true, characterData: true });
      Jupyter.notebook.execute_all_cells();
    })()`);
    await w.page.waitForFunction(
      `(() => { const c = Jupyter.notebook.get_cell(1).output_area.element[0];
        return !!c.querySelector(".moelab-figure .moelab-plot svg.main-svg"); })()`,
      undefined,
      { timeout: 180000 },
    );
    await screenshot(w.page, "notebook-live.png");
    const seen = (await w.page.evaluate("window.__seen")) as {
      states: string[];
      maxOutputs: number;
      figures: number;
    };
    assert.ok(seen.states.length >= 3, `dashboard states seen: ${JSON.stringify(seen.states)}`);
    assert.match(seen.states[seen.states.length - 1], /30 \/ 30/);
    // plotly.js's own output and the dashboard: updates never add outputs.
    assert.equal(seen.maxOutputs, 2, JSON.stringify(seen.states.slice(-2)));
    assert.equal(seen.figures, 1);
    const drawn = await w.page.evaluate(`(() => {
      const a = Jupyter.notebook.get_cell(0).output_area.element[0];
      return a.querySelectorAll(".moelab-figure .main-svg .cartesianlayer .subplot").length; })()`);
    assert.ok(Number(drawn) >= 4, `dashboard subplots drawn: ${drawn}`);
    const ours = w.errors.filter((e) => /moelab|plotly/i.test(e));
    assert.deepEqual(ours, []);

    // Saved: the dashboard's last state with its SVG, plotly.js once.
    await w.page.evaluate("Jupyter.notebook.save_notebook()");
    await w.page.waitForFunction("!Jupyter.notebook.dirty", undefined, { timeout: 30000 });
    const file = path.join(jup!.dir, "nb", "live.ipynb");
    const saved = JSON.parse(readFileSync(file, "utf8")) as { cells: Cell[] };
    const outs = saved.cells[0].outputs;
    assert.deepEqual(
      outs.map((o) => o.output_type),
      ["display_data", "display_data", "execute_result"],
    );
    const dash = outs[1].data!;
    assert.ok(text(dash["image/svg+xml"]).startsWith("<svg"));
    assert.match(text(dash["text/plain"]), /step 30\/30/);
    const all = saved.cells.flatMap((c) => c.outputs);
    assert.equal(
      all.filter((o) => text(o.data?.["text/html"]).includes("data-moelab-plotly")).length,
      1,
    );
    await w.context.close();

    // Reopened with no kernel and no scripts: the SVGs.
    const c = await runAsync(DEBIAN_PYTHON, ["-m", "nbconvert", "--to", "html", file], {
      env: jup!.env,
      cwd: path.dirname(file),
      timeoutMs: 120000,
    });
    assert.equal(c.code, 0, c.stderr);
    const off = await watchedPage(browser!, { javaScript: false });
    await off.page.goto(`file://${file.replace(/\.ipynb$/, ".html")}`);
    assert.equal(await svgFallbacks(off.page), 2); // the dashboard and the router figure
    await screenshot(off.page, "notebook-saved-no-script.png");
    await off.context.close();
  });
});
