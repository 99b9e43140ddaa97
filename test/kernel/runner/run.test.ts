import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { DEBIAN_PYTHON, needs } from "../../helpers/env.js";
import { needsKernel } from "../clients/kernelspec.js";

const ROOT = path.resolve(__dirname, "..", "..", "..", "..");
const BIN = path.join(ROOT, "bin", "moelab.js");
const IPYKERNEL = JSON.stringify([
  DEBIAN_PYTHON,
  "-m",
  "ipykernel_launcher",
  "-f",
  "{connection_file}",
]);

interface Cli {
  status: number | null;
  stdout: string;
  stderr: string;
}

function moelab(args: string[], env: Record<string, string> = {}): Cli {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: "utf8",
    // The kernel keeps history in the Jupyter data dir: keep the user's out of tests.
    env: { ...process.env, JUPYTER_DATA_DIR: path.join(dir, ".jupyter-data"), ...env },
    timeout: 120000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function notebook(cells: { type?: "code" | "markdown"; src: string }[]): string {
  return JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {},
    cells: cells.map((c) =>
      c.type === "markdown"
        ? { cell_type: "markdown", metadata: {}, source: c.src }
        : { cell_type: "code", metadata: {}, source: c.src, outputs: [], execution_count: null },
    ),
  });
}

interface OutCell {
  cell_type: string;
  execution_count: number | null;
  outputs: {
    output_type: string;
    name?: string;
    text?: string;
    data?: Record<string, unknown>;
    ename?: string;
  }[];
}

function readOut(file: string): OutCell[] {
  return (JSON.parse(readFileSync(file, "utf8")) as { cells: OutCell[] }).cells.filter(
    (c) => c.cell_type === "code",
  );
}

let dir: string;

describe("moelab run", function () {
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "moelab-run-test-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  describe("bad input", () => {
    it("names a missing notebook (exit 2)", () => {
      const r = moelab(["run", path.join(dir, "nope.ipynb")]);
      assert.equal(r.status, 2);
      assert.match(r.stderr, /notebook not found: .*nope\.ipynb/);
    });

    it("rejects invalid JSON and non-notebooks (exit 2)", () => {
      writeFileSync(path.join(dir, "bad.ipynb"), "{ not json");
      const bad = moelab(["run", path.join(dir, "bad.ipynb")]);
      assert.equal(bad.status, 2);
      assert.match(bad.stderr, /bad\.ipynb is not valid JSON/);
      writeFileSync(path.join(dir, "other.ipynb"), '{"hello": 1}');
      const other = moelab(["run", path.join(dir, "other.ipynb")]);
      assert.equal(other.status, 2);
      assert.match(other.stderr, /is not a notebook/);
    });

    it("refuses to overwrite its input, and rejects unknown options", () => {
      const nb = path.join(dir, "a.ipynb");
      writeFileSync(nb, notebook([{ src: "1" }]));
      const r = moelab(["run", nb, "--out", nb]);
      assert.equal(r.status, 2);
      assert.match(r.stderr, /never overwrites its input/);
      const t = moelab(["run", nb, "--timeout", "soon"]);
      assert.equal(t.status, 2);
      assert.match(t.stderr, /--timeout needs a number of seconds, got soon/);
      const u = moelab(["run", nb, "--frobnicate"]);
      assert.equal(u.status, 2);
      assert.match(u.stderr, /unknown option --frobnicate/);
    });

    it("shows the stderr of a kernel that fails to start (exit 1)", () => {
      const nb = path.join(dir, "a.ipynb");
      writeFileSync(nb, notebook([{ src: "1" }]));
      const cmd = JSON.stringify([
        process.execPath,
        "-e",
        "console.error('kernel boom'); process.exit(3)",
      ]);
      const r = moelab(["run", nb], { MOELAB_RUN_KERNEL_CMD: cmd });
      assert.equal(r.status, 1);
      assert.match(
        r.stderr,
        /kernel failed to start: the kernel exited with code 3; its stderr:\nkernel boom/,
      );
      assert.equal(existsSync(path.join(dir, "a.out.ipynb")), false);
    });
  });

  describe("with Debian's ipykernel (runner checked against a reference kernel)", function () {
    before(function () {
      needs(this, "ipykernel");
    });

    it("collects outputs, stops at the first error with exit 1, never touches the input", () => {
      const nb = path.join(dir, "py.ipynb");
      const src = notebook([
        { type: "markdown", src: "# Python\nA *test*." },
        { src: "import os\nprint('cwd', os.getcwd())\nprint('more')\n40 + 2" },
        {
          src: "from IPython.display import display, HTML\nh = display(HTML('<b>one</b>'), display_id=True)",
        },
        { src: "h.update(HTML('<i>two</i>'))" },
        { src: "1 / 0" },
        { src: "print('never')" },
      ]);
      writeFileSync(nb, src);
      const r = moelab(["run", nb], { MOELAB_RUN_KERNEL_CMD: IPYKERNEL });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /cell 5 failed: ZeroDivisionError/);
      assert.equal(readFileSync(nb, "utf8"), src, "input unchanged");
      const cells = readOut(path.join(dir, "py.out.ipynb"));
      assert.deepEqual(cells[0].outputs[0], {
        output_type: "stream",
        name: "stdout",
        text: `cwd ${dir}\nmore\n`,
      });
      assert.equal(cells[0].outputs[1].output_type, "execute_result");
      assert.equal(cells[0].outputs[1].data?.["text/plain"], "42");
      assert.equal(cells[1].outputs[0].data?.["text/html"], "<i>two</i>", "updated by display id");
      assert.equal(cells[3].outputs[0].ename, "ZeroDivisionError");
      assert.equal(cells[4].execution_count, null, "cells after the error do not run");
      const html = readFileSync(path.join(dir, "py.html"), "utf8");
      assert.match(html, /<h1>Python<\/h1>/);
      assert.match(html, /<i>two<\/i>/);
    });

    it("--allow-errors keeps going and exits 0; --out/--html choose the files", () => {
      const nb = path.join(dir, "py.ipynb");
      writeFileSync(nb, notebook([{ src: "raise ValueError('x')" }, { src: "print('after')" }]));
      const out = path.join(dir, "sub-out.ipynb");
      const html = path.join(dir, "page.html");
      const r = moelab(["run", nb, "--allow-errors", "--out", out, "--html", html], {
        MOELAB_RUN_KERNEL_CMD: IPYKERNEL,
      });
      assert.equal(r.status, 0, r.stderr);
      const cells = readOut(out);
      assert.equal(cells[0].outputs[0].ename, "ValueError");
      assert.deepEqual(cells[1].outputs, [
        { output_type: "stream", name: "stdout", text: "after\n" },
      ]);
      assert.ok(existsSync(html));
      assert.equal(existsSync(path.join(dir, "py.out.ipynb")), false);
    });

    it("reports a kernel that dies during a cell, with its exit code", () => {
      const nb = path.join(dir, "py.ipynb");
      writeFileSync(nb, notebook([{ src: "print('before')" }, { src: "import os\nos._exit(7)" }]));
      const r = moelab(["run", nb], { MOELAB_RUN_KERNEL_CMD: IPYKERNEL });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /cell 2: the kernel exited with code 7/);
    });

    it("--timeout interrupts a stuck cell and fails the run", () => {
      const nb = path.join(dir, "py.ipynb");
      writeFileSync(nb, notebook([{ src: "import time\ntime.sleep(60)" }]));
      const r = moelab(["run", nb, "--timeout", "2"], { MOELAB_RUN_KERNEL_CMD: IPYKERNEL });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /cell 1 timed out/);
    });
  });

  describe("with the moelab kernel", function () {
    before(function () {
      needsKernel(this);
    });

    it("runs TypeScript cells, stops at the first error, writes HTML, leaves the input alone", () => {
      const nb = path.join(dir, "ts.ipynb");
      writeFileSync(path.join(dir, "helper.ts"), "export const answer: number = 41;\n");
      const src = notebook([
        { type: "markdown", src: "## TypeScript" },
        {
          src: 'import { answer } from "./helper.ts";\nconsole.log("hi");\nconst x: number = answer + 1;',
        },
        { src: "x" },
        { src: "throw new Error('boom')" },
        { src: "console.log('never')" },
      ]);
      writeFileSync(nb, src);
      const r = moelab(["run", nb]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /cell 4 failed: Error: boom/);
      assert.equal(readFileSync(nb, "utf8"), src);
      const cells = readOut(path.join(dir, "ts.out.ipynb"));
      assert.deepEqual(cells[0].outputs, [{ output_type: "stream", name: "stdout", text: "hi\n" }]);
      assert.equal(cells[1].outputs[0].output_type, "execute_result");
      assert.equal(cells[1].outputs[0].data?.["text/plain"], "42");
      assert.equal(cells[2].outputs[0].output_type, "error");
      assert.equal(cells[3].execution_count, null);
      assert.match(readFileSync(path.join(dir, "ts.html"), "utf8"), /<h2>TypeScript<\/h2>/);
    });

    it("--allow-errors runs every cell and exits 0", () => {
      const nb = path.join(dir, "ts.ipynb");
      writeFileSync(
        nb,
        notebook([{ src: "throw new TypeError('first')" }, { src: "console.log('after')" }]),
      );
      const r = moelab(["run", nb, "--allow-errors", "--no-html"]);
      assert.equal(r.status, 0, r.stderr);
      const cells = readOut(path.join(dir, "ts.out.ipynb"));
      assert.equal(cells[0].outputs[0].ename, "TypeError");
      assert.deepEqual(cells[1].outputs, [
        { output_type: "stream", name: "stdout", text: "after\n" },
      ]);
      assert.equal(existsSync(path.join(dir, "ts.html")), false);
    });
  });
});
