import { strict as assert } from "node:assert";
import { createHmac } from "node:crypto";
import { ReplayGuard, Signer } from "../../../kernel/wire/signing.js";

const frames = ['{"msg_id":"1"}', "{}", "{}", '{"code":"1+1"}'].map((s) => Buffer.from(s));

describe("wire/signing", () => {
  it("signs the four dict frames with HMAC-SHA256 in order", () => {
    const s = new Signer("secret");
    const h = createHmac("sha256", "secret");
    for (const f of frames) h.update(f);
    assert.equal(s.sign(frames), h.digest("hex"));
  });

  it("ignores frames past the fourth (buffers are not signed)", () => {
    const s = new Signer("secret");
    assert.equal(s.sign([...frames, Buffer.from("buffer")]), s.sign(frames));
  });

  it("verifies a good signature and rejects a changed frame, a changed signature and a wrong length", () => {
    const s = new Signer("secret");
    const sig = Buffer.from(s.sign(frames));
    assert.ok(s.verify(frames, sig));
    const changed = frames.slice();
    changed[3] = Buffer.from('{"code":"1+2"}');
    assert.ok(!s.verify(changed, sig));
    const flipped = Buffer.from(sig);
    flipped[0] = flipped[0] === 0x61 ? 0x62 : 0x61;
    assert.ok(!s.verify(frames, flipped));
    assert.ok(!s.verify(frames, sig.subarray(0, 10)));
    assert.ok(!s.verify(frames, Buffer.alloc(0)));
  });

  it("with an empty key signs with '' and accepts anything", () => {
    const s = new Signer("");
    assert.equal(s.enabled, false);
    assert.equal(s.sign(frames), "");
    assert.ok(s.verify(frames, Buffer.from("whatever")));
  });

  it("a signature made with another key does not verify", () => {
    const a = new Signer("key-a");
    const b = new Signer("key-b");
    assert.ok(!b.verify(frames, Buffer.from(a.sign(frames))));
  });

  it("rejects unsupported signature schemes with a clear error", () => {
    assert.throws(() => new Signer("k", "hmac-md5"), /unsupported signature_scheme "hmac-md5"/);
  });

  it("ReplayGuard rejects a signature seen before and stays bounded", () => {
    const g = new ReplayGuard(4);
    assert.ok(g.check("a"));
    assert.ok(!g.check("a"));
    assert.ok(g.check(""), "empty signatures (no key) are not tracked");
    assert.ok(g.check(""));
    for (const s of ["b", "c", "d", "e", "f"]) assert.ok(g.check(s));
    assert.ok(g.size <= 4);
    assert.ok(!g.check("f"));
  });
});
