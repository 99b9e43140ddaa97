import { strict as assert } from "node:assert";
import { Stdin } from "../../../kernel/protocol/stdin.js";
import { OutgoingMessage, makeHeader } from "../../../kernel/wire/framing.js";
import type { Header, InputReply, Message, ParentHeader } from "../../../kernel/wire/messages.js";

interface Setup {
  stdin: Stdin;
  sent: { msg: OutgoingMessage; onError: (e: Error) => void }[];
  logs: string[];
  session: { id: string };
}

function setup(): Setup {
  const s: Omit<Setup, "stdin"> = { sent: [], logs: [], session: { id: "kernel-session-1" } };
  const stdin = new Stdin({
    send: (msg, onError) => s.sent.push({ msg, onError }),
    session: () => s.session.id,
    log: (line) => s.logs.push(line),
  });
  return { stdin, ...s };
}

/** The execute_request whose cell asks for input. */
function executeRequest(): Message {
  return {
    identities: [Buffer.from("router-id"), Buffer.from("client-a")],
    header: makeHeader("execute_request", "client-session"),
    parent_header: {},
    metadata: {},
    content: { code: "input()" },
    buffers: [],
  };
}

function stdinMessage(
  parent: ParentHeader,
  content: Record<string, unknown>,
  type = "input_reply",
): Message {
  return {
    identities: [Buffer.from("client-a")],
    header: makeHeader(type, "client-session"),
    parent_header: parent,
    metadata: {},
    content,
    buffers: [],
  };
}

function inputReply(parent: ParentHeader, value: string): Message {
  const content: InputReply = { value };
  return stdinMessage(parent, { ...content });
}

/** "pending", or how the promise settled (after every queued callback ran). */
async function state(p: Promise<string>): Promise<string> {
  const pending = new Promise<string>((r) => setImmediate(() => r("pending")));
  return Promise.race([
    p.then(
      (v) => `resolved: ${v}`,
      (e: Error) => `rejected: ${e.message}`,
    ),
    pending,
  ]);
}

describe("protocol/stdin", () => {
  it("sends input_request to the shell request's identities and resolves with the reply's value", async () => {
    const s = setup();
    const req = executeRequest();
    const answer = s.stdin.request(req, "name?", false, true);
    assert.equal(s.sent.length, 1);
    const { msg } = s.sent[0];
    assert.deepEqual(msg.identities, req.identities);
    assert.equal(msg.header.msg_type, "input_request");
    assert.equal(msg.header.session, "kernel-session-1", "the kernel's session, not the client's");
    assert.equal(msg.parent_header, req.header);
    assert.deepEqual(msg.metadata, {});
    assert.deepEqual(msg.content, { prompt: "name?", password: false });
    assert.equal(await state(answer), "pending");
    s.stdin.receive(inputReply(msg.header, "Ada"));
    assert.equal(await state(answer), "resolved: Ada");
  });

  it("marks password prompts and uses the session current at the time of the request", async () => {
    const s = setup();
    s.session.id = "kernel-session-2";
    const answer = s.stdin.request(executeRequest(), "secret:", true, true);
    const { msg } = s.sent[0];
    assert.equal(msg.header.session, "kernel-session-2");
    assert.deepEqual(msg.content, { prompt: "secret:", password: true });
    s.stdin.receive(inputReply(msg.header, "hunter2"));
    assert.equal(await state(answer), "resolved: hunter2");
  });

  it("fails at once, sending nothing, when the request had allow_stdin false", async () => {
    const s = setup();
    const answer = s.stdin.request(executeRequest(), "name?", false, false);
    assert.equal(
      await state(answer),
      "rejected: input is not available: this frontend does not support stdin (allow_stdin is false)",
    );
    assert.equal(s.sent.length, 0);
  });

  it("lets one request wait at a time; a second fails and the first keeps waiting", async () => {
    const s = setup();
    const first = s.stdin.request(executeRequest(), "a?", false, true);
    const second = s.stdin.request(executeRequest(), "b?", false, true);
    assert.equal(
      await state(second),
      "rejected: another input request is already waiting for an answer",
    );
    assert.equal(s.sent.length, 1);
    s.stdin.receive(inputReply(s.sent[0].msg.header, "1"));
    assert.equal(await state(first), "resolved: 1");
  });

  it("drops an input_reply to another input_request; the request keeps waiting for its own", async () => {
    const s = setup();
    const answer = s.stdin.request(executeRequest(), "name?", false, true);
    const stale: Header = makeHeader("input_request", "kernel-session-0");
    s.stdin.receive(inputReply(stale, "wrong"));
    assert.equal(await state(answer), "pending");
    assert.deepEqual(s.logs, ["dropped an input_reply that answers no pending input_request"]);
    s.stdin.receive(inputReply(s.sent[0].msg.header, "right"));
    assert.equal(await state(answer), "resolved: right");
  });

  it("takes an input_reply without a parent msg_id as the answer to the waiting request", async () => {
    const s = setup();
    const answer = s.stdin.request(executeRequest(), "name?", false, true);
    s.stdin.receive(inputReply({}, "no parent"));
    assert.equal(await state(answer), "resolved: no parent");
  });

  it("drops an input_reply when nothing waits, and any other message type on stdin", async () => {
    const s = setup();
    s.stdin.receive(inputReply({}, "unasked"));
    const answer = s.stdin.request(executeRequest(), "name?", false, true);
    s.stdin.receive(stdinMessage(s.sent[0].msg.header, { value: "x" }, "input_request"));
    assert.equal(await state(answer), "pending");
    assert.deepEqual(s.logs, [
      "dropped an input_reply that answers no pending input_request",
      "dropped input_request on stdin (only input_reply is expected there)",
    ]);
  });

  it("turns a value that is not a string into one, and an absent value into ''", async () => {
    for (const [content, expected] of [
      [{ value: 42 }, "42"],
      [{ value: null }, ""],
      [{}, ""],
    ] as const) {
      const s = setup();
      const answer = s.stdin.request(executeRequest(), "n?", false, true);
      s.stdin.receive(stdinMessage(s.sent[0].msg.header, { ...content }));
      assert.equal(await state(answer), `resolved: ${expected}`);
    }
  });

  it("cancel() rejects the waiting request with the reason; a late reply is dropped", async () => {
    const s = setup();
    s.stdin.cancel("nothing waits");
    const answer = s.stdin.request(executeRequest(), "name?", false, true);
    s.stdin.cancel("interrupted");
    assert.equal(await state(answer), "rejected: input cancelled: interrupted");
    s.stdin.receive(inputReply(s.sent[0].msg.header, "late"));
    assert.deepEqual(s.logs, ["dropped an input_reply that answers no pending input_request"]);
    const next = s.stdin.request(executeRequest(), "again?", false, true);
    s.stdin.receive(inputReply(s.sent[1].msg.header, "yes"));
    assert.equal(await state(next), "resolved: yes");
  });

  it("a failed send cancels its own request only, naming the missing stdin peer", async () => {
    const s = setup();
    const first = s.stdin.request(executeRequest(), "a?", false, true);
    s.stdin.cancel("the cell ended");
    assert.equal(await state(first), "rejected: input cancelled: the cell ended");
    const second = s.stdin.request(executeRequest(), "b?", false, true);
    s.sent[0].onError(new Error("host unreachable"));
    assert.equal(await state(second), "pending", "the first request's failure is not the second's");
    s.sent[1].onError(new Error("host unreachable"));
    assert.equal(
      await state(second),
      "rejected: input cancelled: no frontend is connected to stdin (host unreachable)",
    );
  });
});
