/**
 * `moelab run` when a run cannot finish (kernel/runner/run.ts): a cell past --timeout or a kernel
 * that dies still leaves the executed notebook and its HTML, with every finished cell's outputs
 * and the failing cell marked, and exit code 1; an nbformat 3 notebook is named as such (exit 2).
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { DEBIAN_PYTHON, needs } from "../../helpers/env.js";

const ROOT = path.resolve(__dirname, "..", "..", "..", "..");
const BIN = path.join(ROOT, "bin", "moelab.js");
const IPYKERNEL = JSON.stringify([
  DEBIAN_PYTHON,
  "-m",
  "ipykernel_launcher",
  "-f",
  "{connection_file}",
]);

let dir: string;

function moelab(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: "utf8",
    env: { ...process.env, JUPYTER_DATA_DIR: path.join(dir, ".jupyter-data"), ...env },
    timeout: 120000,
  });
  return { status: r.status, stderr: r.stderr };
}

function notebook(sources: string[]): string {
  return JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {},
    cells: sources.map((source) => ({
      cell_type: "code",
      metadata: {},
      source,
      outputs: [],
      execution_count: null,
    })),
  });
}

interface OutCell {
  metadata: { moelab?: { failed?: string } };
  execution_count: number | null;
  outputs: { output_type: string; text?: string | string[]; ename?: string; evalue?: string }[];
}

function cells(file: string): OutCell[] {
  return (JSON.parse(readFileSync(file, "utf8")) as { cells: OutCell[] }).cells;
}

const joined = (t: string | string[] | undefined) => (Array.isArray(t) ? t.join("") : (t ?? ""));

describe("moelab run: stopped runs keep their outputs", function () {
  this.timeout(120000);
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "moelab-run-stopped-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("names nbformat 3 as unsupported (exit 2), not as 'not a notebook'", () => {
    const nb = path.join(dir, "old.ipynb");
    writeFileSync(
      nb,
      JSON.stringify({ nbformat: 3, nbformat_minor: 0, metadata: {}, worksheets: [{ cells: [] }] }),
    );
    const r = moelab(["run", nb]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /old\.ipynb is nbformat 3: nbformat 3 is not supported/);
    assert.doesNotMatch(r.stderr, /not a notebook/);
  });

  describe("with Debian's ipykernel", function () {
    before(function () {
      needs(this, "ipykernel");
    });

    it("--timeout: writes the notebook and HTML with the finished cells, marks the stuck one, exits 1", () => {
      const nb = path.join(dir, "slow.ipynb");
      writeFileSync(
        nb,
        notebook(["print('first done')", "import time\ntime.sleep(60)", "print('never')"]),
      );
      const r = moelab(["run", nb, "--timeout", "3"], { MOELAB_RUN_KERNEL_CMD: IPYKERNEL });
      assert.equal(r.status, 1, r.stderr);
      assert.match(
        r.stderr,
        /cell 2 timed out \(after 3000 ms\)\n\(wrote .*slow\.out\.ipynb and .*slow\.html/,
      );
      const out = cells(path.join(dir, "slow.out.ipynb"));
      assert.equal(out[0].execution_count, 1);
      assert.deepEqual(
        out[0].outputs.map((o) => [o.output_type, joined(o.text)]),
        [["stream", "first done\n"]],
      );
      const mark = out[1].outputs.find((o) => o.ename === "CellTimeout");
      assert.ok(mark, JSON.stringify(out[1].outputs));
      assert.match(mark.evalue!, /^cell 2 timed out/);
      assert.equal(out[1].metadata.moelab?.failed, "timeout");
      assert.deepEqual(out[2].outputs, []);
      const html = readFileSync(path.join(dir, "slow.html"), "utf8");
      assert.match(html, /first done/);
      assert.match(html, /CellTimeout/);
      assert.doesNotMatch(html, /never\n/);
    });

    it("a kernel that dies: the finished cells' outputs are written, the cell marked, exit 1", () => {
      const nb = path.join(dir, "dies.ipynb");
      writeFileSync(nb, notebook(["print('kept')", "import os\nos._exit(7)"]));
      const r = moelab(["run", nb], { MOELAB_RUN_KERNEL_CMD: IPYKERNEL });
      assert.equal(r.status, 1, r.stderr);
      assert.match(
        r.stderr,
        /cell 2: the kernel exited with code 7[^]*\n\(wrote .*dies\.out\.ipynb/,
      );
      const out = cells(path.join(dir, "dies.out.ipynb"));
      assert.equal(joined(out[0].outputs[0].text), "kept\n");
      const mark = out[1].outputs.find((o) => o.ename === "DeadKernel");
      assert.ok(mark, JSON.stringify(out[1].outputs));
      assert.match(mark.evalue!, /the kernel exited with code 7/);
      assert.equal(out[1].metadata.moelab?.failed, "kernel died");
      assert.match(readFileSync(path.join(dir, "dies.html"), "utf8"), /kept/);
    });
  });
});
