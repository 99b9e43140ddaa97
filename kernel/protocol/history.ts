/**
 * Input history kept across kernel restarts, in `<Jupyter data dir>/moelab/history.jsonl`: one
 * JSON object per line, either a session start `{"session":n,"start":date}` or a cell
 * `{"session":n,"line":n,"source":...,"output":...}`. Each kernel start opens a new session.
 */
import { randomUUID } from "node:crypto";
import { appendFile, mkdir, readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { HistoryEntry, HistoryRequest } from "../wire/messages.js";

export interface HistoryRecord {
  session: number;
  line: number;
  source: string;
  /** text/plain of the cell's execute_result, if any. */
  output: string | null;
}

/** Jupyter's data directory, as jupyter_core computes it. */
export function jupyterDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.JUPYTER_DATA_DIR) return env.JUPYTER_DATA_DIR;
  if (process.platform === "darwin") return join(homedir(), "Library", "Jupyter");
  if (process.platform === "win32" && env.APPDATA) return join(env.APPDATA, "jupyter");
  if (env.XDG_DATA_HOME) return join(env.XDG_DATA_HOME, "jupyter");
  return join(homedir(), ".local", "share", "jupyter");
}

/** The history file under a data directory. */
export function historyFile(dataDir: string): string {
  return join(dataDir, "moelab", "history.jsonl");
}

/** A glob (`*`, `?`, `[...]`, as sqlite's GLOB) matching a whole string, case-sensitively. */
export function globToRegExp(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === "*") re += "[\\s\\S]*";
    else if (ch === "?") re += "[\\s\\S]";
    else if (ch === "[") {
      // A "]" right after "[" (or "[!" / "[^") is a member of the set, as in sqlite's GLOB.
      const neg = pattern[i + 1] === "!" || pattern[i + 1] === "^";
      const first = i + 1 + (neg ? 1 : 0);
      const end = pattern.indexOf("]", first + 1);
      if (end < 0) re += "\\[";
      else {
        // Every character of the set is literal except "-" between two (a range).
        const body = pattern.slice(first, end).replace(/[\\\][^]/g, "\\$&");
        re += `[${neg ? "^" : ""}${body}]`;
        i = end;
      }
    } else re += ch.replace(/[.+^${}()|\\\]]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/** Longest output text kept per cell. */
const MAX_OUTPUT = 100_000;

export class HistoryStore {
  private records: HistoryRecord[] = [];
  private writes: Promise<void> = Promise.resolve();
  private dirReady: Promise<unknown> | null = null;
  /** The current session's number (1 + the highest one on file). */
  session = 1;

  constructor(
    readonly file: string,
    private readonly log: (line: string) => void = () => {},
  ) {}

  /** Loads the file (missing is fine; bad lines are skipped) and starts a new session. */
  async open(): Promise<void> {
    let text = "";
    try {
      text = await readFile(this.file, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") {
        this.log(`cannot read history ${this.file}: ${(e as Error).message}`);
      }
    }
    let maxSession = 0;
    let bad = 0;
    for (const line of text.split("\n")) {
      if (line.trim() === "") continue;
      try {
        const r = JSON.parse(line) as Partial<HistoryRecord>;
        if (typeof r.session !== "number") throw new Error("no session");
        maxSession = Math.max(maxSession, r.session);
        if (typeof r.line === "number" && typeof r.source === "string") {
          this.records.push({
            session: r.session,
            line: r.line,
            source: r.source,
            output: typeof r.output === "string" ? r.output : null,
          });
        }
      } catch {
        bad++;
      }
    }
    if (bad > 0) this.log(`skipped ${bad} unreadable line(s) in ${this.file}`);
    this.records.sort((a, b) => a.session - b.session || a.line - b.line);
    this.session = await this.claimSession(maxSession + 1);
  }

  /**
   * Writes this kernel's session start and checks, by reading the file back, that no kernel
   * started at the same moment claimed the same number first; if one did, takes the next.
   */
  private async claimSession(want: number): Promise<number> {
    const kernel = randomUUID();
    let session = want;
    try {
      await mkdir(join(this.file, ".."), { recursive: true });
      for (let attempt = 0; attempt < 50; attempt++) {
        const start = { session, start: new Date().toISOString(), kernel };
        await appendFile(this.file, JSON.stringify(start) + "\n", "utf8");
        let owner: unknown;
        let max = session;
        for (const line of (await readFile(this.file, "utf8")).split("\n")) {
          if (line.trim() === "") continue;
          try {
            const r = JSON.parse(line) as { session?: unknown; start?: unknown; kernel?: unknown };
            if (typeof r.session !== "number") continue;
            max = Math.max(max, r.session);
            if (r.session === session && r.start !== undefined && owner === undefined)
              owner = r.kernel;
          } catch {
            // unreadable lines were reported when the file was loaded
          }
        }
        if (owner === kernel) return session;
        session = max + 1;
      }
    } catch (e) {
      this.log(`cannot write history ${this.file}: ${(e as Error).message}`);
    }
    return session;
  }

  /** Starts the next session (an in-place restart). */
  newSession(): void {
    this.session++;
    this.append({ session: this.session, start: new Date().toISOString() });
  }

  /** Records a cell of the current session; the write happens in the background. */
  add(line: number, source: string, output: string | null): void {
    // A huge repr would bloat the file that every kernel start reads.
    if (output !== null && output.length > MAX_OUTPUT) {
      output = output.slice(0, MAX_OUTPUT) + "\n... (truncated)";
    }
    const r: HistoryRecord = { session: this.session, line, source, output };
    this.records.push(r);
    this.append(r);
  }

  /** Resolves when every record so far is on disk. */
  flush(): Promise<void> {
    return this.writes;
  }

  private append(obj: object): void {
    const text = JSON.stringify(obj) + "\n";
    if (!this.dirReady) {
      this.dirReady = mkdir(join(this.file, ".."), { recursive: true }).catch((e: Error) =>
        this.log(`cannot create ${join(this.file, "..")}: ${e.message}`),
      );
    }
    const dir = this.dirReady;
    this.writes = this.writes
      .then(() => dir)
      .then(() => appendFile(this.file, text, "utf8"))
      .catch((e: Error) => this.log(`cannot write history ${this.file}: ${e.message}`));
  }

  /** Answers a history_request. Throws an Error naming a bad field. */
  query(req: HistoryRequest): HistoryEntry[] {
    checkFields(req as unknown as Record<string, unknown>);
    const output = req.output === true;
    const type = req.hist_access_type ?? "tail";
    let picked: HistoryRecord[];
    if (type === "tail") {
      const n = req.n ?? 10;
      checkCount(n, "n");
      picked = n === 0 ? [] : this.records.slice(-n);
    } else if (type === "range") {
      const s = req.session ?? 0;
      if (!Number.isInteger(s))
        throw new Error(`history: session must be an integer, got ${JSON.stringify(s)}`);
      const session = s > 0 ? s : this.session + s;
      const start = req.start ?? 0;
      const stop = req.stop ?? null;
      picked = this.records.filter(
        (r) => r.session === session && r.line >= start && (stop === null || r.line < stop),
      );
    } else if (type === "search") {
      const re = globToRegExp(req.pattern ?? "*");
      picked = this.records.filter((r) => re.test(r.source));
      if (req.unique) {
        const last = new Map<string, number>();
        picked.forEach((r, i) => last.set(r.source, i));
        picked = picked.filter((r, i) => last.get(r.source) === i);
      }
      const n = req.n ?? null;
      if (n !== null) {
        checkCount(n, "n");
        picked = n === 0 ? [] : picked.slice(-n);
      }
    } else {
      throw new Error(
        `history: unknown hist_access_type ${JSON.stringify(type)} (range, tail or search)`,
      );
    }
    return picked.map((r): HistoryEntry =>
      output ? [r.session, r.line, [r.source, r.output]] : [r.session, r.line, r.source],
    );
  }
}

/** The fields' types as the messaging spec gives them; a wrong one is named, with its value. */
function checkFields(req: Record<string, unknown>): void {
  const want = (name: string, ok: (v: unknown) => boolean, what: string): void => {
    const v = req[name];
    if (v === undefined || ok(v)) return;
    throw new Error(`history: ${name} must be ${what}, got ${JSON.stringify(v) ?? String(v)}`);
  };
  const isInt = (v: unknown): boolean => Number.isInteger(v);
  const isBool = (v: unknown): boolean => typeof v === "boolean";
  want("hist_access_type", (v) => typeof v === "string", '"range", "tail" or "search"');
  want("output", isBool, "true or false");
  want("raw", isBool, "true or false");
  want("unique", isBool, "true or false");
  want("session", isInt, "an integer");
  want("start", isInt, "an integer");
  want("stop", (v) => v === null || isInt(v), "an integer or null");
  want("n", (v) => v === null || isInt(v), "a non-negative integer or null");
  want("pattern", (v) => typeof v === "string", "a glob pattern string");
}

function checkCount(n: unknown, name: string): void {
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0) {
    throw new Error(`history: ${name} must be a non-negative integer, got ${JSON.stringify(n)}`);
  }
}
