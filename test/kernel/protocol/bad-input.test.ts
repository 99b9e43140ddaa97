/**
 * Bad input at the wire level: every case is dropped and logged, or answered with a clear error,
 * and the kernel keeps serving afterwards with its state intact.
 */
import { strict as assert } from "node:assert";
import {
  InProcessKernel,
  KernelClient,
  outputsOf,
  startInProcessKernel,
  streamText,
} from "../../helpers/client.js";
import { makeHeader, serializeMessage } from "../../../kernel/wire/framing.js";
import { DELIMITER, Header } from "../../../kernel/wire/messages.js";
import { FakeExecutor, FakeLanguage } from "./fakes.js";

function fakes(): {
  createExecutor: () => Promise<FakeExecutor>;
  createLanguage: () => FakeLanguage;
} {
  return {
    createExecutor: async () => new FakeExecutor(),
    createLanguage: () => new FakeLanguage(),
  };
}

/** Frames for a message, signed with the client's key unless told otherwise. */
function frames(
  c: KernelClient,
  type: string,
  content: unknown,
  header: Partial<Header> = {},
): { header: Header; frames: Buffer[] } {
  const h = { ...makeHeader(type, c.session, "test"), ...header };
  return {
    header: h,
    frames: serializeMessage(
      { identities: [], header: h, parent_header: {}, metadata: {}, content },
      c.signer,
    ),
  };
}

/** Proves the kernel still serves (and, because shell is served in order, that nothing earlier is pending). */
async function stillServing(c: KernelClient): Promise<void> {
  await c.execute("set alive yes");
  const r = await c.execute("get alive");
  assert.equal(
    (outputsOf(r.iopub, "execute_result")[0].content.data as Record<string, string>)["text/plain"],
    "yes",
  );
  assert.ok(await c.heartbeat());
}

function noReplyTo(c: KernelClient, msgId: string): void {
  assert.equal(
    c.replies.filter((r) => (r.parent_header as Header).msg_id === msgId).length,
    0,
    `no reply to ${msgId}`,
  );
}

describe("protocol: bad input over the wire", function () {
  let k: InProcessKernel;
  let c: KernelClient;
  beforeEach(async () => {
    k = await startInProcessKernel(fakes());
    c = k.client;
    await c.execute("set before kept");
  });
  afterEach(async () => {
    const r = await c.execute("get before");
    assert.equal(
      (outputsOf(r.iopub, "execute_result")[0].content.data as Record<string, string>)[
        "text/plain"
      ],
      "kept",
      "no earlier state is lost",
    );
    await k.close();
  });

  it("drops a message with a bad HMAC and logs it", async () => {
    const m = frames(c, "kernel_info_request", {});
    m.frames[1] = Buffer.from("f".repeat(64));
    c.sendFrames("shell", m.frames);
    await stillServing(c);
    noReplyTo(c, m.header.msg_id);
    assert.match(k.logs.join("\n"), /dropped a message on shell: bad HMAC signature/);
  });

  it("drops an unsigned message when the kernel has a key", async () => {
    const m = frames(c, "kernel_info_request", {});
    m.frames[1] = Buffer.alloc(0);
    c.sendFrames("control", m.frames);
    await stillServing(c);
    noReplyTo(c, m.header.msg_id);
    assert.match(k.logs.join("\n"), /dropped a message on control: unsigned message/);
  });

  it("rejects a replayed signature (the same frames sent twice)", async () => {
    const m = frames(c, "execute_request", { code: "print once", silent: false });
    c.sendFrames("shell", m.frames);
    c.sendFrames("shell", m.frames);
    await stillServing(c);
    assert.equal(
      c.replies.filter((r) => (r.parent_header as Header).msg_id === m.header.msg_id).length,
      1,
    );
    assert.equal(streamText(c.iopubFor(m.header.msg_id), "stdout"), "once\n");
    assert.match(k.logs.join("\n"), /replayed signature/);
  });

  for (const channel of ["shell", "control"] as const)
    it(`a header that cannot be echoed back (nested 200k deep) does not stop ${channel}`, async () => {
      const h = makeHeader("kernel_info_request", c.session, "test");
      const deep = "[".repeat(200_000) + "]".repeat(200_000);
      const header = JSON.stringify(h).replace(/}$/, `,"x":${deep}}`);
      const dicts = [header, "{}", "{}", "{}"].map((x) => Buffer.from(x));
      c.sendFrames(channel, [Buffer.from(DELIMITER), Buffer.from(c.signer.sign(dicts)), ...dicts]);
      await stillServing(c);
      const info = await c.request(channel, "kernel_info_request", {});
      assert.equal(info.reply.content.status, "ok");
    });

  it("drops frames without the delimiter, and messages with missing frames", async () => {
    c.sendFrames("shell", [Buffer.from("just garbage")]);
    const m = frames(c, "kernel_info_request", {});
    c.sendFrames("shell", m.frames.slice(0, 3));
    c.sendFrames("control", [Buffer.from(DELIMITER)]);
    await stillServing(c);
    noReplyTo(c, m.header.msg_id);
    const log = k.logs.join("\n");
    assert.match(log, /no "<IDS\|MSG>" delimiter/);
    assert.match(log, /missing frames: .* got 2 frame\(s\)/);
    assert.match(log, /missing frames: .* got 0 frame\(s\)/);
  });

  it("answers signed but malformed JSON content with a MalformedMessage error; drops an unreadable header", async () => {
    const h = makeHeader("complete_request", c.session, "test");
    const dicts = [JSON.stringify(h), "{}", "{}", '{"code": "Math.a", '].map((s) => Buffer.from(s));
    c.sendFrames("shell", [Buffer.from(DELIMITER), Buffer.from(c.signer.sign(dicts)), ...dicts]);
    const reply = await c.reply(h.msg_id);
    assert.equal(reply.header.msg_type, "complete_reply");
    assert.equal(reply.content.status, "error");
    assert.equal(reply.content.ename, "MalformedMessage");
    assert.match(String(reply.content.evalue), /malformed JSON in content/);
    const bad = ["{nope", "{}", "{}", "{}"].map((s) => Buffer.from(s));
    c.sendFrames("shell", [Buffer.from(DELIMITER), Buffer.from(c.signer.sign(bad)), ...bad]);
    await stillServing(c);
    assert.match(k.logs.join("\n"), /malformed JSON in header/);
  });

  it("answers a request with wrong-typed fields with an error naming the field", async () => {
    const r = await c.request("shell", "execute_request", { code: 42 });
    assert.equal(r.reply.content.status, "error");
    assert.match(String(r.reply.content.evalue), /execute_request: content.code must be a string/);
    const i = await c.request("shell", "inspect_request", { code: "Math", cursor_pos: -3 });
    assert.match(String(i.reply.content.evalue), /cursor_pos must be a non-negative integer/);
    await c.iopubUntilIdle(c.send("shell", "comm_msg", { data: {} }).msg_id);
    assert.match(k.logs.join("\n"), /comm_msg: content.comm_id must be a string/);
    await stillServing(c);
  });

  it("serves a client with another session id, answering with the kernel's own session", async () => {
    const r = await c.request(
      "shell",
      "kernel_info_request",
      {},
      { header: { session: "somebody-else" } },
    );
    assert.equal((r.reply.parent_header as Header).session, "somebody-else");
    assert.equal(r.reply.header.session, k.kernel.session);
    await stillServing(c);
  });

  it("handles huge messages", async () => {
    const big = "x".repeat(16 * 1024 * 1024);
    const r = await c.request("shell", "is_complete_request", { code: big }, { timeoutMs: 30000 });
    assert.equal(r.reply.content.status, "complete");
    const e = await c.execute(`print ${big.slice(0, 4 * 1024 * 1024)}`, { timeoutMs: 30000 });
    assert.equal(streamText(e.iopub, "stdout").length, 4 * 1024 * 1024 + 1);
    await stillServing(c);
  }).timeout(60000);

  it("keeps 0..n identity frames: replies carry the extra routing frames back", async () => {
    const m = frames(c, "kernel_info_request", {});
    const extra = Buffer.from([0, 1, 2, 255]);
    c.sendFrames("shell", [extra, Buffer.from("second"), ...m.frames]);
    const reply = await c.reply(m.header.msg_id);
    assert.deepEqual(reply.identities, [extra, Buffer.from("second")]);
    await stillServing(c);
  });

  it("drops stray messages on stdin", async () => {
    c.send("stdin", "input_reply", { value: "nobody asked" });
    c.send("stdin", "execute_request", { code: "1" });
    await stillServing(c);
    const log = k.logs.join("\n");
    assert.match(log, /dropped an input_reply that answers no pending input_request/);
    assert.match(log, /dropped execute_request on stdin/);
  });

  it("an executor that failed to start gives error replies, not a dead kernel", async () => {
    const broken = await startInProcessKernel({
      createExecutor: () => Promise.reject(new Error("worker exploded")),
      createLanguage: () => {
        throw new Error("no typescript");
      },
    });
    try {
      const r = await broken.client.execute("1 + 1");
      assert.equal(r.reply.content.status, "error");
      assert.match(String(r.reply.content.evalue), /executor is not available: worker exploded/);
      const comp = await broken.client.request("shell", "complete_request", {
        code: "a",
        cursor_pos: 1,
      });
      assert.equal(comp.reply.content.status, "error");
      assert.match(String(comp.reply.content.evalue), /language service is not available/);
      const info = await broken.client.request("shell", "kernel_info_request", {});
      assert.equal(info.reply.content.status, "ok");
      assert.match(broken.logs.join("\n"), /the executor failed to start/);
    } finally {
      await broken.close();
    }
  });
});

describe("protocol: a stuck language service", function () {
  it("answers with an error after the bound and keeps executing", async () => {
    const k = await startInProcessKernel({ ...fakes(), languageTimeoutMs: 200 });
    try {
      const r = await k.client.request("shell", "is_complete_request", { code: "hang" });
      assert.equal(r.reply.content.status, "error");
      assert.match(String(r.reply.content.evalue), /did not answer is_complete within 200 ms/);
      assert.equal((await k.client.execute("1 + 1")).reply.content.status, "ok");
    } finally {
      await k.close();
    }
  });
});

describe("protocol: a kernel with an empty key", function () {
  it("neither signs nor checks, and says so in its log", async () => {
    const k = await startInProcessKernel({ ...fakes(), key: "" });
    try {
      const r = await k.client.execute("1 + 1");
      assert.equal(r.reply.content.status, "ok");
      assert.equal(k.client.signer.enabled, false);
      assert.match(k.logs.join("\n"), /empty key/);
    } finally {
      await k.close();
    }
  });
});
