import { strict as assert } from "node:assert";
import { createExecutor } from "../../../kernel/executor/index.js";
import { bundleOf, checkBundle, html } from "../../../kernel/executor/display.js";
import type { Executor } from "../../../kernel/contracts.js";
import { makeNotebookDir, run, value } from "./helpers.js";

describe("executor: display", function () {
  let ex: Executor;
  before(async () => {
    ex = await createExecutor({ cwd: makeNotebookDir() });
  });
  after(async () => {
    await ex.dispose();
  });

  it("display() sends display_data, with display ids and updates", async () => {
    const r = await run(
      ex,
      "display(html`<b>${1 + 1}</b>`);\ndisplay({ n: 1 }, { displayId: 'fig' });\ndisplay(md`# done`, { displayId: 'fig', update: true });\ndisplay(svg`<svg/>`);",
    );
    assert.deepEqual(r.outcome, { status: "ok" });
    assert.deepEqual(r.events, [
      {
        type: "display_data",
        data: { "text/html": "<b>2</b>", "text/plain": "<b>2</b>" },
        metadata: {},
        transient: {},
      },
      {
        type: "display_data",
        data: { "text/plain": "{ n: 1 }", "application/json": { n: 1 } },
        metadata: {},
        transient: { display_id: "fig" },
      },
      {
        type: "update_display_data",
        data: { "text/markdown": "# done", "text/plain": "# done" },
        metadata: {},
        transient: { display_id: "fig" },
      },
      {
        type: "display_data",
        data: { "image/svg+xml": "<svg/>", "text/plain": "<svg/>" },
        metadata: {},
        transient: {},
      },
    ]);
  });

  it("a bundle JSON cannot carry, or with a key that is no MIME type, is the cell's own error", async () => {
    for (const [code, re] of [
      [
        "display({ [Symbol.for('Jupyter.display')]() { return { 'application/json': { n: 1n } }; } })",
        /JSON cannot represent/,
      ],
      [
        "const o: any = {}; o.o = o;\n({ [Symbol.for('Jupyter.display')]() { return { 'application/json': o }; } })",
        /JSON cannot represent/,
      ],
      [
        "display({ [Symbol.for('Jupyter.display')]() { return { 'bad mime': 'x' }; } })",
        /MIME bundle keys are MIME types/,
      ],
    ] as const) {
      const r = await run(ex, code);
      assert.equal(r.outcome.status, "error", code);
      if (r.outcome.status === "error") assert.match(r.outcome.evalue, re);
    }
    // JSON data goes out as JSON gives it (a Date as its string).
    assert.deepEqual(checkBundle({ "application/json": { d: new Date(0) } }, "t"), {
      "application/json": { d: "1970-01-01T00:00:00.000Z" },
    });
  });

  it("uses [Symbol.for('Jupyter.display')]() for display and for the result", async () => {
    const r = await run(
      ex,
      "class Chart { [Symbol.for('Jupyter.display')]() { return { 'text/html': '<i>chart</i>', 'text/plain': 'Chart' }; } }\ndisplay(new Chart());\nnew Chart()",
    );
    assert.equal(r.outcome.status, "ok");
    if (r.outcome.status !== "ok") return;
    assert.deepEqual(r.outcome.result?.data, {
      "text/html": "<i>chart</i>",
      "text/plain": "Chart",
    });
    assert.equal(r.events[0].type, "display_data");
    const asyncOne = await run(
      ex,
      "({ async [Symbol.for('Jupyter.display')]() { return { 'text/plain': 'later' }; } })",
    );
    assert.equal(asyncOne.text, "later");
  });

  it("raw bundles, metadata, and clear_output", async () => {
    const r = await run(
      ex,
      "display({ 'text/plain': 'raw!', 'application/vnd.custom+json': { k: [1] } }, { raw: true, metadata: { isolated: true } });\nclear_output(true);\nclear_output();",
    );
    assert.deepEqual(r.events, [
      {
        type: "display_data",
        data: { "text/plain": "raw!", "application/vnd.custom+json": { k: [1] } },
        metadata: { isolated: true },
        transient: {},
      },
      { type: "clear_output", wait: true },
      { type: "clear_output", wait: false },
    ]);
  });

  it("page() adds a pager payload to the outcome", async () => {
    const r = await run(ex, "page('some help text');\npage({ 'text/html': '<b>x</b>' });\n1");
    assert.deepEqual(r.outcome, {
      status: "ok",
      payload: [
        { source: "page", data: { "text/plain": "some help text" }, start: 0 },
        {
          source: "page",
          data: {
            "text/plain": "{ 'text/html': '<b>x</b>' }",
            "application/json": { "text/html": "<b>x</b>" },
          },
          start: 0,
        },
      ],
      result: { data: { "text/plain": "1" }, metadata: {} },
    });
    assert.deepEqual((await run(ex, "2")).outcome, {
      status: "ok",
      result: { data: { "text/plain": "2" }, metadata: {} },
    });
  });

  it("accepts Deno's display_id spelling", async () => {
    const r = await run(ex, "display('v', { display_id: 'deno' } as any);");
    assert.deepEqual(r.events[0], {
      type: "display_data",
      data: { "text/plain": "'v'" },
      metadata: {},
      transient: { display_id: "deno" },
    });
  });

  it("bad bundles and options give clear errors", async () => {
    const bad = await run(ex, "({ [Symbol.for('Jupyter.display')]() { return 5; } })");
    assert.equal(bad.outcome.status, "error");
    if (bad.outcome.status === "error")
      assert.match(bad.outcome.evalue, /must return a MIME bundle/);
    const upd = await run(ex, "display(1, { update: true })");
    assert.equal(upd.outcome.status, "error");
    if (upd.outcome.status === "error") {
      assert.match(upd.outcome.evalue, /needs the displayId/);
      // The executor's own frames (compiled or source-mapped) are not the user's business.
      assert.doesNotMatch(upd.outcome.traceback.join("\n"), /kernel\/executor|worker\.(js|ts)/);
      assert.match(upd.outcome.traceback.join("\n"), /at In\[\d+\]:1:1/);
    }
    const nonString = await run(ex, "display({ 'text/html': 5 }, { raw: true })");
    assert.equal(nonString.outcome.status, "error");
    if (nonString.outcome.status === "error")
      assert.match(nonString.outcome.evalue, /must be a string/);
  });

  it("the kernel API is reachable by symbol", async () => {
    assert.equal(
      await value(
        ex,
        "const k = (globalThis as any)[Symbol.for('moelab.kernel')];\n[k.version, typeof k.display, typeof k.comms.open, typeof k.comms.registerTarget, k.interruptFlag instanceof Int32Array, typeof k.checkInterrupt, typeof k.input, typeof k.newDisplayId(), (globalThis as any)[Symbol.for('moelab.interrupt')] === k.interruptFlag].join(',')",
      ),
      "'1,function,function,function,true,function,function,string,true'",
    );
    assert.equal(
      await value(
        ex,
        "(await (globalThis as any)[Symbol.for('moelab.kernel')].bundle([1]))['application/json'][0]",
      ),
      "1",
    );
  });

  it("bundleOf: text/plain for everything, JSON only for exact JSON data", async () => {
    const b = (v: unknown) => bundleOf(v) as { data: Record<string, unknown> };
    assert.equal(b("s").data["text/plain"], "'s'");
    assert.equal(b([1, NaN]).data["application/json"], undefined);
    const cyc: Record<string, unknown> = {};
    cyc.self = cyc;
    assert.equal(b(cyc).data["application/json"], undefined);
    assert.match(b(cyc).data["text/plain"] as string, /Circular/);
    assert.deepEqual(b([{ a: null }]).data["application/json"], [{ a: null }]);
    assert.equal(b(new Float32Array(2)).data["application/json"], undefined);
    assert.deepEqual(checkBundle({ "text/plain": "x", "image/png": undefined }, "t"), {
      "text/plain": "x",
    });
    assert.equal(String(html`<p>${"a"}</p>`), "<p>a</p>");
  });
});
