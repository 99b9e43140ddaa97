import { strict as assert } from "node:assert";
import {
  codePointLength,
  codePointToUtf16,
  utf16ToCodePoint,
} from "../../../kernel/language/positions.js";

describe("language/positions", () => {
  const text = "a😀b𝔸c"; // two astral characters, each two UTF-16 units

  it("maps code points to UTF-16 offsets past astral characters", () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5].map((cp) => codePointToUtf16(text, cp)),
      [0, 1, 3, 4, 6, 7],
    );
  });

  it("maps UTF-16 offsets back to code points", () => {
    assert.deepEqual(
      [0, 1, 3, 4, 6, 7].map((u) => utf16ToCodePoint(text, u)),
      [0, 1, 2, 3, 4, 5],
    );
    assert.equal(codePointLength(text), 5);
  });

  it("clamps positions outside the text", () => {
    assert.equal(codePointToUtf16(text, 99), text.length);
    assert.equal(utf16ToCodePoint(text, 99), 5);
    assert.equal(utf16ToCodePoint(text, -3), 0);
  });

  it("counts a lone surrogate as one code point", () => {
    const broken = "x\ud83dy";
    assert.equal(codePointLength(broken), 3);
    assert.equal(codePointToUtf16(broken, 2), 2);
  });
});
