import { strict as assert } from "node:assert";
import { kernelInfoReply } from "../../../kernel/protocol/kernel-info.js";
import { PROTOCOL_VERSION } from "../../../kernel/wire/messages.js";

describe("protocol/kernel-info", () => {
  it("describes moelab's TypeScript with the versions it is given and the protocol it speaks", () => {
    const info = kernelInfoReply("1.2.3", "5.9.3");
    assert.equal(info.status, "ok");
    assert.equal(info.protocol_version, PROTOCOL_VERSION);
    assert.equal(info.implementation, "moelab");
    assert.equal(info.implementation_version, "1.2.3");
    assert.deepEqual(info.language_info, {
      name: "typescript",
      version: "5.9.3",
      mimetype: "text/typescript",
      file_extension: ".ts",
      pygments_lexer: "typescript",
      codemirror_mode: "application/typescript",
      nbconvert_exporter: "script",
    });
    assert.match(info.banner, /^moelab 1\.2\.3: TypeScript 5\.9\.3 on Node v\d+/);
    assert.ok(info.help_links.length > 0);
    for (const link of info.help_links) assert.match(link.url, /^https:\/\//);
  });
});
