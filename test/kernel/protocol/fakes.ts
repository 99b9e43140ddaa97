/**
 * Fake Executor and Language for protocol tests. The fake executor runs a tiny command language,
 * one command per line:
 *   print TEXT | eprint TEXT | display TEXT | update ID TEXT | clear | set NAME VALUE | get NAME
 *   throw NAME MESSAGE | syntax | sleep MS | loop (until interrupted) | input PROMPT
 *   password PROMPT | later TEXT (stdout 30 ms after the cell) | comm_open TARGET ID
 *   an arithmetic expression (its value becomes the result)
 */
import type {
  CompleteResult,
  Diagnostic,
  ExecuteOptions,
  ExecuteOutcome,
  Executor,
  ExecutorEvent,
  InspectResult,
  IsCompleteResult,
  Language,
} from "../../../kernel/contracts.js";

export class FakeExecutor implements Executor {
  vars = new Map<string, string>();
  comms = new Map<string, string>();
  /** Comm traffic received from the frontend, for assertions. */
  received: { kind: string; commId: string; data: Record<string, unknown>; buffers: number }[] = [];
  disposed = false;
  interrupts = 0;
  private stop: (() => void) | null = null;
  private background: ((e: ExecutorEvent) => void)[] = [];
  private running = false;

  async execute(code: string, o: ExecuteOptions): Promise<ExecuteOutcome> {
    this.running = true;
    try {
      return await this.run(code, o);
    } finally {
      this.running = false;
    }
  }

  private async run(code: string, o: ExecuteOptions): Promise<ExecuteOutcome> {
    let result: ExecuteOutcome = { status: "ok" };
    // Arithmetic over several lines (a parenthesised user expression) is one value.
    if (code.includes("\n") && /^[\d\s+\-*/().]+$/.test(code)) code = code.replace(/\s+/g, " ");
    for (const line of code.split("\n")) {
      const [cmd, ...rest] = line.trim().split(" ");
      const arg = rest.join(" ");
      switch (cmd) {
        case "":
          break;
        case "print":
        case "eprint":
          o.onEvent({
            type: "stream",
            name: cmd === "print" ? "stdout" : "stderr",
            text: arg + "\n",
          });
          break;
        case "display":
          o.onEvent({
            type: "display_data",
            data: { "text/plain": arg },
            metadata: {},
            transient: {},
          });
          break;
        case "update": {
          const [id, ...text] = rest;
          o.onEvent({
            type: "update_display_data",
            data: { "text/plain": text.join(" ") },
            metadata: {},
            transient: { display_id: id },
          });
          break;
        }
        case "clear":
          o.onEvent({ type: "clear_output", wait: false });
          break;
        case "set":
          this.vars.set(rest[0], rest.slice(1).join(" "));
          break;
        case "get":
          result = {
            status: "ok",
            result: { data: { "text/plain": this.vars.get(arg) ?? "undefined" }, metadata: {} },
          };
          break;
        case "throw":
          return {
            status: "error",
            ename: rest[0],
            evalue: rest.slice(1).join(" "),
            traceback: [`${rest[0]}: ${rest.slice(1).join(" ")}`, "    at cell:1"],
          };
        case "syntax":
          return {
            status: "error",
            ename: "SyntaxError",
            evalue: "Unexpected token",
            traceback: ["SyntaxError: Unexpected token"],
          };
        case "sleep":
          await new Promise((r) => setTimeout(r, Number(arg)));
          break;
        case "loop": {
          const stopped = await new Promise<boolean>((resolve) => {
            this.stop = () => resolve(true);
          });
          this.stop = null;
          if (stopped)
            return {
              status: "interrupted",
              ename: "Interrupted",
              evalue: "the cell was interrupted",
              traceback: ["Interrupted"],
            };
          break;
        }
        case "input":
        case "password":
          try {
            const value = await o.requestInput(arg, cmd === "password");
            o.onEvent({ type: "stream", name: "stdout", text: `got: ${value}\n` });
          } catch (e) {
            return {
              status: "error",
              ename: "InputError",
              evalue: (e as Error).message,
              traceback: [],
            };
          }
          break;
        case "later":
          setTimeout(
            () => this.emitBackground({ type: "stream", name: "stdout", text: arg + "\n" }),
            30,
          );
          break;
        case "comm_open":
          this.comms.set(rest[1], rest[0]);
          o.onEvent({
            type: "comm_open",
            comm_id: rest[1],
            target_name: rest[0],
            data: { hello: 1 },
            metadata: {},
            buffers: [],
          });
          break;
        case "count":
          result = {
            status: "ok",
            result: { data: { "text/plain": String(o.executionCount) }, metadata: {} },
          };
          break;
        default:
          if (/^[\d\s+\-*/().]+$/.test(line)) {
            const value = Function(`"use strict"; return (${line});`)() as number;
            result = {
              status: "ok",
              result: { data: { "text/plain": String(value) }, metadata: {} },
            };
          } else
            return {
              status: "error",
              ename: "ReferenceError",
              evalue: `${cmd} is not defined`,
              traceback: [],
            };
      }
    }
    return result;
  }

  /** Output produced while no cell runs (a timer a finished cell left behind). */
  emitBackground(e: ExecutorEvent): void {
    for (const l of this.background) l(e);
  }

  async interrupt(): Promise<void> {
    this.interrupts++;
    if (this.running) this.stop?.();
  }

  onBackgroundEvent(listener: (event: ExecutorEvent) => void): void {
    this.background.push(listener);
  }

  async commOpen(
    commId: string,
    target: string,
    data: Record<string, unknown>,
    _m: Record<string, unknown>,
    buffers: Uint8Array[],
  ): Promise<boolean> {
    this.received.push({ kind: "open", commId, data, buffers: buffers.length });
    if (target !== "echo") return false;
    this.comms.set(commId, target);
    return true;
  }

  async commMsg(
    commId: string,
    data: Record<string, unknown>,
    _m: Record<string, unknown>,
    buffers: Uint8Array[],
  ): Promise<void> {
    this.received.push({ kind: "msg", commId, data, buffers: buffers.length });
    if (this.comms.get(commId) === "echo") {
      // Echo back with the same buffers, as a widget model would.
      this.emitBackground({
        type: "comm_msg",
        comm_id: commId,
        data: { echo: data },
        metadata: {},
        buffers,
      });
      this.emitBackground({ type: "stream", name: "stdout", text: "comm handled\n" });
    }
  }

  async commClose(commId: string, data: Record<string, unknown>): Promise<void> {
    this.received.push({ kind: "close", commId, data, buffers: 0 });
    this.comms.delete(commId);
  }

  async commInfo(targetName?: string): Promise<Record<string, { target_name: string }>> {
    const out: Record<string, { target_name: string }> = {};
    for (const [id, t] of this.comms)
      if (!targetName || t === targetName) out[id] = { target_name: t };
    return out;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    this.stop?.();
  }
}

export class FakeLanguage implements Language {
  recorded: string[] = [];
  disposed = false;
  /** Delay of check(), to test diagnostics that arrive after the cell ended. */
  checkDelayMs = 0;

  async complete(code: string, cursorPos: number): Promise<CompleteResult> {
    const before = [...code].slice(0, cursorPos).join("");
    const word = /[\w$]*$/.exec(before)?.[0] ?? "";
    const names = [
      "abs",
      "acos",
      "max",
      "min",
      ...this.recorded.flatMap((c) => /set (\w+)/.exec(c)?.slice(1) ?? []),
    ];
    return {
      matches: names.filter((n) => n.startsWith(word)),
      cursor_start: cursorPos - [...word].length,
      cursor_end: cursorPos,
      metadata: {},
    };
  }

  async inspect(code: string, cursorPos: number, detailLevel: 0 | 1): Promise<InspectResult> {
    const found = code.includes("Math");
    return {
      found,
      data: found ? { "text/plain": `Math (detail ${detailLevel}, at ${cursorPos})` } : {},
      metadata: {},
    };
  }

  async isComplete(code: string): Promise<IsCompleteResult> {
    if (code === "hang") return new Promise<IsCompleteResult>(() => {});
    if (code.trim().startsWith(")")) return { status: "invalid" };
    const open = (code.match(/[({[]/g) ?? []).length - (code.match(/[)}\]]/g) ?? []).length;
    return open > 0 ? { status: "incomplete", indent: "  " } : { status: "complete" };
  }

  async check(code: string): Promise<Diagnostic[]> {
    if (this.checkDelayMs > 0) await new Promise((r) => setTimeout(r, this.checkDelayMs));
    if (!code.includes("TYPEERR")) return [];
    return [
      {
        line: 1,
        column: 1,
        code: 2322,
        message: "Type 'string' is not assignable to type 'number'.",
        category: "error",
      },
    ];
  }

  record(code: string): void {
    this.recorded.push(code);
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }
}
