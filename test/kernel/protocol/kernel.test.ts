/**
 * Wire-level tests of every message type, against an in-process kernel with fake executor and
 * language service, through the TypeScript zeromq client.
 */
import { strict as assert } from "node:assert";
import {
  InProcessKernel,
  KernelClient,
  Message,
  outputsOf,
  startInProcessKernel,
  streamText,
} from "../../helpers/client.js";
import * as zmq from "zeromq";
import { makeHeader, parseMessage, serializeMessage } from "../../../kernel/wire/framing.js";
import type { Header, KernelInfoReply } from "../../../kernel/wire/messages.js";
import { FakeExecutor, FakeLanguage } from "./fakes.js";

const types = (ms: Message[]): string[] =>
  ms.map((m) =>
    m.header.msg_type === "status" ? `status:${m.content.execution_state}` : m.header.msg_type,
  );

interface Setup {
  k: InProcessKernel;
  executors: FakeExecutor[];
  languages: FakeLanguage[];
}

async function setup(): Promise<Setup> {
  const executors: FakeExecutor[] = [];
  const languages: FakeLanguage[] = [];
  const k = await startInProcessKernel({
    createExecutor: async () => {
      const e = new FakeExecutor();
      executors.push(e);
      return e;
    },
    createLanguage: () => {
      const l = new FakeLanguage();
      languages.push(l);
      return l;
    },
  });
  return { k, executors, languages };
}

describe("protocol/kernel over the wire (fake executor)", function () {
  let s: Setup;
  beforeEach(async () => {
    s = await setup();
  });
  afterEach(async () => {
    await s.k.close();
  });

  it("answers kernel_info on shell and on control with every required field", async () => {
    const c = s.k.client;
    for (const channel of ["shell", "control"] as const) {
      const { reply, iopub } = await c.request(channel, "kernel_info_request", {});
      assert.equal(reply.header.msg_type, "kernel_info_reply");
      const info = reply.content as unknown as KernelInfoReply;
      assert.equal(info.status, "ok");
      assert.match(info.protocol_version, /^5\.\d+$/);
      assert.equal(info.implementation, "moelab");
      assert.equal(typeof info.implementation_version, "string");
      assert.equal(typeof info.banner, "string");
      assert.equal(info.language_info.name, "typescript");
      assert.equal(info.language_info.file_extension, ".ts");
      assert.equal(info.language_info.mimetype, "text/typescript");
      assert.equal(info.language_info.pygments_lexer, "typescript");
      assert.ok(info.language_info.codemirror_mode);
      assert.ok(Array.isArray(info.help_links));
      assert.deepEqual(types(iopub), ["status:busy", "status:idle"]);
      // Reply headers carry the kernel's own session, not the client's.
      assert.equal(reply.header.session, s.k.kernel.session);
      assert.notEqual(reply.header.session, c.session);
      assert.equal(reply.header.version, info.protocol_version);
      assert.equal((reply.parent_header as Header).session, c.session);
    }
  });

  it("executes with busy, execute_input, outputs, result, idle in order and counts executions", async () => {
    const c = s.k.client;
    const { reply, iopub } = await c.execute("print hello, world\neprint oops\n1 + 1");
    assert.deepEqual(types(iopub), [
      "status:busy",
      "execute_input",
      "stream",
      "stream",
      "execute_result",
      "status:idle",
    ]);
    assert.equal(reply.content.status, "ok");
    assert.equal(reply.content.execution_count, 1);
    assert.deepEqual(reply.content.user_expressions, {});
    assert.deepEqual(reply.content.payload, []);
    assert.equal(
      outputsOf(iopub, "execute_input")[0].content.code,
      "print hello, world\neprint oops\n1 + 1",
    );
    assert.equal(outputsOf(iopub, "execute_input")[0].content.execution_count, 1);
    assert.equal(streamText(iopub, "stdout"), "hello, world\n");
    assert.equal(streamText(iopub, "stderr"), "oops\n");
    const result = outputsOf(iopub, "execute_result")[0].content;
    assert.deepEqual(result, {
      execution_count: 1,
      data: { "text/plain": "2" },
      metadata: {},
      transient: {},
    });
    const ids = new Set([reply.header.msg_id, ...iopub.map((m) => m.header.msg_id)]);
    assert.equal(ids.size, iopub.length + 1, "msg_ids are unique");
    const second = await c.execute("count");
    assert.equal(second.reply.content.execution_count, 2);
    assert.equal(
      outputsOf(second.iopub, "execute_result")[0].content.data &&
        (outputsOf(second.iopub, "execute_result")[0].content.data as Record<string, unknown>)[
          "text/plain"
        ],
      "2",
    );
  });

  it("silent runs show no execute_input or result and do not count; store_history=false does not count", async () => {
    const c = s.k.client;
    await c.execute("1 + 1");
    const silent = await c.execute("print shh\n2 + 2", { silent: true });
    assert.deepEqual(types(silent.iopub), ["status:busy", "stream", "status:idle"]);
    assert.equal(silent.reply.content.execution_count, 1);
    const unstored = await c.execute("3 + 3", { store_history: false });
    assert.equal(unstored.reply.content.execution_count, 1);
    assert.equal(outputsOf(unstored.iopub, "execute_result").length, 1);
    const next = await c.execute("4 + 4");
    assert.equal(next.reply.content.execution_count, 2);
    const hist = await c.request("shell", "history_request", {
      hist_access_type: "tail",
      n: 10,
      output: false,
      raw: true,
    });
    assert.deepEqual(
      (hist.reply.content.history as unknown[][]).map((h) => h[2]),
      ["1 + 1", "4 + 4"],
    );
  });

  it("reports errors as an error message and in the reply; user_expressions are evaluated", async () => {
    const c = s.k.client;
    const { reply, iopub } = await c.execute("print before\nthrow TypeError bad thing");
    assert.deepEqual(types(iopub), [
      "status:busy",
      "execute_input",
      "stream",
      "error",
      "status:idle",
    ]);
    const err = outputsOf(iopub, "error")[0].content;
    assert.equal(err.ename, "TypeError");
    assert.equal(err.evalue, "bad thing");
    assert.ok(Array.isArray(err.traceback));
    assert.equal(reply.content.status, "error");
    assert.equal(reply.content.ename, "TypeError");
    assert.equal(reply.content.evalue, "bad thing");
    assert.deepEqual(reply.content.traceback, err.traceback);
    assert.equal(reply.content.execution_count, 1);
    const ue = await c.execute("set v 5", {
      user_expressions: { x: "1+1", bad: "throw RangeError no", wrong: 3 as unknown as string },
    });
    assert.equal(ue.reply.content.status, "ok");
    const got = ue.reply.content.user_expressions as Record<string, Record<string, unknown>>;
    assert.deepEqual(got.x, { status: "ok", data: { "text/plain": "2" }, metadata: {} });
    assert.equal(got.bad.status, "error");
    assert.equal(got.wrong.status, "error");
    assert.match(String(got.wrong.evalue), /user_expressions\["wrong"\] must be a string/);
    // They make no outputs of their own and take no execution count.
    assert.deepEqual(types(ue.iopub), ["status:busy", "execute_input", "status:idle"]);
    assert.equal(ue.reply.content.execution_count, 2);
  });

  it("stop_on_error aborts the executes queued behind a failing cell, and only when asked", async () => {
    const c = s.k.client;
    const a = c.sendExecute("sleep 300\nthrow Error first");
    const b = c.sendExecute("print never");
    const q = c.send("shell", "is_complete_request", { code: "x" });
    const d = c.sendExecute("print also never");
    const [ra, rb, rq, rd] = await Promise.all([a, b, q, d].map((h) => c.reply(h.msg_id)));
    assert.equal(ra.content.status, "error");
    for (const r of [rb, rd]) {
      assert.equal(r.content.status, "error");
      assert.equal(r.content.ename, "ExecutionAborted");
    }
    assert.equal(rq.content.status, "complete", "non-execute requests are still answered");
    assert.equal(streamText(c.iopubFor(b.msg_id), "stdout"), "");
    await c.iopubUntilIdle(d.msg_id);

    // A silent execute's error (a frontend's probe) aborts nothing.
    const sil = c.sendExecute("sleep 100\nthrow Error silent", { silent: true });
    const after = c.sendExecute("print after silent");
    const [rs, ra2] = await Promise.all([c.reply(sil.msg_id), c.reply(after.msg_id)]);
    assert.equal(rs.content.status, "error");
    assert.equal(ra2.content.status, "ok");
    await c.iopubUntilIdle(after.msg_id);

    const e = c.sendExecute("sleep 300\nthrow Error second", { stop_on_error: false });
    const f = c.sendExecute("print runs");
    const [re, rf] = await Promise.all([c.reply(e.msg_id), c.reply(f.msg_id)]);
    assert.equal(re.content.status, "error");
    assert.equal(rf.content.status, "ok");
    assert.equal(streamText(await c.iopubUntilIdle(f.msg_id), "stdout"), "runs\n");
  });

  it("serves many concurrent requests one at a time, in order", async () => {
    const c = s.k.client;
    const heads = Array.from({ length: 25 }, (_, i) =>
      i % 5 === 4
        ? c.send("shell", "complete_request", { code: "Math.a", cursor_pos: 6 })
        : c.sendExecute(`${i} * 2`),
    );
    const replies = await Promise.all(heads.map((h) => c.reply(h.msg_id)));
    let count = 0;
    replies.forEach((r, i) => {
      if (i % 5 === 4) assert.deepEqual(r.content.matches, ["abs", "acos"]);
      else {
        count++;
        assert.equal(r.content.execution_count, count);
      }
    });
    // Shell replies arrive in request order.
    const order = c.replies
      .map((r) => (r.parent_header as Header).msg_id)
      .filter((id) => heads.some((h) => h.msg_id === id));
    assert.deepEqual(
      order,
      heads.map((h) => h.msg_id),
    );
    for (const h of heads) {
      const io = await c.iopubUntilIdle(h.msg_id);
      assert.equal(io[0].content.execution_state, "busy");
    }
  });

  it("answers inspect, complete and is_complete through the language service", async () => {
    const c = s.k.client;
    const insp = await c.request("shell", "inspect_request", {
      code: "Math.max",
      cursor_pos: 5,
      detail_level: 1,
    });
    assert.equal(insp.reply.header.msg_type, "inspect_reply");
    assert.deepEqual(insp.reply.content, {
      status: "ok",
      found: true,
      data: { "text/plain": "Math (detail 1, at 5)" },
      metadata: {},
    });
    const notFound = await c.request("shell", "inspect_request", {
      code: "zz",
      cursor_pos: 1,
      detail_level: 0,
    });
    assert.equal(notFound.reply.content.found, false);
    // cursor_pos counts code points: the astral character is one position.
    const comp = await c.request("shell", "complete_request", {
      code: "'😀'; Math.a",
      cursor_pos: 11,
    });
    assert.deepEqual(comp.reply.content, {
      status: "ok",
      matches: ["abs", "acos"],
      cursor_start: 10,
      cursor_end: 11,
      metadata: {},
    });
    const inc = await c.request("shell", "is_complete_request", { code: "function f() {" });
    assert.deepEqual(inc.reply.content, { status: "incomplete", indent: "  " });
    const done = await c.request("shell", "is_complete_request", { code: "f()" });
    assert.deepEqual(done.reply.content, { status: "complete" });
    const bad = await c.request("shell", "is_complete_request", { code: ") x" });
    assert.deepEqual(bad.reply.content, { status: "invalid" });
    const missing = await c.request("shell", "complete_request", { cursor_pos: 1 });
    assert.equal(missing.reply.content.status, "error");
    assert.match(String(missing.reply.content.evalue), /content.code must be a string/);
  });

  it("answers history tail, range and search (unique, n, output)", async () => {
    const c = s.k.client;
    for (const code of ["1 + 2", "print x", "1 + 2", "7 * 3"]) await c.execute(code);
    const tail = await c.request("shell", "history_request", {
      hist_access_type: "tail",
      n: 2,
      output: true,
      raw: true,
    });
    assert.equal(tail.reply.header.msg_type, "history_reply");
    const h = tail.reply.content.history as [number, number, [string, string | null]][];
    assert.equal(h.length, 2);
    assert.deepEqual(h[0][2], ["1 + 2", "3"]);
    assert.deepEqual(h[1][2], ["7 * 3", "21"]);
    const [session, line] = h[0];
    const range = await c.request("shell", "history_request", {
      hist_access_type: "range",
      session,
      start: line,
      stop: line + 1,
      output: false,
      raw: true,
    });
    assert.deepEqual(range.reply.content.history, [[session, line, "1 + 2"]]);
    const search = await c.request("shell", "history_request", {
      hist_access_type: "search",
      pattern: "1*2",
      output: false,
      raw: true,
    });
    assert.equal((search.reply.content.history as unknown[]).length, 2);
    const unique = await c.request("shell", "history_request", {
      hist_access_type: "search",
      pattern: "1*2",
      unique: true,
      output: false,
      raw: true,
    });
    assert.equal((unique.reply.content.history as unknown[]).length, 1);
    const n = await c.request("shell", "history_request", {
      hist_access_type: "search",
      pattern: "*",
      n: 3,
      output: false,
      raw: true,
    });
    assert.equal((n.reply.content.history as unknown[]).length, 3);
    const wrong = await c.request("shell", "history_request", {
      hist_access_type: "tail",
      n: "three",
    });
    assert.equal(wrong.reply.content.status, "error");
    assert.match(String(wrong.reply.content.evalue), /n must be a non-negative integer/);
  });

  it("does comms both ways: open, info, msg with buffers, close; unknown targets get comm_close", async () => {
    const c = s.k.client;
    const ex = s.executors[0];
    const open = c.send("shell", "comm_open", {
      comm_id: "c1",
      target_name: "echo",
      data: { a: 1 },
    });
    assert.deepEqual(types(await c.iopubUntilIdle(open.msg_id)), ["status:busy", "status:idle"]);
    const info = await c.request("shell", "comm_info_request", { target_name: "echo" });
    assert.deepEqual(info.reply.content, { status: "ok", comms: { c1: { target_name: "echo" } } });
    const h = c.send(
      "shell",
      "comm_msg",
      { comm_id: "c1", data: { x: 2 } },
      { buffers: [Buffer.from([1, 2, 3])] },
    );
    const io = await c.iopubUntilIdle(h.msg_id);
    assert.deepEqual(types(io), ["status:busy", "comm_msg", "stream", "status:idle"]);
    const echo = outputsOf(io, "comm_msg")[0];
    assert.deepEqual(echo.content, { comm_id: "c1", data: { echo: { x: 2 } } });
    assert.deepEqual(echo.buffers, [Buffer.from([1, 2, 3])]);
    assert.deepEqual(ex.received[1], { kind: "msg", commId: "c1", data: { x: 2 }, buffers: 1 });
    await c.iopubUntilIdle(c.send("shell", "comm_close", { comm_id: "c1", data: {} }).msg_id);
    assert.equal(ex.received[2].kind, "close");
    const none = await c.request("shell", "comm_info_request", {});
    assert.deepEqual(none.reply.content.comms, {});

    const unknown = c.send("shell", "comm_open", {
      comm_id: "c2",
      target_name: "nobody",
      data: {},
    });
    const uio = await c.iopubUntilIdle(unknown.msg_id);
    assert.deepEqual(types(uio), ["status:busy", "comm_close", "status:idle"]);
    assert.equal(outputsOf(uio, "comm_close")[0].content.comm_id, "c2");

    // Kernel-side comm_open from a cell.
    const cell = await c.execute("comm_open jupyter.widget w1");
    const kopen = outputsOf(cell.iopub, "comm_open")[0];
    assert.deepEqual(kopen.content, {
      comm_id: "w1",
      data: { hello: 1 },
      target_name: "jupyter.widget",
    });
  });

  it("interrupt_request on control stops a busy cell; variables survive; control and heartbeat stay responsive", async () => {
    const c = s.k.client;
    await c.execute("set x 42");
    const busy = c.sendExecute("loop");
    await c.waitFor(
      () => c.iopubFor(busy.msg_id).find((m) => m.header.msg_type === "execute_input"),
      "the loop to start",
    );
    const info = await c.request("control", "kernel_info_request", {});
    assert.equal(info.reply.content.status, "ok");
    assert.ok(await c.heartbeat());
    const intr = await c.request("control", "interrupt_request", {});
    assert.equal(intr.reply.header.msg_type, "interrupt_reply");
    assert.deepEqual(intr.reply.content, { status: "ok" });
    const reply = await c.reply(busy.msg_id);
    assert.equal(reply.content.status, "error");
    assert.equal(reply.content.ename, "Interrupted");
    const io = await c.iopubUntilIdle(busy.msg_id);
    assert.equal(outputsOf(io, "error").length, 1);
    const after = await c.execute("get x");
    assert.equal(
      (outputsOf(after.iopub, "execute_result")[0].content.data as Record<string, unknown>)[
        "text/plain"
      ],
      "42",
    );
  });

  it("routes input_request to the shell identity on stdin and returns the answer to the cell", async () => {
    const c = s.k.client;
    c.onInput = (req) => (req.content.password ? "hunter2" : "Ada");
    const r = await c.execute("input Your name?\npassword Secret?");
    assert.equal(r.reply.content.status, "ok");
    assert.equal(streamText(r.iopub, "stdout"), "got: Ada\ngot: hunter2\n");
    assert.equal(c.inputRequests.length, 2);
    assert.deepEqual(c.inputRequests[0].content, { prompt: "Your name?", password: false });
    assert.deepEqual(c.inputRequests[1].content, { prompt: "Secret?", password: true });
    assert.equal((c.inputRequests[0].parent_header as Header).msg_type, "execute_request");
    assert.equal(c.inputRequests[0].header.session, s.k.kernel.session);

    const denied = await c.execute("input nope", { allow_stdin: false });
    assert.equal(denied.reply.content.status, "error");
    assert.match(String(denied.reply.content.evalue), /allow_stdin is false/);
    assert.equal(c.inputRequests.length, 2, "no input_request when stdin is not allowed");
  });

  it("fails input() clearly when the requesting client has no stdin socket", async () => {
    const conn = s.k.kernel.connection;
    const lone = new zmq.Dealer({ routingId: "no-stdin-client", linger: 0 });
    try {
      lone.connect(`tcp://${conn.ip}:${conn.shell_port}`);
      const header = makeHeader("execute_request", "lone", "test");
      await lone.send(
        serializeMessage(
          {
            identities: [],
            header,
            parent_header: {},
            metadata: {},
            content: { code: "input who?", silent: false, allow_stdin: true },
          },
          s.k.client.signer,
        ),
      );
      const reply = parseMessage(await lone.receive(), s.k.client.signer);
      assert.equal(reply.content.status, "error");
      assert.match(String(reply.content.evalue), /no frontend is connected to stdin/);
    } finally {
      lone.close();
    }
  });

  it("keeps two clients' replies apart", async () => {
    const other = await KernelClient.connect(s.k.kernel.connection);
    try {
      const a = s.k.client.sendExecute("sleep 20\n1 + 1");
      const b = other.sendExecute("2 + 2");
      const [ra, rb] = await Promise.all([s.k.client.reply(a.msg_id), other.reply(b.msg_id)]);
      // Which arrived first is up to the network; each gets its own reply either way.
      assert.deepEqual([ra.content.execution_count, rb.content.execution_count].sort(), [1, 2]);
      assert.equal(
        s.k.client.replies.filter((r) => (r.parent_header as Header).msg_id === b.msg_id).length,
        0,
      );
      assert.equal(
        other.replies.filter((r) => (r.parent_header as Header).msg_id === a.msg_id).length,
        0,
      );
      // Both see each other's outputs on iopub, as Jupyter intends.
      await other.waitFor(
        () => (other.iopubFor(a.msg_id).length > 0 ? true : undefined),
        "shared iopub",
      );
    } finally {
      other.close();
    }
  });

  it("an interrupt cancels a pending input request", async () => {
    const c = s.k.client;
    c.onInput = () => undefined;
    const h = c.sendExecute("input never answered");
    await c.waitFor(() => (c.inputRequests.length > 0 ? true : undefined), "input_request");
    await c.request("control", "interrupt_request", {});
    const reply = await c.reply(h.msg_id);
    assert.equal(reply.content.status, "error");
    assert.match(String(reply.content.evalue), /input cancelled: interrupted/);
    const after = await c.execute("1 + 1");
    assert.equal(after.reply.content.status, "ok");
  });

  it("routes output a finished cell left behind to the most recent execute", async () => {
    const c = s.k.client;
    await c.execute("print first");
    const second = await c.execute("print now");
    const parent = second.reply.parent_header as Header;
    s.executors[0].emitBackground({ type: "stream", name: "stdout", text: "tick\n" });
    await c.waitFor(
      () => (streamText(c.iopubLog, "stdout").includes("tick") ? true : undefined),
      "the late output",
    );
    const late = c.iopubLog.find((m) => m.content.text === "tick\n") as Message;
    assert.equal((late.parent_header as Header).msg_id, parent.msg_id);
  });

  it("publishes display_data, update_display_data and clear_output with transient", async () => {
    const c = s.k.client;
    const r = await c.execute("display first\nupdate d1 second\nclear");
    assert.deepEqual(types(r.iopub), [
      "status:busy",
      "execute_input",
      "display_data",
      "update_display_data",
      "clear_output",
      "status:idle",
    ]);
    assert.deepEqual(outputsOf(r.iopub, "display_data")[0].content, {
      data: { "text/plain": "first" },
      metadata: {},
      transient: {},
    });
    assert.deepEqual(outputsOf(r.iopub, "update_display_data")[0].content.transient, {
      display_id: "d1",
    });
    assert.deepEqual(outputsOf(r.iopub, "clear_output")[0].content, { wait: false });
  });

  it("shows type-check diagnostics as stderr warnings, always before the reply and idle", async () => {
    const c = s.k.client;
    const lang = s.languages[0];
    lang.checkDelayMs = 0;
    const quick = await c.execute("sleep 30\nprint TYPEERR");
    assert.deepEqual(types(quick.iopub), [
      "status:busy",
      "execute_input",
      "stream",
      "stream",
      "status:idle",
    ]);
    assert.match(
      streamText(quick.iopub, "stderr"),
      /^warning TS2322 \(line 1, column 1\): Type 'string'/,
    );
    // A check that finishes after the cell still comes before the reply and idle.
    lang.checkDelayMs = 150;
    const slow = await c.execute("print TYPEERR late");
    assert.equal(slow.reply.content.status, "ok", "checking never stops the cell");
    assert.deepEqual(types(slow.iopub), [
      "status:busy",
      "execute_input",
      "stream",
      "stream",
      "status:idle",
    ]);
    assert.match(streamText(slow.iopub, "stderr"), /^warning TS2322/);
    lang.checkDelayMs = 0;
    assert.ok(
      lang.recorded.includes("print TYPEERR late"),
      "ran cells are recorded for later checks",
    );
  });

  it("answers unknown requests with an error reply and drops unknown non-requests, then keeps serving", async () => {
    const c = s.k.client;
    const r = await c.request("shell", "frobnicate_request", {});
    assert.equal(r.reply.header.msg_type, "frobnicate_reply");
    assert.equal(r.reply.content.status, "error");
    assert.equal(r.reply.content.ename, "UnknownMessageType");
    const ctl = await c.request("control", "debug_request", {});
    assert.equal(ctl.reply.header.msg_type, "debug_reply");
    assert.equal(ctl.reply.content.status, "error");
    // Control serves shell's other requests too (the spec: "identical to Shell"), not execute.
    const comp = await c.request("control", "complete_request", { code: "Math.a", cursor_pos: 6 });
    assert.deepEqual(comp.reply.content.matches, ["abs", "acos"]);
    const ex = await c.request("control", "execute_request", { code: "1", silent: false });
    assert.equal(ex.reply.content.status, "error");
    assert.match(String(ex.reply.content.evalue), /execute_request belongs on the shell channel/);
    const drop = c.send("shell", "mystery_event", {});
    assert.deepEqual(types(await c.iopubUntilIdle(drop.msg_id)), ["status:busy", "status:idle"]);
    assert.match(s.k.logs.join("\n"), /dropped unknown message type "mystery_event"/);
    assert.equal((await c.execute("1 + 1")).reply.content.status, "ok");
  });

  it("greets each new iopub subscriber with iopub_welcome (XPUB, protocol 5.5)", async () => {
    const conn = s.k.kernel.connection;
    const sub = new zmq.Subscriber({ linger: 0 });
    try {
      sub.connect(`tcp://${conn.ip}:${conn.iopub_port}`);
      sub.subscribe();
      const first = parseMessage(await sub.receive(), s.k.client.signer);
      assert.equal(first.header.msg_type, "iopub_welcome");
      assert.deepEqual(first.content, { subscription: "" });
      assert.deepEqual(first.parent_header, {});
    } finally {
      sub.close();
    }
  });

  it("answers connect_request with the bound ports", async () => {
    const c = s.k.client;
    const r = await c.request("shell", "connect_request", {});
    assert.equal(r.reply.content.shell_port, s.k.kernel.connection.shell_port);
    assert.equal(r.reply.content.hb_port, s.k.kernel.connection.hb_port);
  });

  it("restarts in place on shutdown_request{restart:true}: new session, fresh executor, count from 1", async () => {
    const c = s.k.client;
    await c.execute("set x 1");
    await c.execute("1 + 1");
    const oldSession = s.k.kernel.session;
    const r = await c.request("control", "shutdown_request", { restart: true });
    assert.equal(r.reply.header.msg_type, "shutdown_reply");
    assert.deepEqual(r.reply.content, { status: "ok", restart: true });
    await c.waitFor(() => (s.executors.length === 2 ? true : undefined), "a new executor");
    assert.ok(s.executors[0].disposed);
    assert.ok(s.languages[0].disposed);
    const after = await c.execute("get x");
    assert.notEqual(after.reply.header.session, oldSession);
    assert.equal(after.reply.header.session, s.k.kernel.session);
    assert.equal(after.reply.content.execution_count, 1);
    assert.equal(
      (outputsOf(after.iopub, "execute_result")[0].content.data as Record<string, unknown>)[
        "text/plain"
      ],
      "undefined",
    );
    const hist = await c.request("shell", "history_request", { hist_access_type: "tail", n: 3 });
    const sessions = (hist.reply.content.history as [number, number, string][]).map((e) => e[0]);
    assert.deepEqual(sessions, [1, 1, 2]);
  });

  it("a restart during a running cell ends that cell with an error reply", async () => {
    const c = s.k.client;
    const h = c.sendExecute("loop");
    await c.waitFor(
      () => c.iopubFor(h.msg_id).find((m) => m.header.msg_type === "execute_input"),
      "the loop",
    );
    await c.request("control", "shutdown_request", { restart: true });
    const reply = await c.reply(h.msg_id);
    assert.equal(reply.content.status, "error");
    assert.equal((await c.execute("1 + 1")).reply.content.status, "ok");
  });

  it("shuts down on shutdown_request{restart:false}: reply, then closed", async () => {
    const c = s.k.client;
    const r = await c.request("control", "shutdown_request", { restart: false });
    assert.deepEqual(r.reply.content, { status: "ok", restart: false });
    await s.k.kernel.closed;
    assert.ok(s.executors[0].disposed);
  });
});
