/**
 * nbformat 4 notebooks: reading with clear errors, and turning iopub messages into cell outputs
 * the way Jupyter frontends do (stream merging, clear_output(wait), update by display id).
 */
import type { Message } from "./client.js";

/** nbformat's multiline string: one string or a list of lines. */
export type MultilineString = string | string[];

export type Output =
  | { output_type: "stream"; name: "stdout" | "stderr"; text: MultilineString }
  | {
      output_type: "display_data";
      data: Record<string, unknown>;
      metadata: Record<string, unknown>;
    }
  | {
      output_type: "execute_result";
      execution_count: number | null;
      data: Record<string, unknown>;
      metadata: Record<string, unknown>;
    }
  | { output_type: "error"; ename: string; evalue: string; traceback: string[] };

export interface CodeCell {
  cell_type: "code";
  id?: string;
  metadata: Record<string, unknown>;
  source: MultilineString;
  execution_count: number | null;
  outputs: Output[];
}

export interface TextCell {
  cell_type: "markdown" | "raw";
  id?: string;
  metadata: Record<string, unknown>;
  source: MultilineString;
  attachments?: Record<string, Record<string, string>>;
}

export type Cell = CodeCell | TextCell;

export interface Notebook {
  nbformat: number;
  nbformat_minor: number;
  metadata: Record<string, unknown>;
  cells: Cell[];
}

/** A notebook that cannot be read: missing, not JSON, not nbformat 4. */
export class NotebookError extends Error {}

/** Joins a multiline string. */
export function text(s: MultilineString | undefined): string {
  if (s === undefined) return "";
  return Array.isArray(s) ? s.join("") : s;
}

/** Parses and checks a notebook; `name` is used in error messages. */
export function parseNotebook(json: string, name: string): Notebook {
  let nb: unknown;
  try {
    nb = JSON.parse(json);
  } catch (e) {
    throw new NotebookError(`${name} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof nb !== "object" || nb === null || Array.isArray(nb)) {
    throw new NotebookError(`${name} is not a notebook: expected a JSON object`);
  }
  const o = nb as Record<string, unknown>;
  if (o.nbformat === undefined || !Array.isArray(o.cells)) {
    throw new NotebookError(`${name} is not a notebook: it has no "nbformat" and "cells" fields`);
  }
  if (o.nbformat !== 4) {
    throw new NotebookError(
      `${name} is nbformat ${String(o.nbformat)}; only nbformat 4 is supported`,
    );
  }
  o.cells.forEach((c: unknown, i: number) => {
    const cell = c as Record<string, unknown> | null;
    const kind = cell?.cell_type;
    if (kind !== "code" && kind !== "markdown" && kind !== "raw") {
      throw new NotebookError(
        `${name}: cell ${i + 1} has an unknown cell_type ${JSON.stringify(kind)}`,
      );
    }
    const src = cell!.source;
    if (
      typeof src !== "string" &&
      !(Array.isArray(src) && src.every((l) => typeof l === "string"))
    ) {
      throw new NotebookError(`${name}: cell ${i + 1} has no text "source"`);
    }
    cell!.metadata ??= {};
    if (kind === "code") {
      cell!.outputs ??= [];
      cell!.execution_count ??= null;
    }
  });
  o.metadata ??= {};
  o.nbformat_minor ??= 4;
  return o as unknown as Notebook;
}

/** Where outputs with a given display_id live, so update_display_data can reach earlier cells. */
export class DisplayRegistry {
  private readonly byId = new Map<string, Output[]>();

  track(displayId: string, output: Output): void {
    const list = this.byId.get(displayId) ?? [];
    list.push(output);
    this.byId.set(displayId, list);
  }

  /** Replaces data and metadata of every output shown with this id; false when none. */
  update(
    displayId: string,
    data: Record<string, unknown>,
    metadata: Record<string, unknown>,
  ): boolean {
    const list = this.byId.get(displayId);
    if (!list) return false;
    for (const o of list) {
      if (o.output_type === "display_data" || o.output_type === "execute_result") {
        o.data = data;
        o.metadata = metadata;
      }
    }
    return true;
  }

  /** Forgets outputs that were cleared from their cell. */
  forget(outputs: Output[]): void {
    const gone = new Set(outputs);
    for (const [id, list] of this.byId) {
      const kept = list.filter((o) => !gone.has(o));
      if (kept.length) this.byId.set(id, kept);
      else this.byId.delete(id);
    }
  }
}

/** Collects one cell's outputs from its iopub messages. */
export class OutputCollector {
  readonly outputs: Output[] = [];
  executionCount: number | null = null;
  private clearPending = false;

  constructor(private readonly displays: DisplayRegistry) {}

  private clearNow(): void {
    this.displays.forget(this.outputs);
    this.outputs.length = 0;
    this.clearPending = false;
  }

  private add(o: Output): void {
    if (this.clearPending) this.clearNow();
    this.outputs.push(o);
  }

  /** Applies one iopub message (any type; those that are not outputs are ignored). */
  handle(msg: Message): void {
    const c = msg.content;
    const data = (c.data ?? {}) as Record<string, unknown>;
    const metadata = (c.metadata ?? {}) as Record<string, unknown>;
    const displayId = (c.transient as { display_id?: unknown } | undefined)?.display_id;
    switch (msg.header.msg_type) {
      case "execute_input":
        if (typeof c.execution_count === "number") this.executionCount = c.execution_count;
        return;
      case "stream": {
        const name = c.name === "stderr" ? "stderr" : "stdout";
        const piece = String(c.text ?? "");
        const last = this.outputs[this.outputs.length - 1];
        if (!this.clearPending && last?.output_type === "stream" && last.name === name) {
          last.text = text(last.text) + piece;
        } else {
          this.add({ output_type: "stream", name, text: piece });
        }
        return;
      }
      case "display_data": {
        const o: Output = { output_type: "display_data", data, metadata };
        this.add(o);
        if (typeof displayId === "string") this.displays.track(displayId, o);
        return;
      }
      case "update_display_data":
        if (typeof displayId === "string") this.displays.update(displayId, data, metadata);
        return;
      case "execute_result": {
        const count = typeof c.execution_count === "number" ? c.execution_count : null;
        if (count !== null) this.executionCount = count;
        const o: Output = { output_type: "execute_result", execution_count: count, data, metadata };
        this.add(o);
        if (typeof displayId === "string") this.displays.track(displayId, o);
        return;
      }
      case "error":
        this.add({
          output_type: "error",
          ename: String(c.ename ?? "Error"),
          evalue: String(c.evalue ?? ""),
          traceback: Array.isArray(c.traceback) ? c.traceback.map(String) : [],
        });
        return;
      case "clear_output":
        if (c.wait) this.clearPending = true;
        else this.clearNow();
        return;
    }
  }
}
