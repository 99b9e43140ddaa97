import { strict as assert } from "node:assert";
import { BadRequest, dict, int, isObject, str } from "../../../kernel/protocol/validate.js";

describe("protocol/validate", () => {
  it("str returns a string field and names the request and field otherwise", () => {
    assert.equal(str({ code: "1 + 1" }, "code", "execute_request"), "1 + 1");
    assert.equal(str({ code: "" }, "code", "execute_request"), "");
    for (const bad of [{}, { code: 1 }, { code: null }, { code: ["x"] }]) {
      assert.throws(
        () => str(bad, "code", "execute_request"),
        (e: unknown) =>
          e instanceof BadRequest && e.message === "execute_request: content.code must be a string",
      );
    }
  });

  it("int accepts only non-negative integers", () => {
    assert.equal(int({ cursor_pos: 0 }, "cursor_pos", "inspect_request"), 0);
    assert.equal(int({ cursor_pos: 7 }, "cursor_pos", "inspect_request"), 7);
    for (const v of [-1, 1.5, NaN, Infinity, "3", null, undefined, true]) {
      assert.throws(
        () => int({ cursor_pos: v }, "cursor_pos", "inspect_request"),
        (e: unknown) =>
          e instanceof BadRequest &&
          e.message === "inspect_request: content.cursor_pos must be a non-negative integer",
        `cursor_pos ${String(v)}`,
      );
    }
  });

  it("dict returns an object field, and {} for anything else rather than failing", () => {
    const data = { a: 1 };
    assert.equal(dict({ data }, "data"), data);
    for (const v of [undefined, null, [1], "x", 3]) assert.deepEqual(dict({ data: v }, "data"), {});
  });

  it("isObject is true only for non-null, non-array objects", () => {
    assert.ok(isObject({}));
    assert.ok(!isObject(null));
    assert.ok(!isObject([]));
    assert.ok(!isObject("x"));
  });
});
