/** The tour notebook (the README's main job) runs to completion with `moelab run`. */
import { strict as assert } from "node:assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { ROOT, needsKernel, runAsync } from "../clients/kernelspec.js";

interface Out {
  output_type: string;
  name?: string;
  text?: string;
  data?: Record<string, unknown>;
}

describe("notebooks/01-tour.ipynb", function () {
  // The tour trains a model for 40 steps; on a shared 2-core machine the run takes a minute or two.
  this.timeout(240000);
  let dir: string;
  before(function () {
    needsKernel(this);
    dir = mkdtempSync(path.join(tmpdir(), "moelab-tour-"));
  });
  after(() => dir && rmSync(dir, { recursive: true, force: true }));

  it("runs every cell without an error and shows what the tour promises", async () => {
    const src = path.join(ROOT, "notebooks", "01-tour.ipynb");
    const before = readFileSync(src, "utf8");
    const out = path.join(dir, "tour.out.ipynb");
    const html = path.join(dir, "tour.html");
    const r = await runAsync(
      process.execPath,
      [path.join(ROOT, "bin", "moelab.js"), "run", src, "--out", out, "--html", html],
      { env: { ...process.env, JUPYTER_DATA_DIR: path.join(dir, "data") }, timeoutMs: 230000 },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(src, "utf8"), before, "the tour itself is never modified");
    const cells = (
      JSON.parse(readFileSync(out, "utf8")).cells as {
        cell_type: string;
        execution_count: number | null;
        outputs: Out[];
      }[]
    ).filter((c) => c.cell_type === "code");
    const all = cells.flatMap((c) => c.outputs);
    assert.equal(
      all.filter((o) => o.output_type === "error").length,
      0,
      JSON.stringify(all.filter((o) => o.output_type === "error")),
    );
    assert.ok(cells.every((c) => typeof c.execution_count === "number"));
    const plain = (o: Out) => String(o.data?.["text/plain"] ?? "");
    assert.ok(
      all.some(
        (o) =>
          o.output_type === "stream" &&
          o.name === "stdout" &&
          /step 1 of 3\nstep 2 of 3\nstep 3 of 3/.test(o.text ?? ""),
      ),
    );
    assert.ok(all.some((o) => o.output_type === "display_data" && o.data?.["image/svg+xml"]));
    assert.ok(
      all.some(
        (o) =>
          o.output_type === "execute_result" &&
          /Expert <b>3<\/b>/.test(String(o.data?.["text/html"])),
      ),
    );
    assert.ok(
      all.some(
        (o) =>
          o.output_type === "display_data" &&
          /progress: 100%/.test(String(o.data?.["text/markdown"])),
      ),
      "updated by display id",
    );
    assert.ok(
      all.some((o) => o.output_type === "execute_result" && /moelab \d+\.\d+\.\d+/.test(plain(o))),
    );
    const stdout = all
      .filter((o) => o.output_type === "stream" && o.name === "stdout")
      .map((o) => o.text ?? "")
      .join("");
    // Training lowers the loss; generation streams tokens and equals speculative decoding.
    const losses = [...stdout.matchAll(/step (\d): loss ([\d.]+)/g)].map((m) => Number(m[2]));
    assert.equal(losses.length, 5, stdout);
    assert.ok(losses[4] < losses[0] - 1, `loss ${losses.join(" -> ")}`);
    assert.match(stdout, /speculative output equals greedy: true/);
    assert.match(stdout, /draft acceptance \d+%, [\d.]+ tokens per main-model call/);
    assert.ok(
      all.some(
        (o) =>
          o.output_type === "execute_result" &&
          /latent KV cache: \d+ elements .* MHA would hold \d+/.test(plain(o)),
      ),
    );
    // The Trainer on Brown: one live output ending at the target, the history, balanced biases.
    assert.ok(
      all.some(
        (o) =>
          o.output_type === "display_data" &&
          /\[#{24}\] step 40\/40 {2}loss [\d.]+ {2}mtp [\d.]+ {2}val [\d.]+/.test(plain(o)),
      ),
      "the trainer's live output, updated to its last step",
    );
    const history = all.find(
      (o) =>
        o.output_type === "execute_result" && /^History: 40 steps, 2 evaluations/.test(plain(o)),
    );
    assert.ok(history, "trainer.history displays itself");
    const [, first, last] = /\n +1 +[\d.]+ +([\d.]+)[\s\S]*\n +40 +[\d.]+ +([\d.]+)/.exec(
      plain(history!),
    )!;
    assert.ok(Number(last) < Number(first) - 2, `main loss ${first} -> ${last}`);
    assert.ok(
      all.some((o) => o.output_type === "execute_result" && /bias: '-?0\.0\d\d /.test(plain(o))),
    );
    // Looking inside: each figure carries its Plotly spec, its own SVG and its summary; plotly.js
    // itself goes into the saved notebook once.
    const figures = all.filter(
      (o) =>
        o.output_type === "execute_result" &&
        o.data?.["application/vnd.plotly.v1+json"] !== undefined,
    );
    for (const re of [
      /^Router trace/,
      /^Expert load/,
      /load and bias/i,
      /^Attention/,
      /^KV-cache elements/,
    ])
      assert.ok(
        figures.some((o) => re.test(plain(o)) && /^<svg/.test(String(o.data?.["image/svg+xml"]))),
        `a figure whose summary matches ${re}: ${figures.map((o) => plain(o).split("\n")[0]).join(" | ")}`,
      );
    assert.equal(
      readFileSync(out, "utf8").split("data-moelab-plotly=").length - 1,
      1,
      "plotly.js once in the saved notebook",
    );
    assert.equal(
      all.filter(
        (o) =>
          o.output_type === "stream" &&
          o.name === "stderr" &&
          /(error|warning) TS/.test(o.text ?? ""),
      ).length,
      0,
      "no cell draws a type-check complaint",
    );
    assert.match(readFileSync(html, "utf8"), /<h1>A tour of the moelab kernel<\/h1>/);
  });
});
