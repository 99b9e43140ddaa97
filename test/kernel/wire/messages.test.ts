/**
 * The content maps are types: these tests are checked by the compiler (each @ts-expect-error
 * must stay an error) and only sanity-check values at run time.
 */
import { strict as assert } from "node:assert";
import type { IopubContent, ReplyContent } from "../../../kernel/wire/messages.js";

describe("wire/messages", () => {
  it("types each reply's content by its msg_type", () => {
    const ok: ReplyContent<"execute_reply"> = {
      status: "ok",
      execution_count: 1,
      payload: [],
      user_expressions: {},
    };
    const failed: ReplyContent<"execute_reply"> = {
      status: "error",
      execution_count: 1,
      ename: "TypeError",
      evalue: "x is not a function",
      traceback: [],
    };
    // @ts-expect-error: an ok execute_reply carries no ename
    const extra: ReplyContent<"execute_reply"> = { ...ok, ename: "TypeError" };
    // @ts-expect-error: an error execute_reply needs its execution_count
    const noCount: ReplyContent<"execute_reply"> = {
      status: "error",
      ename: "E",
      evalue: "",
      traceback: [],
    };
    // @ts-expect-error: complete_reply needs cursor_start, cursor_end and metadata
    const partial: ReplyContent<"complete_reply"> = { status: "ok", matches: [] };
    // @ts-expect-error: is_complete_reply's status is one of four words
    const word: ReplyContent<"is_complete_reply"> = { status: "ok" };
    // @ts-expect-error: not a reply the kernel sends
    const unknown: ReplyContent<"input_reply"> = { value: "" };
    assert.equal(ok.execution_count, failed.execution_count);
    assert.ok(extra && noCount && partial && word && unknown);
  });

  it("types each iopub message's content by its msg_type", () => {
    const stream: IopubContent<"stream"> = { name: "stdout", text: "hi\n" };
    const result: IopubContent<"execute_result"> = {
      execution_count: 1,
      data: { "text/plain": "2" },
      metadata: {},
      transient: {},
    };
    // @ts-expect-error: streams are stdout or stderr
    const stdin: IopubContent<"stream"> = { name: "stdin", text: "" };
    // @ts-expect-error: execute_result needs its execution_count
    const noCount: IopubContent<"execute_result"> = { data: {}, metadata: {}, transient: {} };
    // @ts-expect-error: comm_open names its target
    const noTarget: IopubContent<"comm_open"> = { comm_id: "c", data: {} };
    assert.equal(stream.name, "stdout");
    assert.equal(result.execution_count, 1);
    assert.ok(stdin && noCount && noTarget);
  });
});
