/**
 * The cell transformer: one TypeScript cell -> one JavaScript script for vm.runInThisContext.
 *
 * The script's value is an async arrow the executor calls; it returns `[value]` when the cell
 * ends in an expression (boxed so a Promise left as the last value is not awaited, tslab#17).
 * Top-level declarations become assignments to global variables declared with `var` in front
 * of the arrow, so they persist across cells and a cell that declares `const x` can run again:
 *
 *   import fs from "node:fs";       var fs, x, f;
 *   const x = 1;             ->     (async (__moelab_cell) => { "use strict";
 *   function f() {}                   f = function f() {};
 *   x + 1;                            ({ default: fs } = __moelab.chk(await __moelab.import("node:fs"), __moelab_cell));
 *                                     x = 1;
 *                                     return [x + 1]; })
 *
 * Only the cell's own text is processed, so the thousandth cell costs what the first did, and
 * the output depends on nothing but the text, so the executor can reuse it when a cell re-runs.
 */
import * as ts from "typescript";
import { emit, EmitOutput } from "./transpile.js";

/** The global object the generated code calls (set up by the worker). */
export const HELPER = "__moelab";
/** The arrow's parameter: the id of the cell, for the interrupt checks of its awaits. */
export const CELL_PARAM = "__moelab_cell";

export interface CellOutput extends EmitOutput {
  /** Global names the cell declares. */
  names: string[];
  /** True when the cell ends in an expression whose value is the result. */
  hasResult: boolean;
}

export interface CellOptions {
  /** Script name used in stack traces and source maps, e.g. "In[3]". */
  fileName: string;
  /** Unused: the cell's id reaches its awaits' interrupt checks as the arrow's parameter. */
  cellId?: number;
}

const f = ts.factory;

function helperCall(name: string, args: ts.Expression[]): ts.Expression {
  return f.createCallExpression(
    f.createPropertyAccessExpression(f.createIdentifier(HELPER), name),
    undefined,
    args,
  );
}

function hasModifier(node: ts.Node, kind: ts.SyntaxKind): boolean {
  return ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === kind);
}

function withoutExport<T extends ts.HasModifiers>(node: T): T {
  const mods = ts.getModifiers(node) ?? [];
  if (
    !mods.some(
      (m) => m.kind === ts.SyntaxKind.ExportKeyword || m.kind === ts.SyntaxKind.DefaultKeyword,
    )
  )
    return node;
  const kept = (
    ts.canHaveDecorators(node) ? (ts.getDecorators(node) ?? []) : []
  ) as ts.ModifierLike[];
  const rest = mods.filter(
    (m) => m.kind !== ts.SyntaxKind.ExportKeyword && m.kind !== ts.SyntaxKind.DefaultKeyword,
  );
  return f.replaceModifiers(node, [...kept, ...rest] as unknown as ts.Modifier[]);
}

/** Statements the TypeScript emit erases: they never hold the cell's last value. */
function isErased(s: ts.Statement): boolean {
  return (
    ts.isInterfaceDeclaration(s) ||
    ts.isTypeAliasDeclaration(s) ||
    ts.isEmptyStatement(s) ||
    hasModifier(s, ts.SyntaxKind.DeclareKeyword) ||
    (ts.isImportDeclaration(s) && !!s.importClause?.isTypeOnly) ||
    (ts.isModuleDeclaration(s) && !s.body)
  );
}

/** `import ... from "m"` -> declarations reading `await __moelab.import("m")`. */
function rewriteImport(node: ts.ImportDeclaration): ts.Statement[] {
  const spec = node.moduleSpecifier;
  const at = <T extends ts.Node>(n: T): T => ts.setTextRange(n, node);
  const load = (): ts.Expression =>
    at(
      helperCall("chk", [
        at(
          f.createAwaitExpression(
            at(helperCall("import", [f.createStringLiteral((spec as ts.StringLiteral).text)])),
          ),
        ),
        f.createIdentifier(CELL_PARAM),
      ]),
    );
  const clause = node.importClause;
  if (!clause) return [at(f.createExpressionStatement(load()))];
  if (clause.isTypeOnly) return [];
  const constDecl = (name: ts.BindingName, init: ts.Expression): ts.Statement =>
    at(
      f.createVariableStatement(
        undefined,
        f.createVariableDeclarationList(
          [at(f.createVariableDeclaration(name, undefined, undefined, init))],
          ts.NodeFlags.Const,
        ),
      ),
    );
  const out: ts.Statement[] = [];
  const bindings = clause.namedBindings;
  if (bindings && ts.isNamespaceImport(bindings)) {
    out.push(constDecl(f.createIdentifier(bindings.name.text), load()));
    if (clause.name)
      out.push(
        constDecl(
          f.createIdentifier(clause.name.text),
          f.createPropertyAccessExpression(f.createIdentifier(bindings.name.text), "default"),
        ),
      );
    return out;
  }
  const elements: ts.BindingElement[] = [];
  if (clause.name)
    elements.push(
      f.createBindingElement(undefined, "default", f.createIdentifier(clause.name.text)),
    );
  if (bindings && ts.isNamedImports(bindings)) {
    for (const el of bindings.elements) {
      if (el.isTypeOnly) continue;
      const imported = el.propertyName ?? el.name;
      const importedName = ts.isIdentifier(imported)
        ? f.createIdentifier(imported.text)
        : f.createStringLiteral(imported.text);
      elements.push(
        f.createBindingElement(
          undefined,
          importedName.text === el.name.text ? undefined : importedName,
          f.createIdentifier(el.name.text),
        ),
      );
    }
  }
  // Only type imports were named: like TypeScript, the import is elided.
  if (elements.length === 0) return [];
  return [constDecl(f.createObjectBindingPattern(elements), load())];
}

function beforeTransformer(state: { hasResult: boolean }): ts.TransformerFactory<ts.SourceFile> {
  return (context) => {
    // Deep rewrite: dynamic import() resolves from the notebook folder; awaits check interrupts.
    let inAsync = true;
    let topLevel = true;
    const deep = (node: ts.Node): ts.Node => {
      if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
        const args = ts.visitNodes(node.arguments, deep) as ts.NodeArray<ts.Expression>;
        return ts.setTextRange(helperCall("import", [...args].slice(0, 1)), node);
      }
      if (ts.isMetaProperty(node) && node.keywordToken === ts.SyntaxKind.ImportKeyword) {
        // import.meta of a cell describes the notebook's folder.
        return ts.setTextRange(
          f.createPropertyAccessExpression(f.createIdentifier(HELPER), "meta"),
          node,
        );
      }
      if (ts.isAwaitExpression(node) && inAsync) {
        const inner = ts.visitEachChild(node, deep, context);
        // The cell's own awaits stop for good once it was interrupted; functions it declares
        // only check the shared flag, so they stay usable from later cells.
        const args = topLevel ? [inner, f.createIdentifier(CELL_PARAM)] : [inner];
        return ts.setTextRange(helperCall("chk", args), node);
      }
      if (ts.isFunctionLike(node)) {
        // A misplaced await (in a non-async function) is left for V8 to report as such.
        const saved = [inAsync, topLevel];
        inAsync = hasModifier(node, ts.SyntaxKind.AsyncKeyword);
        topLevel = false;
        const out = ts.visitEachChild(node, deep, context);
        [inAsync, topLevel] = saved;
        return out;
      }
      return ts.visitEachChild(node, deep, context);
    };
    return (sf) => {
      const out: ts.Statement[] = [];
      for (const stmt of sf.statements) {
        if (ts.isImportDeclaration(stmt)) {
          out.push(...rewriteImport(stmt));
        } else if (ts.isImportEqualsDeclaration(stmt)) {
          if (stmt.isTypeOnly) continue;
          if (ts.isExternalModuleReference(stmt.moduleReference)) {
            const arg = stmt.moduleReference.expression;
            out.push(
              ts.setTextRange(
                f.createVariableStatement(
                  undefined,
                  f.createVariableDeclarationList(
                    [
                      f.createVariableDeclaration(
                        stmt.name.text,
                        undefined,
                        undefined,
                        helperCall("require", [deep(arg) as ts.Expression]),
                      ),
                    ],
                    ts.NodeFlags.Const,
                  ),
                ),
                stmt,
              ),
            );
          } else out.push(deep(withoutExport(stmt)) as ts.Statement);
        } else if (ts.isExportDeclaration(stmt)) {
          // `export { a }` / `export * from "m"`: nothing to export from a cell.
          continue;
        } else if (ts.isExportAssignment(stmt)) {
          out.push(
            ts.setTextRange(
              f.createExpressionStatement(deep(stmt.expression) as ts.Expression),
              stmt,
            ),
          );
        } else if (
          (ts.isFunctionDeclaration(stmt) || ts.isClassDeclaration(stmt)) &&
          !stmt.name &&
          hasModifier(stmt, ts.SyntaxKind.DefaultKeyword)
        ) {
          // `export default function () {}`: an anonymous value, kept as an expression.
          const expr = ts.isFunctionDeclaration(stmt)
            ? f.createFunctionExpression(
                (ts.getModifiers(stmt) ?? []).filter((m) => m.kind === ts.SyntaxKind.AsyncKeyword),
                stmt.asteriskToken,
                undefined,
                stmt.typeParameters,
                stmt.parameters,
                stmt.type,
                stmt.body ?? f.createBlock([]),
              )
            : f.createClassExpression(
                undefined,
                undefined,
                stmt.typeParameters,
                stmt.heritageClauses,
                stmt.members,
              );
          out.push(ts.setTextRange(f.createExpressionStatement(deep(expr) as ts.Expression), stmt));
        } else if (ts.canHaveModifiers(stmt)) {
          out.push(deep(withoutExport(stmt as ts.Statement & ts.HasModifiers)) as ts.Statement);
        } else {
          out.push(deep(stmt) as ts.Statement);
        }
      }
      // The last statement that survives type erasure gives the result when it is an expression.
      for (let i = out.length - 1; i >= 0; i--) {
        const s = out[i];
        if (isErased(s)) continue;
        if (ts.isExpressionStatement(s)) {
          out[i] = ts.setTextRange(
            f.createReturnStatement(f.createArrayLiteralExpression([s.expression])),
            s,
          );
          state.hasResult = true;
        }
        break;
      }
      return f.updateSourceFile(sf, out);
    };
  };
}

/** Names bound by a binding pattern or identifier. */
function boundNames(name: ts.BindingName, into: string[]): void {
  if (ts.isIdentifier(name)) {
    into.push(name.text);
    return;
  }
  for (const el of name.elements) {
    if (ts.isOmittedExpression(el)) continue;
    boundNames(el.name, into);
  }
}

/** `{ a, b: [c = 1, ...d], ...e }` as a binding -> the same shape as an assignment target. */
function toAssignmentTarget(name: ts.BindingName): ts.Expression {
  if (ts.isIdentifier(name)) return f.createIdentifier(name.text);
  if (ts.isObjectBindingPattern(name)) {
    const props: ts.ObjectLiteralElementLike[] = name.elements.map((el) => {
      if (el.dotDotDotToken) return f.createSpreadAssignment(toAssignmentTarget(el.name));
      const target = toAssignmentTarget(el.name);
      const valued = el.initializer ? f.createAssignment(target, el.initializer) : target;
      if (!el.propertyName) {
        // Shorthand `{ a }` or `{ a = 1 }`.
        const id = el.name as ts.Identifier;
        return f.createShorthandPropertyAssignment(
          id.text,
          el.initializer ? el.initializer : undefined,
        );
      }
      return f.createPropertyAssignment(el.propertyName, valued);
    });
    return f.createObjectLiteralExpression(props, false);
  }
  const items: ts.Expression[] = name.elements.map((el) => {
    if (ts.isOmittedExpression(el)) return f.createOmittedExpression();
    const target = toAssignmentTarget(el.name);
    if (el.dotDotDotToken) return f.createSpreadElement(target);
    return el.initializer ? f.createAssignment(target, el.initializer) : target;
  });
  return f.createArrayLiteralExpression(items, false);
}

function afterTransformer(names: string[]): ts.TransformerFactory<ts.SourceFile> {
  return () => (sf) => {
    const hoisted: ts.Statement[] = [];
    const body: ts.Statement[] = [];
    for (const stmt of sf.statements) {
      if (ts.isVariableStatement(stmt)) {
        const list = stmt.declarationList;
        const isVar = (list.flags & ts.NodeFlags.BlockScoped) === 0;
        for (const d of list.declarations) {
          boundNames(d.name, names);
          let value = d.initializer;
          if (!value) {
            if (isVar || !ts.isIdentifier(d.name)) continue;
            value = f.createVoidZero();
          }
          const target = toAssignmentTarget(d.name);
          const assign = f.createAssignment(target, value);
          const expr = ts.isIdentifier(d.name) ? assign : f.createParenthesizedExpression(assign);
          body.push(ts.setTextRange(f.createExpressionStatement(expr), d.pos >= 0 ? d : stmt));
        }
      } else if (ts.isFunctionDeclaration(stmt) && stmt.name && stmt.body) {
        names.push(stmt.name.text);
        const fn = f.createFunctionExpression(
          (ts.getModifiers(stmt) ?? []).filter((m) => m.kind === ts.SyntaxKind.AsyncKeyword),
          stmt.asteriskToken,
          f.createIdentifier(stmt.name.text),
          undefined,
          stmt.parameters,
          undefined,
          stmt.body,
        );
        ts.setTextRange(fn, stmt);
        hoisted.push(
          ts.setTextRange(
            f.createExpressionStatement(f.createAssignment(f.createIdentifier(stmt.name.text), fn)),
            stmt,
          ),
        );
      } else if (ts.isClassDeclaration(stmt) && stmt.name) {
        names.push(stmt.name.text);
        const cls = f.createClassExpression(
          (ts.getModifiers(stmt) ?? []).filter(
            (m) =>
              m.kind !== ts.SyntaxKind.ExportKeyword && m.kind !== ts.SyntaxKind.DefaultKeyword,
          ),
          f.createIdentifier(stmt.name.text),
          undefined,
          stmt.heritageClauses,
          stmt.members,
        );
        ts.setTextRange(cls, stmt);
        body.push(
          ts.setTextRange(
            f.createExpressionStatement(
              f.createAssignment(f.createIdentifier(stmt.name.text), cls),
            ),
            stmt,
          ),
        );
      } else if (ts.isExportDeclaration(stmt) || ts.isExportAssignment(stmt)) {
        // `export {}` that the module emit adds.
        continue;
      } else {
        body.push(stmt);
      }
    }
    const unique = [...new Set(names)];
    names.length = 0;
    names.push(...unique);
    const arrow = f.createArrowFunction(
      [f.createModifier(ts.SyntaxKind.AsyncKeyword)],
      undefined,
      [f.createParameterDeclaration(undefined, undefined, CELL_PARAM)],
      undefined,
      undefined,
      f.createBlock(
        [f.createExpressionStatement(f.createStringLiteral("use strict")), ...hoisted, ...body],
        true,
      ),
    );
    const statements: ts.Statement[] = [];
    if (unique.length)
      statements.push(
        f.createVariableStatement(
          undefined,
          f.createVariableDeclarationList(unique.map((n) => f.createVariableDeclaration(n))),
        ),
      );
    statements.push(f.createExpressionStatement(f.createParenthesizedExpression(arrow)));
    return f.updateSourceFile(sf, statements);
  };
}

/**
 * Transforms one cell. Syntax errors come back in `diagnostics` (and `js` is then empty).
 * A cell like `{ a: 1 }` is an object literal, not a block, as in Node's and Deno's REPLs.
 */
export function transformCell(code: string, opts: CellOptions): CellOutput {
  if (/^\s*\{/.test(code) && /\}\s*$/.test(code)) {
    const asObject = transformOnce(`(${code}\n)`, opts);
    if (asObject.diagnostics.length === 0) return asObject;
  }
  return transformOnce(code, opts);
}

function transformOnce(code: string, opts: CellOptions): CellOutput {
  const state = { hasResult: false };
  const names: string[] = [];
  const out = emit(code, `${opts.fileName}.ts`, {
    before: [beforeTransformer(state)],
    after: [afterTransformer(names)],
  });
  return { ...out, names: out.diagnostics.length ? [] : names, hasResult: state.hasResult };
}
