/**
 * TypeScript -> JavaScript for one source text, with custom before/after transformers and a
 * source map. `ts.transpileModule` builds a Program and a type checker per call (2-4 ms, mostly
 * garbage); cells only need parse -> erase types -> print, so the fast path drives TypeScript's
 * own transformer pipeline directly (about 0.3 ms). Those entry points are internal to
 * TypeScript, so their absence (another TypeScript version) falls back to transpileModule.
 */
import * as ts from "typescript";

export interface EmitOutput {
  js: string;
  /** Source map (version 3) as JSON text. */
  map: string;
  /** Syntax errors, 1-based line/column in the input. */
  diagnostics: { line: number; column: number; message: string }[];
}

export interface EmitTransformers {
  before?: ts.TransformerFactory<ts.SourceFile>[];
  after?: ts.TransformerFactory<ts.SourceFile>[];
}

/** Options for cells: modern JS out, every file a module so top-level await parses. */
export const cellCompilerOptions: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleDetection: ts.ModuleDetectionKind.Force,
  isolatedModules: true,
  useDefineForClassFields: true,
  experimentalDecorators: false,
  sourceMap: true,
  newLine: ts.NewLineKind.LineFeed,
  noLib: true,
  noResolve: true,
  types: [],
};

// The internal TypeScript entry points the fast path uses (present in TypeScript 5.x).
interface TsInternals {
  getTransformers(
    options: ts.CompilerOptions,
    custom: ts.CustomTransformers | undefined,
    emitOnly: boolean,
  ): { scriptTransformers: unknown[] };
  transformNodes(
    resolver: unknown,
    host: unknown,
    factory: ts.NodeFactory,
    options: ts.CompilerOptions,
    nodes: ts.SourceFile[],
    transformers: unknown[],
    allowDtsFiles: boolean,
  ): {
    transformed: ts.SourceFile[];
    emitNodeWithNotification: unknown;
    isEmitNotificationEnabled: unknown;
    substituteNode: unknown;
    dispose(): void;
  };
  createSourceMapGenerator(
    host: unknown,
    file: string,
    sourceRoot: string,
    sourcesDirectoryPath: string,
    options: object,
  ): { toString(): string };
  createTextWriter(newLine: string): { getText(): string };
  getSetExternalModuleIndicator(options: ts.CompilerOptions): (file: ts.SourceFile) => void;
}

const internals = ts as unknown as Partial<TsInternals>;
const fastPathAvailable =
  typeof internals.getTransformers === "function" &&
  typeof internals.transformNodes === "function" &&
  typeof internals.createSourceMapGenerator === "function" &&
  typeof internals.createTextWriter === "function" &&
  typeof internals.getSetExternalModuleIndicator === "function";

let forceSlowPath = false;
let fastPathBroken = false;
/** For tests: compare the fast path with ts.transpileModule. */
export function useTranspileModule(on: boolean): void {
  forceSlowPath = on;
}

/** Literal value of an enum member when it can be read without a type checker. */
function enumMemberValue(member: ts.EnumMember): string | number | undefined {
  const decl = member.parent;
  const known = new Map<string, string | number>();
  let prev: string | number | undefined;
  for (let i = 0; i < decl.members.length; i++) {
    const m = decl.members[i];
    let v: string | number | undefined;
    if (m.initializer) v = constantValue(m.initializer, known);
    else if (i === 0) v = 0;
    else v = typeof prev === "number" ? prev + 1 : undefined;
    if (ts.isIdentifier(m.name) || ts.isStringLiteral(m.name)) {
      if (v !== undefined) known.set(m.name.text, v);
    }
    if (m === member) return v;
    prev = v;
  }
  return undefined;
}

function constantValue(
  e: ts.Expression,
  known: Map<string, string | number>,
): string | number | undefined {
  if (ts.isNumericLiteral(e)) return Number(e.text);
  if (ts.isStringLiteralLike(e)) return e.text;
  if (ts.isParenthesizedExpression(e)) return constantValue(e.expression, known);
  if (ts.isIdentifier(e)) return known.get(e.text);
  if (ts.isPrefixUnaryExpression(e)) {
    const v = constantValue(e.operand, known);
    if (typeof v !== "number") return undefined;
    if (e.operator === ts.SyntaxKind.MinusToken) return -v;
    if (e.operator === ts.SyntaxKind.PlusToken) return v;
    if (e.operator === ts.SyntaxKind.TildeToken) return ~v;
    return undefined;
  }
  if (ts.isBinaryExpression(e)) {
    const a = constantValue(e.left, known);
    const b = constantValue(e.right, known);
    if (typeof a === "string" || typeof b === "string") {
      if (e.operatorToken.kind === ts.SyntaxKind.PlusToken && a !== undefined && b !== undefined)
        return String(a) + String(b);
      return undefined;
    }
    if (a === undefined || b === undefined) return undefined;
    switch (e.operatorToken.kind) {
      case ts.SyntaxKind.PlusToken:
        return a + b;
      case ts.SyntaxKind.MinusToken:
        return a - b;
      case ts.SyntaxKind.AsteriskToken:
        return a * b;
      case ts.SyntaxKind.SlashToken:
        return a / b;
      case ts.SyntaxKind.PercentToken:
        return a % b;
      case ts.SyntaxKind.LessThanLessThanToken:
        return a << b;
      case ts.SyntaxKind.GreaterThanGreaterThanToken:
        return a >> b;
      case ts.SyntaxKind.BarToken:
        return a | b;
      case ts.SyntaxKind.AmpersandToken:
        return a & b;
      default:
        return undefined;
    }
  }
  return undefined;
}

function declaresExported(stmt: ts.Statement, name: string): boolean {
  const exported =
    (ts.getCombinedModifierFlags(stmt as unknown as ts.Declaration) & ts.ModifierFlags.Export) !==
    0;
  if (!exported) return false;
  if (ts.isVariableStatement(stmt))
    return stmt.declarationList.declarations.some(
      (d) => ts.isIdentifier(d.name) && d.name.text === name,
    );
  const named = stmt as ts.Statement & { name?: ts.Node };
  return !!named.name && ts.isIdentifier(named.name) && named.name.text === name;
}

/**
 * The namespace (or enum) whose exported member an identifier names, found syntactically, so
 * `namespace N { export const a = 1; export function f() { return a; } }` reads N.a in f.
 */
function exportContainer(node: ts.Node): ts.Node | undefined {
  const id = (ts.getParseTreeNode(node) ?? node) as ts.Identifier;
  if (!ts.isIdentifier(id)) return undefined;
  for (let p: ts.Node | undefined = id.parent; p; p = p.parent) {
    if (ts.isModuleDeclaration(p) && p.body && ts.isModuleBlock(p.body)) {
      if (p.body.statements.some((s) => declaresExported(s, id.text))) return p;
    } else if (ts.isEnumDeclaration(p)) {
      if (p.members.some((m) => ts.isIdentifier(m.name) && m.name.text === id.text)) return p;
    }
  }
  return undefined;
}

// What the transformers ask of a type checker, answered syntactically (transpile semantics).
// The answers stand in for methods of TypeScript's internal EmitResolver, each with its own
// parameters, so the table is typed loosely.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const resolverAnswers: Record<string, (...args: any[]) => unknown> = {
  getEnumMemberValue(node: ts.Node) {
    const m = (ts.getParseTreeNode(node) ?? node) as ts.EnumMember;
    const value = enumMemberValue(m);
    return value === undefined
      ? undefined
      : {
          value,
          isSyntacticallyString: typeof value === "string",
          resolvedOtherFiles: false,
          hasExternalReferences: false,
        };
  },
  getReferencedExportContainer: (node: ts.Node) => exportContainer(node),
  isReferencedAliasDeclaration: () => true,
  isValueAliasDeclaration: () => true,
  hasNodeCheckFlag: () => false,
  hasGlobalName: () => false,
  isTopLevelValueImportEqualsWithEntityName: () => false,
};
const resolver = new Proxy(resolverAnswers, {
  get: (target, key) => (typeof key === "string" && target[key]) || (() => undefined),
});

const emitHost = new Proxy(
  {
    getCurrentDirectory: () => "",
    getCanonicalFileName: (f: string) => f,
    getCompilerOptions: () => cellCompilerOptions,
    getNewLine: () => "\n",
    getEmitModuleFormatOfFile: () => ts.ModuleKind.ESNext,
    useCaseSensitiveFileNames: () => true,
  } as Record<string, unknown>,
  { get: (target, key) => (typeof key === "string" && target[key]) || (() => undefined) },
);

function lineCol(sf: ts.SourceFile, pos: number): { line: number; column: number } {
  const lc = sf.getLineAndCharacterOfPosition(Math.min(pos, sf.text.length));
  return { line: lc.line + 1, column: lc.character + 1 };
}

/** Emits `code` (named `fileName`, e.g. "In[3].ts") as JavaScript with the given transformers. */
export function emit(code: string, fileName: string, transformers: EmitTransformers): EmitOutput {
  if (fastPathAvailable && !forceSlowPath && !fastPathBroken) {
    try {
      return emitFast(code, fileName, transformers);
    } catch {
      // TypeScript's internals changed under us: the public API still works, only slower.
      fastPathBroken = true;
    }
  }
  return emitSlow(code, fileName, transformers);
}

function emitFast(code: string, fileName: string, transformers: EmitTransformers): EmitOutput {
  const ti = internals as TsInternals;
  const sf = ts.createSourceFile(
    fileName,
    code,
    {
      languageVersion: ts.ScriptTarget.ES2022,
      impliedNodeFormat: ts.ModuleKind.ESNext,
      setExternalModuleIndicator: ti.getSetExternalModuleIndicator(cellCompilerOptions),
    },
    /*setParentNodes*/ true,
    fileName.endsWith(".tsx") ? ts.ScriptKind.TSX : ts.ScriptKind.TS,
  );
  const parseDiagnostics = (sf as unknown as { parseDiagnostics: ts.DiagnosticWithLocation[] })
    .parseDiagnostics;
  const diagnostics = parseDiagnostics.map((d) => ({
    ...lineCol(sf, d.start),
    message: ts.flattenDiagnosticMessageText(d.messageText, "\n"),
  }));
  if (diagnostics.length) return { js: "", map: "", diagnostics };
  const { scriptTransformers } = ti.getTransformers(cellCompilerOptions, transformers, false);
  const tr = ti.transformNodes(
    resolver,
    emitHost,
    ts.factory,
    cellCompilerOptions,
    [sf],
    scriptTransformers,
    false,
  );
  try {
    const printer = ts.createPrinter(
      { newLine: ts.NewLineKind.LineFeed, module: ts.ModuleKind.ESNext } as ts.PrinterOptions,
      {
        hasGlobalName: () => false,
        onEmitNode: tr.emitNodeWithNotification,
        isEmitNotificationEnabled: tr.isEmitNotificationEnabled,
        substituteNode: tr.substituteNode,
      } as ts.PrintHandlers,
    );
    const generator = ti.createSourceMapGenerator(
      emitHost,
      fileName.replace(/\.tsx?$/, ".js"),
      "",
      "",
      {},
    );
    const writer = ti.createTextWriter("\n");
    (
      printer as unknown as { writeFile(sf: ts.SourceFile, w: unknown, g: unknown): void }
    ).writeFile(tr.transformed[0], writer, generator);
    return { js: writer.getText(), map: generator.toString(), diagnostics };
  } finally {
    tr.dispose();
  }
}

function emitSlow(code: string, fileName: string, transformers: EmitTransformers): EmitOutput {
  const out = ts.transpileModule(code, {
    compilerOptions: cellCompilerOptions,
    fileName,
    reportDiagnostics: true,
    transformers,
  });
  const diagnostics = (out.diagnostics ?? [])
    .filter((d) => d.category === ts.DiagnosticCategory.Error)
    .map((d) => ({
      ...(d.file && d.start !== undefined ? lineCol(d.file, d.start) : { line: 1, column: 1 }),
      message: ts.flattenDiagnosticMessageText(d.messageText, "\n"),
    }));
  if (diagnostics.length) return { js: "", map: "", diagnostics };
  const js = out.outputText.replace(/\n?\/\/# sourceMappingURL=.*\s*$/, "\n");
  return { js, map: out.sourceMapText ?? "", diagnostics };
}

/** Transpiles a local .ts file imported by a cell, keeping its syntax errors with line and column. */
function transpileLocal(
  code: string,
  fileName: string,
  options: ts.CompilerOptions,
): { out: ts.TranspileOutput; diagnostics: EmitOutput["diagnostics"] } {
  const out = ts.transpileModule(code, {
    compilerOptions: {
      target: ts.ScriptTarget.ES2022,
      esModuleInterop: true,
      newLine: ts.NewLineKind.LineFeed,
      ...(fileName.endsWith(".tsx") ? { jsx: ts.JsxEmit.React } : {}),
      ...options,
    },
    fileName,
    reportDiagnostics: true,
  });
  const diagnostics = (out.diagnostics ?? [])
    .filter((d) => d.category === ts.DiagnosticCategory.Error)
    .map((d) => ({
      ...(d.file && d.start !== undefined ? lineCol(d.file, d.start) : { line: 1, column: 1 }),
      message: ts.flattenDiagnosticMessageText(d.messageText, "\n"),
    }));
  return { out, diagnostics };
}

/** Local .ts files imported by cells: CommonJS (loaded through require), with a source map. */
export function emitCommonJs(code: string, fileName: string): EmitOutput {
  const { out, diagnostics } = transpileLocal(code, fileName, {
    module: ts.ModuleKind.CommonJS,
    sourceMap: true,
  });
  const js = out.outputText.replace(/\n?\/\/# sourceMappingURL=.*\s*$/, "\n");
  return { js, map: out.sourceMapText ?? "", diagnostics };
}

/**
 * Local .ts/.mts/.tsx files imported by cells: ES modules, as the cells' other imports are, with
 * an inline source map (Node maps stack traces through it).
 */
export function emitEsm(code: string, fileName: string): EmitOutput {
  const { out, diagnostics } = transpileLocal(code, fileName, {
    module: ts.ModuleKind.ESNext,
    inlineSourceMap: true,
    inlineSources: true,
  });
  return { js: out.outputText, map: "", diagnostics };
}
