/**
 * TypeScript's language service over the virtual files of a notebook session: the globals the
 * executor provides, one prelude file per recorded cell that still owns a name, and the cell
 * being edited, checked or recorded. Synchronous; the worker thread (worker.ts) drives it.
 */
import * as path from "node:path";
import * as fs from "node:fs";
import type * as TS from "typescript";
import type { CompleteResult, Diagnostic, InspectResult, IsCompleteResult } from "../contracts.js";
import { GLOBALS_DTS } from "./globals.js";
import { isCompleteCode } from "./is-complete.js";
import { Prelude, PreludeState, SELF_PLACEHOLDER, originalOffset } from "./prelude.js";
import { codePointLength, codePointToUtf16, utf16ToCodePoint } from "./positions.js";

export interface ServiceOptions {
  cwd: string;
  /** The .d.ts that `import ... from "moelab"` resolves to (absent: not mapped). */
  moelabTypes?: string;
  /** Full strict checking (noImplicitAny and the rest); default: loose, for notebook code. */
  strict?: boolean;
  /** A prelude carried over from another service (a restarted worker). */
  prelude?: PreludeState;
}

/** Checking settings a session can change. */
export interface CheckSettings {
  strict: boolean;
}

export interface ServiceStats {
  /** Names the recorded cells declared (each kept once, newest wins). */
  names: number;
  /** Prelude files and their total size in characters. */
  preludeFiles: number;
  preludeChars: number;
  recorded: number;
}

interface VirtualFile {
  text: string;
  version: number;
  snapshot: TS.IScriptSnapshot;
}

/** Diagnostics that only the cell-mode rules cause (each cell is a module that sees the others). */
const IGNORED_CODES = new Set([
  1375, // 'await' at top level needs a module
  1378, // top-level 'await' needs module option
  1431, // 'for await' at top level needs a module
  1432, // top-level 'for await' needs module option
  1309, // CommonJS file cannot use top-level await
  2451, // cannot redeclare block-scoped variable (a later cell may redeclare)
  2695, // left side of comma operator is unused
  7027, // unreachable code
  6133, // declared but never read
  6192, // all imports unused
  6196, // declared but never used
  6198, // all destructured elements unused
]);

const JUPYTER_TYPES: Record<string, string> = {
  function: "function",
  method: "function",
  "local function": "function",
  construct: "function",
  class: "class",
  "local class": "class",
  interface: "interface",
  type: "type",
  "type parameter": "type",
  enum: "enum",
  "enum member": "constant",
  module: "module",
  "external module name": "module",
  keyword: "keyword",
  property: "property",
  getter: "property",
  setter: "property",
  accessor: "property",
  var: "variable",
  let: "variable",
  const: "variable",
  "local var": "variable",
  parameter: "variable",
  alias: "module",
  string: "path",
  directory: "path",
  script: "path",
};

const HIDDEN_ALIAS_LINE = /\n?import \S+ = (__moelab_self\.)?__moelab_import_\d+_\d+$/m;

const EMPTY_SLOT = "export {};\n";

/** How many matches get a signature from the (costlier) completion entry details. */
const DETAILED_MATCHES = 20;

export class CellService {
  private readonly ts: typeof TS;
  private readonly cwd: string;
  private readonly files = new Map<string, VirtualFile>();
  private readonly diskSnapshots = new Map<
    string,
    { version: string; snapshot: TS.IScriptSnapshot | undefined }
  >();
  private options: TS.CompilerOptions;
  private strict: boolean;
  private readonly roots: string[] = [];
  private readonly prelude: Prelude;
  private readonly cellFile: string;
  private readonly globalsFile: string;
  private readonly resolutions = new Map<string, TS.ResolvedModuleWithFailedLookupLocations>();
  /** Prelude cell id -> file slot; freed slots wait for the next cell. */
  private readonly slotOf = new Map<number, number>();
  private readonly freeSlots: number[] = [];
  private projectVersion = 0;
  private recorded = 0;
  private service: TS.LanguageService | undefined;

  constructor(opts: ServiceOptions) {
    // Loaded here, in the worker, so that the kernel's main thread never pays for it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    this.ts = require("typescript") as typeof TS;
    const ts = this.ts;
    this.cwd = path.resolve(opts.cwd);
    this.prelude = new Prelude(ts);
    this.strict = opts.strict === true;
    this.cellFile = path.join(this.cwd, "__moelab_cell__.ts");
    this.globalsFile = path.join(this.cwd, "__moelab_globals__.d.ts");
    this.options = {
      target: ts.ScriptTarget.ES2022,
      lib: ["lib.es2023.d.ts"],
      module: ts.ModuleKind.Preserve,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      // Every cell is a module: its declarations shadow earlier cells' instead of clashing.
      moduleDetection: ts.ModuleDetectionKind.Force,
      esModuleInterop: true,
      allowJs: true,
      resolveJsonModule: true,
      allowImportingTsExtensions: true,
      // Declarations are the only output ever asked for (record() emits a cell's .d.ts).
      declaration: true,
      emitDeclarationOnly: true,
      ...strictness(this.strict),
      skipLibCheck: true,
      types: [],
      paths: opts.moelabTypes ? { moelab: [opts.moelabTypes] } : undefined,
    };
    // With no tsconfig file, `paths` needs the folder it is relative to; TypeScript reads it
    // from this option (otherwise some resolutions hit "paths without a baseUrl" assertions).
    if (opts.moelabTypes) (this.options as Record<string, unknown>).pathsBasePath = this.cwd;
    const nodeTypes = findNodeTypes(this.cwd);
    if (nodeTypes) this.roots.push(nodeTypes);
    this.setFile(this.globalsFile, GLOBALS_DTS);
    this.setFile(this.cellFile, "");
    if (opts.prelude) {
      this.prelude.restore(opts.prelude);
      this.writePrelude();
    }
  }

  /** Turns strict checking on or off for the cells checked from now on. */
  configure(settings: Partial<CheckSettings>): CheckSettings {
    if (settings.strict !== undefined && settings.strict !== this.strict) {
      this.strict = settings.strict;
      this.options = { ...this.options, ...strictness(this.strict) };
      this.projectVersion++;
    }
    return { strict: this.strict };
  }

  /** The prelude as plain data, for a new service to start from. */
  preludeState(): PreludeState {
    return this.prelude.snapshot();
  }

  /** Builds the program and checker once, so the first real request is fast. */
  warmUp(): void {
    this.complete("Math.", 5);
    this.check("const __moelab_warm__: number = 1;");
  }

  /**
   * Emits the cell's declarations from the cell file itself: check() left the same text there
   * (the kernel checks a cell before recording it), so no new program is needed.
   */
  record(code: string): void {
    this.recorded++;
    const { source, imports, declares } = this.prelude.exportAll(code);
    // A cell that declares nothing (an expression, a call) leaves the prelude as it is.
    if (!declares && imports.length === 0) return;
    this.setFile(this.cellFile, source);
    const out = this.languageService().getEmitOutput(this.cellFile, true);
    const dts = out.outputFiles.find((f) => f.name.endsWith(".d.ts"))?.text ?? "";
    this.prelude.add(dts, imports);
    this.writePrelude();
  }

  complete(code: string, cursorPos: number): CompleteResult {
    const pos = codePointToUtf16(code, cursorPos);
    const cp = utf16ToCodePoint(code, pos);
    this.setFile(this.cellFile, code);
    const ls = this.languageService();
    const info = ls.getCompletionsAtPosition(this.cellFile, pos, {
      includeCompletionsForModuleExports: false,
      includeCompletionsWithInsertText: false,
      includeAutomaticOptionalChainCompletions: false,
    });
    const empty: CompleteResult = { matches: [], cursor_start: cp, cursor_end: cp, metadata: {} };
    if (!info) return empty;
    const withSpan = info.entries.find((e) => e.replacementSpan);
    const span = withSpan?.replacementSpan ?? info.optionalReplacementSpan ?? wordSpan(code, pos);
    const start = Math.min(span.start, pos);
    const end = Math.max(pos, span.start + span.length);
    const prefix = code.slice(start, pos);
    // Internals (`_claim`, `__moelab_import_1_0`) only when the user typed the underscore.
    const all = prefix.startsWith("_")
      ? info.entries.filter((e) => !e.name.startsWith("__moelab"))
      : info.entries.filter((e) => !e.name.startsWith("_"));
    let entries = all.filter((e) => e.name.startsWith(prefix));
    if (entries.length === 0) {
      const lower = prefix.toLowerCase();
      entries = all.filter((e) => e.name.toLowerCase().startsWith(lower));
    }
    entries.sort((a, b) =>
      a.sortText === b.sortText ? cmp(a.name, b.name) : cmp(a.sortText, b.sortText),
    );
    const seen = new Set<string>();
    const chosen = entries.filter((e) => (seen.has(e.name) ? false : (seen.add(e.name), true)));
    const cursorStart = utf16ToCodePoint(code, start);
    const cursorEnd = utf16ToCodePoint(code, end);
    const types = chosen.map((e, i) => {
      const item: Record<string, string | number> = {
        start: cursorStart,
        end: cursorEnd,
        text: e.name,
        type: JUPYTER_TYPES[e.kind] ?? e.kind,
      };
      if (i < DETAILED_MATCHES) {
        const details = ls.getCompletionEntryDetails(
          this.cellFile,
          pos,
          e.name,
          {},
          e.source,
          {},
          e.data,
        );
        if (details) item.signature = this.ts.displayPartsToString(details.displayParts);
      }
      return item;
    });
    return {
      matches: chosen.map((e) => e.name),
      cursor_start: cursorStart,
      cursor_end: cursorEnd,
      metadata: { _jupyter_types_experimental: types },
    };
  }

  inspect(code: string, cursorPos: number, detailLevel: 0 | 1): InspectResult {
    const ts = this.ts;
    const pos = codePointToUtf16(code, cursorPos);
    this.setFile(this.cellFile, code);
    const ls = this.languageService();
    const notFound: InspectResult = { found: false, data: {}, metadata: {} };
    for (const at of pos > 0 ? [pos, pos - 1] : [pos]) {
      const qi = ls.getQuickInfoAtPosition(this.cellFile, at);
      if (!qi || qi.displayParts === undefined || qi.displayParts.length === 0) continue;
      // Imports recorded from earlier cells are aliases of hidden names: show only the target.
      const signature = ts.displayPartsToString(qi.displayParts).replace(HIDDEN_ALIAS_LINE, "");
      const extra = detailLevel === 1 ? this.definitions(at) : [];
      return bundle(ts, signature, qi.documentation ?? [], qi.tags ?? [], extra);
    }
    // Inside a call's parentheses: show the called function's signature.
    const help = ls.getSignatureHelpItems(this.cellFile, pos, undefined);
    if (help && help.items.length > 0) {
      const item = help.items[help.selectedItemIndex] ?? help.items[0];
      const sep = ts.displayPartsToString(item.separatorDisplayParts);
      const params = item.parameters.map((p) => ts.displayPartsToString(p.displayParts)).join(sep);
      const signature =
        ts.displayPartsToString(item.prefixDisplayParts) +
        params +
        ts.displayPartsToString(item.suffixDisplayParts);
      return bundle(ts, signature, item.documentation, item.tags, []);
    }
    return notFound;
  }

  isComplete(code: string): IsCompleteResult {
    return isCompleteCode(this.ts, code);
  }

  check(code: string): Diagnostic[] {
    const ts = this.ts;
    // Checked as record() will emit it (declarations exported), so recording costs no program.
    const { source, inserts } = this.prelude.exportAll(code);
    this.setFile(this.cellFile, source);
    // The program's own diagnostics: the service would add declaration-emit ones we never want.
    const program = this.languageService().getProgram();
    const sf = program?.getSourceFile(this.cellFile);
    if (!program || !sf) return [];
    const all = [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)];
    const out: Diagnostic[] = [];
    for (const d of all) {
      if (IGNORED_CODES.has(d.code)) continue;
      if (
        d.category !== ts.DiagnosticCategory.Error &&
        d.category !== ts.DiagnosticCategory.Warning
      )
        continue;
      let line = 1;
      let column = 1;
      if (d.start !== undefined) {
        const at = Math.min(originalOffset(inserts, d.start), code.length);
        const lineStart = code.lastIndexOf("\n", at - 1) + 1;
        line = countLines(code, lineStart);
        column = codePointLength(code.slice(lineStart, at)) + 1;
      }
      out.push({
        line,
        column,
        code: d.code,
        message: ts.flattenDiagnosticMessageText(d.messageText, "\n"),
        category: d.category === ts.DiagnosticCategory.Error ? "error" : "warning",
      });
    }
    return out.sort((a, b) => a.line - b.line || a.column - b.column);
  }

  stats(): ServiceStats {
    const files = this.prelude.files();
    return {
      names: this.prelude.size,
      preludeFiles: files.length,
      preludeChars: files.reduce((n, f) => n + f.text.length, 0),
      recorded: this.recorded,
    };
  }

  /** Drops the language service (after an internal error); the next request rebuilds it. */
  reset(): void {
    this.service?.dispose();
    this.service = undefined;
  }

  dispose(): void {
    this.reset();
  }

  private definitions(pos: number): string[] {
    const defs = this.languageService().getDefinitionAtPosition(this.cellFile, pos) ?? [];
    return defs
      .filter((d) => !path.basename(d.fileName).startsWith("__moelab_"))
      .slice(0, 3)
      .map((d) => {
        const sf = this.languageService().getProgram()?.getSourceFile(d.fileName);
        const line = sf ? sf.getLineAndCharacterOfPosition(d.textSpan.start).line + 1 : 0;
        return `Defined in ${d.fileName}${line ? `:${line}` : ""}`;
      });
  }

  /**
   * Module resolution with a memo of successful lookups: a prelude file coming or going makes
   * TypeScript resolve every import of every file again, which is most of a program's cost.
   * The notebook's own failed lookups are not remembered, so a module installed or written
   * later is found.
   */
  private resolveModule(
    literal: TS.StringLiteralLike,
    containingFile: string,
    redirected: TS.ResolvedProjectReference | undefined,
    options: TS.CompilerOptions,
    containingSf: TS.SourceFile,
  ): TS.ResolvedModuleWithFailedLookupLocations {
    const ts = this.ts;
    const mode = ts.getModeForUsageLocation(containingSf, literal, options);
    const key = `${path.dirname(containingFile)}\0${literal.text}\0${String(mode)}`;
    const known = this.resolutions.get(key);
    if (known) return known;
    const host: TS.ModuleResolutionHost = {
      getCurrentDirectory: () => this.cwd,
      fileExists: (f) => this.files.has(f) || ts.sys.fileExists(f),
      readFile: (f) => this.files.get(f)?.text ?? ts.sys.readFile(f),
      directoryExists: (d) => ts.sys.directoryExists(d),
      getDirectories: (d) => ts.sys.getDirectories(d),
      realpath: (p) => (ts.sys.realpath ? ts.sys.realpath(p) : p),
    };
    const result = ts.resolveModuleName(
      literal.text,
      containingFile,
      options,
      host,
      undefined,
      redirected,
      mode,
    );
    // Inside node_modules a miss is an ambient module (`declare module "node:fs"`): stable too.
    if (result.resolvedModule || isInNodeModules(containingFile)) this.resolutions.set(key, result);
    return result;
  }

  /**
   * Puts each live prelude cell in a file slot. A cell whose names were all redeclared frees its
   * slot for the next one, and a free slot stays as an empty module: the set of files then stays
   * the same, so TypeScript reuses the program's structure instead of resolving every import of
   * every file again.
   */
  private writePrelude(): void {
    const files = this.prelude.files();
    const alive = new Set(files.map((f) => f.id));
    for (const [cellId, slot] of this.slotOf) {
      if (alive.has(cellId)) continue;
      this.slotOf.delete(cellId);
      this.freeSlots.push(slot);
    }
    this.freeSlots.sort((a, b) => a - b);
    for (const f of files) {
      let slot = this.slotOf.get(f.id);
      if (slot === undefined) {
        slot = this.freeSlots.shift() ?? this.slotOf.size + this.freeSlots.length;
        this.slotOf.set(f.id, slot);
      }
      const file = preludePath(this.cwd, slot);
      const self = "./" + path.basename(file, ".d.ts");
      this.setFile(file, f.text.split(SELF_PLACEHOLDER).join(self));
    }
    for (const slot of this.freeSlots) this.setFile(preludePath(this.cwd, slot), EMPTY_SLOT);
  }

  private setFile(name: string, text: string): void {
    const old = this.files.get(name);
    if (old && old.text === text) return;
    if (!old) this.roots.push(name);
    this.files.set(name, {
      text,
      version: (old?.version ?? 0) + 1,
      snapshot: this.ts.ScriptSnapshot.fromString(text),
    });
    this.projectVersion++;
  }

  private languageService(): TS.LanguageService {
    if (this.service) return this.service;
    const ts = this.ts;
    const host: TS.LanguageServiceHost = {
      getProjectVersion: () => String(this.projectVersion),
      getScriptFileNames: () => [...this.roots],
      getScriptVersion: (f) => {
        const v = this.files.get(f);
        return v ? String(v.version) : diskVersion(f);
      },
      getScriptSnapshot: (f) => {
        const v = this.files.get(f);
        if (v) return v.snapshot;
        const version = diskVersion(f);
        const cached = this.diskSnapshots.get(f);
        if (cached && cached.version === version) return cached.snapshot;
        const text = ts.sys.readFile(f);
        const snapshot = text === undefined ? undefined : ts.ScriptSnapshot.fromString(text);
        this.diskSnapshots.set(f, { version, snapshot });
        return snapshot;
      },
      getCurrentDirectory: () => this.cwd,
      getCompilationSettings: () => this.options,
      getDefaultLibFileName: (o) => ts.getDefaultLibFilePath(o),
      fileExists: (f) => this.files.has(f) || ts.sys.fileExists(f),
      readFile: (f) => this.files.get(f)?.text ?? ts.sys.readFile(f),
      directoryExists: (d) => ts.sys.directoryExists(d),
      getDirectories: (d) => ts.sys.getDirectories(d),
      realpath: (p) => (ts.sys.realpath ? ts.sys.realpath(p) : p),
      useCaseSensitiveFileNames: () => ts.sys.useCaseSensitiveFileNames,
      resolveModuleNameLiterals: (literals, containingFile, redirected, options, containingSf) =>
        literals.map((lit) =>
          this.resolveModule(lit, containingFile, redirected, options, containingSf),
        ),
    };
    this.service = ts.createLanguageService(host, ts.createDocumentRegistry());
    return this.service;
  }
}

/**
 * Loose (the default): strict's null and function checks, without the rules that ask notebook
 * code for annotations (noImplicitAny, noImplicitThis, unknown in catch, property initialisers).
 */
function strictness(strict: boolean): TS.CompilerOptions {
  return {
    strict: true,
    noImplicitAny: strict,
    noImplicitThis: strict,
    useUnknownInCatchVariables: strict,
    strictPropertyInitialization: strict,
  };
}

function isInNodeModules(file: string): boolean {
  return file.includes(`${path.sep}node_modules${path.sep}`);
}

/**
 * Files under node_modules (and TypeScript's libs) are taken as fixed; the notebook's own files
 * are versioned by modification time, so that edits to a local module are seen.
 */
function diskVersion(file: string): string {
  if (isInNodeModules(file)) return "0";
  try {
    return String(fs.statSync(file).mtimeMs);
  } catch {
    return "missing";
  }
}

/** 1-based number of the line that starts at `lineStart`. */
function countLines(code: string, lineStart: number): number {
  let n = 1;
  for (let i = code.indexOf("\n"); i >= 0 && i < lineStart; i = code.indexOf("\n", i + 1)) n++;
  return n;
}

function preludePath(cwd: string, slot: number): string {
  return path.join(cwd, `__moelab_prelude_${slot}__.d.ts`);
}

/** @types/node from the notebook's folder when it has one, else moelab's own. */
function findNodeTypes(cwd: string): string | undefined {
  for (const from of [cwd, __dirname]) {
    try {
      const pkg = require.resolve("@types/node/package.json", { paths: [from] });
      const index = path.join(path.dirname(pkg), "index.d.ts");
      if (fs.existsSync(index)) return index;
    } catch {
      // not installed there
    }
  }
  return undefined;
}

/** The identifier (or partial one) that ends at `pos`. */
function wordSpan(code: string, pos: number): TS.TextSpan {
  let start = pos;
  while (start > 0) {
    const prev = code.codePointAt(start - 1) ?? 0;
    const low = prev >= 0xdc00 && prev <= 0xdfff && start >= 2;
    const ch = low ? code.slice(start - 2, start) : code[start - 1];
    if (!/^[\p{ID_Continue}$\u200c\u200d]+$/u.test(ch)) break;
    start -= ch.length;
  }
  return { start, length: pos - start };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function bundle(
  ts: typeof TS,
  signature: string,
  documentation: TS.SymbolDisplayPart[],
  tags: TS.JSDocTagInfo[],
  extra: string[],
): InspectResult {
  const doc = ts.displayPartsToString(documentation).trim();
  const tagLines = tags.map((t) => {
    const text = ts.displayPartsToString(t.text ?? []).trim();
    return text ? `@${t.name} ${text}` : `@${t.name}`;
  });
  const plain = [signature, doc, tagLines.join("\n"), extra.join("\n")]
    .filter((s) => s !== "")
    .join("\n\n");
  const markdown = [
    "```typescript\n" + signature + "\n```",
    doc,
    tagLines.map((l) => `*${l.replace(/^@(\S+)/, "@$1*")}`).join("  \n"),
    extra.join("  \n"),
  ]
    .filter((s) => s !== "")
    .join("\n\n");
  return { found: true, data: { "text/plain": plain, "text/markdown": markdown }, metadata: {} };
}
