import { strict as assert } from "node:assert";
import * as ts from "typescript";
import { isCompleteCode } from "../../../kernel/language/is-complete.js";

describe("language/is-complete", () => {
  const status = (code: string): string => isCompleteCode(ts, code).status;

  it("calls finished statements complete", () => {
    for (const code of [
      "1 + 1",
      "const x = 1;",
      "function f() { return 1 }",
      "`a${`b${c}`}`",
      "const re = /[(]/; re",
      "a / b / c",
      "// only a comment",
      "",
      'import { a } from "b"',
      "if (x) { y() } else { z() }",
    ]) {
      assert.equal(status(code), "complete", code);
    }
  });

  it("calls open brackets, strings and trailing operators incomplete", () => {
    for (const code of [
      "if (x)",
      "if (x) {",
      "x +",
      "foo(1,",
      "let a = [1,\n2",
      "`abc ${x}",
      "`abc ${x} def",
      "`multi\nline",
      "/* comment",
      "x.",
      "class A",
      "() =>",
      "for (const a of b)",
      "type X = {",
      '"abc\\\n',
    ]) {
      assert.equal(status(code), "incomplete", code);
    }
  });

  it("suggests an indent that follows the nesting", () => {
    assert.equal(isCompleteCode(ts, "if (x) {").indent, "  ");
    assert.equal(isCompleteCode(ts, "function f() {\n  if (y) {").indent, "    ");
    assert.equal(isCompleteCode(ts, "if (x)").indent, "  ");
  });

  it("calls code that no continuation can fix invalid", () => {
    for (const code of [")", "}", "]", "1 2", "let = ;", '"abc', "foo())", "x = {]"]) {
      assert.equal(status(code), "invalid", code);
    }
  });
});
