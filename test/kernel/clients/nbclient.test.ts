/**
 * Real clients (a): Debian's jupyter_client and nbclient start the installed moelab kernelspec
 * and execute code and a notebook with it.
 */
import { strict as assert } from "node:assert";
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { DEBIAN_PYTHON, needs } from "../../helpers/env.js";
import { needsKernel, runAsync, tempJupyter, type TempJupyter } from "./kernelspec.js";

const NBCLIENT = `
import sys, nbformat
from nbclient import NotebookClient
src, out, cwd = sys.argv[1:4]
nb = nbformat.read(src, as_version=4)
NotebookClient(nb, kernel_name="moelab", timeout=60, startup_timeout=60,
               resources={"metadata": {"path": cwd}}).execute()
nbformat.validate(nb)
nbformat.write(nb, out)
`;

const JUPYTER_CLIENT = `
import json
from jupyter_client.manager import start_new_kernel
km, kc = start_new_kernel(kernel_name="moelab", startup_timeout=60)
try:
    info = kc.kernel_info(reply=True, timeout=30)["content"]
    outputs = []
    reply = kc.execute_interactive("const z: number = 20;\\nconsole.log('out', z);\\nz + 22",
                                   timeout=30, output_hook=lambda m: outputs.append(
                                       [m["msg_type"], m["content"]]))
    comp = kc.complete("Math.ab", reply=True, timeout=30)["content"]
    print(json.dumps({"info": info, "reply": reply["content"], "outputs": outputs, "complete": comp}))
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=False)
`;

describe("real clients: jupyter_client and nbclient", function () {
  let jup: TempJupyter;
  before(function () {
    needs(this, "jupyter_client", "nbclient");
    needsKernel(this);
    jup = tempJupyter();
  });
  after(() => jup?.cleanup());

  it("jupyter_client starts the kernelspec, executes, completes and shuts down", async () => {
    const r = await runAsync(DEBIAN_PYTHON, ["-c", JUPYTER_CLIENT], { env: jup.env, cwd: jup.dir });
    assert.equal(r.code, 0, r.stderr);
    const got = JSON.parse(r.stdout.trim().split("\n").pop()!);
    assert.equal(got.info.language_info.name, "typescript");
    assert.equal(got.reply.status, "ok");
    const types = got.outputs.map((o: [string, unknown]) => o[0]);
    assert.ok(types.includes("stream"), JSON.stringify(got.outputs));
    const result = got.outputs.find(
      (o: [string, { data: Record<string, string> }]) => o[0] === "execute_result",
    );
    assert.equal(result[1].data["text/plain"], "42");
    assert.ok(got.complete.matches.includes("abs"), JSON.stringify(got.complete));
  });

  it("nbclient executes a TypeScript notebook into valid nbformat", async () => {
    const src = path.join(jup.dir, "client.ipynb");
    const out = path.join(jup.dir, "client.out.ipynb");
    const code = (source: string) => ({
      cell_type: "code",
      metadata: {},
      source,
      outputs: [],
      execution_count: null,
    });
    writeFileSync(
      src,
      JSON.stringify({
        nbformat: 4,
        nbformat_minor: 5,
        metadata: {
          kernelspec: {
            name: "moelab",
            display_name: "TypeScript (moelab)",
            language: "typescript",
          },
        },
        cells: [
          { cell_type: "markdown", metadata: {}, source: "# nbclient" },
          code("let n = 2;\nconsole.log('n is', n);"),
          code("display(html`<b>bold ${n}</b>`);"),
          code("await new Promise((r) => setTimeout(r, 10));\nn * 21"),
        ],
      }),
    );
    const r = await runAsync(DEBIAN_PYTHON, ["-c", NBCLIENT, src, out, jup.dir], {
      env: jup.env,
      cwd: jup.dir,
    });
    assert.equal(r.code, 0, r.stderr);
    const nb = JSON.parse(readFileSync(out, "utf8"));
    const cells = nb.cells.filter((c: { cell_type: string }) => c.cell_type === "code");
    assert.equal(cells[0].outputs[0].output_type, "stream");
    assert.match([].concat(cells[0].outputs[0].text).join(""), /n is 2/);
    assert.equal(cells[1].outputs[0].output_type, "display_data");
    assert.match([].concat(cells[1].outputs[0].data["text/html"]).join(""), /<b>bold 2<\/b>/);
    assert.equal(cells[2].outputs[0].output_type, "execute_result");
    assert.equal([].concat(cells[2].outputs[0].data["text/plain"]).join(""), "42");
    assert.deepEqual(
      cells.map((c: { execution_count: number }) => c.execution_count),
      [1, 2, 3],
    );
    assert.equal(nb.metadata.language_info.name, "typescript");
  });
});
