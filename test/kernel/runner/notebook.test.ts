import { strict as assert } from "node:assert";
import type { Message } from "../../../kernel/runner/client.js";
import {
  DisplayRegistry,
  NotebookError,
  OutputCollector,
  parseNotebook,
} from "../../../kernel/runner/notebook.js";

function msg(msg_type: string, content: Record<string, unknown>): Message {
  return {
    header: { msg_id: "m", session: "s", username: "u", date: "", msg_type, version: "5.3" },
    parent_header: { msg_id: "p" },
    metadata: {},
    content,
    buffers: [],
  };
}

describe("runner: notebook parsing", () => {
  it("rejects invalid JSON, non-notebooks and other nbformat versions with clear errors", () => {
    assert.throws(
      () => parseNotebook("{oops", "a.ipynb"),
      (e: Error) => e instanceof NotebookError && /a\.ipynb is not valid JSON/.test(e.message),
    );
    assert.throws(() => parseNotebook("[1]", "a.ipynb"), /not a notebook: expected a JSON object/);
    assert.throws(
      () => parseNotebook('{"x":1}', "a.ipynb"),
      /not a notebook: it has no "nbformat" and "cells"/,
    );
    assert.throws(
      () => parseNotebook('{"nbformat":3,"cells":[]}', "a.ipynb"),
      /nbformat 3; only nbformat 4/,
    );
    assert.throws(
      () => parseNotebook('{"nbformat":4,"cells":[{"cell_type":"weird","source":""}]}', "a.ipynb"),
      /cell 1 has an unknown cell_type "weird"/,
    );
    assert.throws(
      () => parseNotebook('{"nbformat":4,"cells":[{"cell_type":"code"}]}', "a.ipynb"),
      /cell 1 has no text "source"/,
    );
  });

  it("fills in missing optional fields", () => {
    const nb = parseNotebook(
      '{"nbformat":4,"cells":[{"cell_type":"code","source":["a"]}]}',
      "a.ipynb",
    );
    assert.deepEqual(nb.cells[0], {
      cell_type: "code",
      source: ["a"],
      metadata: {},
      outputs: [],
      execution_count: null,
    });
    assert.deepEqual(nb.metadata, {});
  });
});

describe("runner: output collection", () => {
  it("merges consecutive stream output of the same name only", () => {
    const c = new OutputCollector(new DisplayRegistry());
    c.handle(msg("stream", { name: "stdout", text: "a" }));
    c.handle(msg("stream", { name: "stdout", text: "b\n" }));
    c.handle(msg("stream", { name: "stderr", text: "e" }));
    c.handle(msg("stream", { name: "stdout", text: "c" }));
    assert.deepEqual(c.outputs, [
      { output_type: "stream", name: "stdout", text: "ab\n" },
      { output_type: "stream", name: "stderr", text: "e" },
      { output_type: "stream", name: "stdout", text: "c" },
    ]);
  });

  it("records execute_result with its count, and errors", () => {
    const c = new OutputCollector(new DisplayRegistry());
    c.handle(msg("execute_input", { code: "x", execution_count: 7 }));
    c.handle(
      msg("execute_result", { execution_count: 7, data: { "text/plain": "2" }, metadata: {} }),
    );
    c.handle(msg("error", { ename: "E", evalue: "v", traceback: ["t"] }));
    assert.equal(c.executionCount, 7);
    assert.deepEqual(c.outputs, [
      {
        output_type: "execute_result",
        execution_count: 7,
        data: { "text/plain": "2" },
        metadata: {},
      },
      { output_type: "error", ename: "E", evalue: "v", traceback: ["t"] },
    ]);
  });

  it("clears at once, or at the next output when wait is true", () => {
    const c = new OutputCollector(new DisplayRegistry());
    c.handle(msg("stream", { name: "stdout", text: "1" }));
    c.handle(msg("clear_output", { wait: false }));
    assert.equal(c.outputs.length, 0);
    c.handle(msg("stream", { name: "stdout", text: "2" }));
    c.handle(msg("clear_output", { wait: true }));
    assert.equal(c.outputs.length, 1, "wait keeps the old output until new output arrives");
    c.handle(msg("stream", { name: "stdout", text: "3" }));
    assert.deepEqual(c.outputs, [{ output_type: "stream", name: "stdout", text: "3" }]);
  });

  it("updates earlier displays (in other cells too) by display_id", () => {
    const reg = new DisplayRegistry();
    const first = new OutputCollector(reg);
    first.handle(
      msg("display_data", {
        data: { "text/plain": "old" },
        metadata: {},
        transient: { display_id: "d1" },
      }),
    );
    first.handle(
      msg("display_data", { data: { "text/plain": "other" }, metadata: {}, transient: {} }),
    );
    const second = new OutputCollector(reg);
    second.handle(
      msg("update_display_data", {
        data: { "text/plain": "new" },
        metadata: { m: 1 },
        transient: { display_id: "d1" },
      }),
    );
    assert.deepEqual(first.outputs[0], {
      output_type: "display_data",
      data: { "text/plain": "new" },
      metadata: { m: 1 },
    });
    assert.deepEqual(first.outputs[1], {
      output_type: "display_data",
      data: { "text/plain": "other" },
      metadata: {},
    });
    assert.equal(second.outputs.length, 0, "an update adds no output of its own");
  });
});
