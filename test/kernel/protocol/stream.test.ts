import { strict as assert } from "node:assert";
import { setTimeout as sleep } from "node:timers/promises";
import {
  STREAM_FLUSH_CHARS,
  STREAM_FLUSH_MS,
  StreamBatcher,
} from "../../../kernel/protocol/stream.js";
import { makeHeader } from "../../../kernel/wire/framing.js";
import type { ParentHeader, Stream } from "../../../kernel/wire/messages.js";

interface Sent {
  name: string;
  text: string;
  parent: ParentHeader;
}

function batcher(options?: { flushMs?: number; flushChars?: number }): {
  b: StreamBatcher;
  sent: Sent[];
} {
  const sent: Sent[] = [];
  const b = new StreamBatcher(
    (content: Stream, parent) => sent.push({ ...content, parent }),
    options,
  );
  return { b, sent };
}

describe("protocol/stream", () => {
  const cell = makeHeader("execute_request", "s");
  const other = makeHeader("execute_request", "s");

  it("joins consecutive text of one stream and parent into one message after the delay", async () => {
    const { b, sent } = batcher();
    b.write({ name: "stdout", text: "a\n" }, cell);
    b.write({ name: "stdout", text: "b\n" }, cell);
    b.write({ name: "stdout", text: "c\n" }, cell);
    assert.equal(sent.length, 0, "nothing goes out before the delay");
    await sleep(STREAM_FLUSH_MS * 3);
    assert.deepEqual(sent, [{ name: "stdout", text: "a\nb\nc\n", parent: cell }]);
  });

  it("publishes within the delay of the first write: later writes do not postpone it", async () => {
    const { b, sent } = batcher({ flushMs: 50 });
    b.write({ name: "stdout", text: "a" }, cell);
    await sleep(30);
    b.write({ name: "stdout", text: "b" }, cell);
    await sleep(30);
    assert.deepEqual(sent, [{ name: "stdout", text: "ab", parent: cell }]);
  });

  it("another stream name sends the pending text first, keeping the order", async () => {
    const { b, sent } = batcher();
    b.write({ name: "stdout", text: "out" }, cell);
    b.write({ name: "stderr", text: "err" }, cell);
    assert.deepEqual(sent, [{ name: "stdout", text: "out", parent: cell }]);
    b.write({ name: "stdout", text: "again" }, cell);
    assert.equal(sent.length, 2);
    assert.deepEqual(sent[1], { name: "stderr", text: "err", parent: cell });
    await sleep(STREAM_FLUSH_MS * 3);
    assert.deepEqual(sent[2], { name: "stdout", text: "again", parent: cell });
    assert.equal(sent.length, 3);
  });

  it("another parent sends the pending text first: each cell keeps its own output", () => {
    const { b, sent } = batcher();
    b.write({ name: "stdout", text: "first" }, cell);
    // An equal-looking parent is still another message's: parents are compared as objects.
    b.write({ name: "stdout", text: "second" }, { ...cell });
    b.write({ name: "stdout", text: "third" }, other);
    b.flush();
    assert.deepEqual(
      sent.map((s) => s.text),
      ["first", "second", "third"],
    );
    assert.equal(sent[0].parent, cell);
    assert.equal(sent[2].parent, other);
  });

  it("sends at once when the joined text reaches the size limit", () => {
    const { b, sent } = batcher({ flushMs: 60_000 });
    b.write({ name: "stdout", text: "x".repeat(STREAM_FLUSH_CHARS - 1) }, cell);
    assert.equal(sent.length, 0);
    b.write({ name: "stdout", text: "y" }, cell);
    assert.equal(sent.length, 1);
    assert.equal(sent[0].text.length, STREAM_FLUSH_CHARS);
    b.write({ name: "stdout", text: "z".repeat(STREAM_FLUSH_CHARS + 5) }, cell);
    assert.equal(sent.length, 2, "one write over the limit goes out whole");
    assert.equal(sent[1].text.length, STREAM_FLUSH_CHARS + 5);
    b.flush();
    assert.equal(sent.length, 2, "nothing was left pending");
  });

  it("flush() sends the pending text now, once, and nothing when none is pending", async () => {
    const { b, sent } = batcher();
    b.flush();
    assert.equal(sent.length, 0);
    b.write({ name: "stderr", text: "now" }, cell);
    b.flush();
    assert.deepEqual(sent, [{ name: "stderr", text: "now", parent: cell }]);
    await sleep(STREAM_FLUSH_MS * 3);
    assert.equal(sent.length, 1, "the cancelled timer sends nothing more");
  });

  it("flush() cancels its timer: text written after it waits a full delay", async () => {
    const { b, sent } = batcher({ flushMs: 50 });
    b.write({ name: "stdout", text: "a" }, cell);
    await sleep(30);
    b.flush();
    b.write({ name: "stdout", text: "b" }, cell);
    await sleep(30);
    assert.deepEqual(
      sent.map((s) => s.text),
      ["a"],
    );
    await sleep(60);
    assert.deepEqual(
      sent.map((s) => s.text),
      ["a", "b"],
    );
  });
});
