import { strict as assert } from "node:assert";
import {
  WireError,
  makeHeader,
  parseMessage,
  serializeMessage,
} from "../../../kernel/wire/framing.js";
import { DELIMITER, PROTOCOL_VERSION } from "../../../kernel/wire/messages.js";
import { ReplayGuard, Signer } from "../../../kernel/wire/signing.js";

const signer = new Signer("k3y");

function build(identities: Buffer[], buffers: Buffer[] = []): Buffer[] {
  return serializeMessage(
    {
      identities,
      header: makeHeader("execute_request", "sess"),
      parent_header: {},
      metadata: { m: 1 },
      content: { code: "1 + 1" },
      buffers,
    },
    signer,
  );
}

describe("wire/framing", () => {
  for (const n of [0, 1, 3]) {
    it(`round-trips a message with ${n} identity frame(s)`, () => {
      const ids = Array.from({ length: n }, (_, i) => Buffer.from([0, 255, i, 0x3c]));
      const frames = build(ids);
      assert.equal(frames.length, n + 6);
      assert.equal(frames[n].toString(), DELIMITER);
      const msg = parseMessage(frames, signer);
      assert.deepEqual(msg.identities, ids);
      assert.equal(msg.header.msg_type, "execute_request");
      assert.deepEqual(msg.content, { code: "1 + 1" });
      assert.deepEqual(msg.metadata, { m: 1 });
      assert.deepEqual(msg.parent_header, {});
      assert.deepEqual(msg.buffers, []);
    });
  }

  it("carries binary buffers after the content, unsigned", () => {
    const bufs = [Buffer.from([1, 2, 3]), Buffer.alloc(0)];
    const frames = build([Buffer.from("id")], bufs);
    const msg = parseMessage(frames, signer);
    assert.deepEqual(msg.buffers, bufs);
    // Changing a buffer does not invalidate the signature.
    frames[frames.length - 2] = Buffer.from([9, 9]);
    assert.deepEqual(parseMessage(frames, signer).buffers[0], Buffer.from([9, 9]));
  });

  it("accepts Uint8Array buffers when serializing", () => {
    const frames = serializeMessage(
      {
        identities: [],
        header: makeHeader("comm_msg", "s"),
        parent_header: {},
        metadata: {},
        content: {},
        buffers: [new Uint8Array([7, 8])],
      },
      signer,
    );
    assert.deepEqual(parseMessage(frames, signer).buffers, [Buffer.from([7, 8])]);
  });

  it("makes headers with unique ids, ISO dates and the protocol version", () => {
    const a = makeHeader("status", "s");
    const b = makeHeader("status", "s");
    assert.notEqual(a.msg_id, b.msg_id);
    assert.equal(new Date(a.date).toISOString(), a.date);
    assert.equal(a.version, PROTOCOL_VERSION);
    assert.ok(Number(PROTOCOL_VERSION.split(".")[1]) >= 3);
  });

  const reject = (frames: Buffer[], re: RegExp, replay?: ReplayGuard): void => {
    assert.throws(
      () => parseMessage(frames, signer, replay),
      (e: unknown) => e instanceof WireError && re.test(e.message),
    );
  };

  it("rejects a message without the delimiter", () => {
    reject([Buffer.from("id"), Buffer.from("x")], /no "<IDS\|MSG>" delimiter/);
  });

  it("rejects missing frames", () => {
    const frames = build([]);
    reject(frames.slice(0, 4), /missing frames/);
  });

  it("rejects a bad or absent signature", () => {
    const frames = build([]);
    frames[1] = Buffer.from("0".repeat(64));
    reject(frames, /bad HMAC/);
    frames[1] = Buffer.alloc(0);
    reject(frames, /unsigned message/);
  });

  it("rejects a replayed signature", () => {
    const g = new ReplayGuard();
    const frames = build([]);
    parseMessage(frames, signer, g);
    reject(frames, /replayed signature/, g);
  });

  it("rejects malformed JSON and non-object dicts, keeping the header when readable", () => {
    const sign = (dicts: string[]): Buffer[] => {
      const d = dicts.map((s) => Buffer.from(s));
      return [Buffer.from(DELIMITER), Buffer.from(signer.sign(d)), ...d];
    };
    reject(sign(["{not json", "{}", "{}", "{}"]), /malformed JSON in header/);
    reject(sign(["[]", "{}", "{}", "{}"]), /header is not a JSON object/);
    reject(sign(['{"msg_id":"1"}', "{}", "{}", "{}"]), /header.msg_type is missing/);
    const h = JSON.stringify(makeHeader("complete_request", "s"));
    assert.throws(
      () => parseMessage(sign([h, "{}", "{}", "{oops"]), signer),
      (e: unknown) =>
        e instanceof WireError &&
        /malformed JSON in content/.test(e.message) &&
        e.header?.msg_type === "complete_request",
    );
    reject(sign([h, "{}", "{}", "42"]), /content is not a JSON object/);
  });

  it("accepts any message when the key is empty", () => {
    const open = new Signer("");
    const frames = serializeMessage(
      {
        identities: [],
        header: makeHeader("kernel_info_request", "s"),
        parent_header: {},
        metadata: {},
        content: {},
      },
      open,
    );
    assert.equal(frames[1].length, 0);
    assert.equal(parseMessage(frames, open).header.msg_type, "kernel_info_request");
  });
});
