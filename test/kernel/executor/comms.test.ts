import { strict as assert } from "node:assert";
import { createExecutor } from "../../../kernel/executor/index.js";
import type { Executor, ExecutorEvent } from "../../../kernel/contracts.js";
import { makeNotebookDir, run, until, value } from "./helpers.js";

describe("executor: comms", function () {
  let ex: Executor;
  const background: ExecutorEvent[] = [];
  before(async () => {
    ex = await createExecutor({ cwd: makeNotebookDir() });
    ex.onBackgroundEvent((e) => background.push(e));
  });
  after(async () => {
    await ex.dispose();
  });

  it("frontend-opened comms reach registered targets; unknown targets are refused", async () => {
    await value(
      ex,
      [
        "const seen: any[] = [];",
        "comms.registerTarget('echo', (comm, open) => {",
        "  seen.push(['open', open.data]);",
        "  comm.onMsg((m) => { seen.push(['msg', m.data, m.buffers.length]); comm.send({ echo: m.data.x }, {}, [new Uint8Array([7])]); });",
        "  comm.onClose((m) => seen.push(['close', m.data]));",
        "});",
      ].join("\n"),
    );
    assert.equal(await ex.commOpen("c1", "nope", {}, {}, []), false);
    assert.equal(await ex.commOpen("c1", "echo", { hello: 1 }, {}, []), true);
    assert.deepEqual(await ex.commInfo(), { c1: { target_name: "echo" } });
    assert.deepEqual(await ex.commInfo("other"), {});
    background.length = 0;
    await ex.commMsg("c1", { x: 5 }, {}, [new Uint8Array([1, 2])]);
    await until(() => background.some((e) => e.type === "comm_msg"));
    const msg = background.find((e) => e.type === "comm_msg");
    assert.ok(msg && msg.type === "comm_msg");
    assert.equal(msg.comm_id, "c1");
    assert.deepEqual(msg.data, { echo: 5 });
    assert.deepEqual([...msg.buffers[0]], [7]);
    await ex.commClose("c1", { bye: true });
    assert.deepEqual(await ex.commInfo(), {});
    assert.equal(
      await value(ex, "JSON.stringify(seen)"),
      `'[["open",{"hello":1}],["msg",{"x":5},1],["close",{"bye":true}]]'`,
    );
  });

  it("kernel-opened comms send comm_open/msg/close and show in commInfo", async () => {
    const r = await run(
      ex,
      "const c = comms.open('jupyter.widget', { state: 1 }, { version: '2' });\nc.send({ n: 2 });\nc.onMsg((m) => { lastFromFrontend = m.data; });\nvar lastFromFrontend: any;\nc.id",
    );
    assert.equal(r.outcome.status, "ok");
    const id = JSON.parse((r.text as string).replace(/'/g, '"')) as string;
    assert.deepEqual(
      r.events.map((e) => e.type),
      ["comm_open", "comm_msg"],
    );
    const open = r.events[0];
    assert.ok(open.type === "comm_open");
    assert.equal(open.target_name, "jupyter.widget");
    assert.deepEqual(open.metadata, { version: "2" });
    assert.deepEqual(await ex.commInfo("jupyter.widget"), {
      [id]: { target_name: "jupyter.widget" },
    });
    await ex.commMsg(id, { from: "frontend" }, {}, []);
    assert.equal(await value(ex, "lastFromFrontend.from"), "'frontend'");
    const closed = await run(ex, "c.close({ done: true }); c.closed");
    assert.equal(closed.text, "true");
    assert.deepEqual(closed.events, [
      { type: "comm_close", comm_id: id, data: { done: true }, metadata: {}, buffers: [] },
    ]);
    assert.deepEqual(await ex.commInfo(), {});
    const sendAfter = await run(ex, "c.send({})");
    assert.equal(sendAfter.outcome.status, "error");
  });

  it("errors in comm handlers go to stderr, not to the void", async () => {
    await value(
      ex,
      "comms.registerTarget('bad', (comm) => { comm.onMsg(() => { throw new Error('handler broke'); }); });",
    );
    assert.equal(await ex.commOpen("c2", "bad", {}, {}, []), true);
    background.length = 0;
    await ex.commMsg("c2", {}, {}, []);
    await until(() => background.some((e) => e.type === "stream" && /handler broke/.test(e.text)));
  });

  it("the same registry is reachable from the kernel symbol", async () => {
    assert.equal(
      await value(ex, "(globalThis as any)[Symbol.for('moelab.kernel')].comms === comms"),
      "true",
    );
  });

  it("a target that closes the comm it is opening leaves no comm listed", async () => {
    await value(ex, "comms.registerTarget('closer', (comm) => { comm.close(); });");
    assert.equal(await ex.commOpen("z1", "closer", {}, {}, []), true);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(await ex.commInfo("closer"), {});
  });

  it("an interrupt frees the worker from a comm handler that never returns", async () => {
    await value(
      ex,
      "const hangKept = 5;\ncomms.registerTarget('hang', (comm) => { comm.onMsg(() => { while (true) {} }); });",
    );
    assert.equal(await ex.commOpen("h1", "hang", {}, {}, []), true);
    const stuck = ex.commMsg("h1", { x: 1 }, {}, []);
    await new Promise((r) => setTimeout(r, 100));
    await ex.interrupt();
    await stuck; // settled, not left waiting
    assert.equal(await value(ex, "hangKept + 1"), "6");
    // And with nothing running, an interrupt is a no-op.
    await ex.interrupt();
    assert.equal(await value(ex, "hangKept"), "5");
  });
});
