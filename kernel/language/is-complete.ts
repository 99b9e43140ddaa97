/**
 * is_complete for TypeScript cells: a bracket/string/template scan decides "incomplete" for
 * anything left open and "invalid" for closers that can never match; otherwise the parser
 * decides, and an error sitting at the end of the input means more lines could still fix it.
 */
import type * as TS from "typescript";
import type { IsCompleteResult } from "../contracts.js";

type Opener = "(" | "[" | "{" | "${";

const INDENT = "  ";

export function isCompleteCode(ts: typeof TS, code: string): IsCompleteResult {
  if (code.trim() === "") return { status: "complete" };
  const scan = scanBrackets(ts, code);
  if (scan.status !== "complete") return scan;
  const out = ts.transpileModule(code, {
    fileName: "cell.ts",
    reportDiagnostics: true,
    compilerOptions: {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      noResolve: true,
      isolatedModules: false,
    },
  });
  const errors = (out.diagnostics ?? []).filter(
    (d) => d.category === ts.DiagnosticCategory.Error && d.start !== undefined,
  );
  if (errors.length === 0) return { status: "complete" };
  const end = code.trimEnd().length;
  // An error only at the very end ("Expression expected", "Statement expected") can still be fixed.
  if (errors.every((d) => (d.start ?? 0) >= end)) return { status: "incomplete", indent: INDENT };
  return { status: "invalid" };
}

function scanBrackets(ts: typeof TS, code: string): IsCompleteResult {
  const scanner = ts.createScanner(
    ts.ScriptTarget.Latest,
    false,
    ts.LanguageVariant.Standard,
    code,
  );
  const stack: Opener[] = [];
  let prev: TS.SyntaxKind = ts.SyntaxKind.Unknown;
  const incomplete = (): IsCompleteResult => ({
    status: "incomplete",
    indent: INDENT.repeat(Math.max(1, stack.filter((o) => o !== "${").length)),
  });
  const close = (want: Opener): boolean => {
    if (stack[stack.length - 1] !== want) return false;
    stack.pop();
    return true;
  };
  for (let token = scanner.scan(); token !== ts.SyntaxKind.EndOfFileToken; token = scanner.scan()) {
    switch (token) {
      case ts.SyntaxKind.MultiLineCommentTrivia:
        if (scanner.isUnterminated()) return incomplete();
        continue;
      case ts.SyntaxKind.SingleLineCommentTrivia:
      case ts.SyntaxKind.WhitespaceTrivia:
      case ts.SyntaxKind.NewLineTrivia:
      case ts.SyntaxKind.ShebangTrivia:
      case ts.SyntaxKind.ConflictMarkerTrivia:
        continue;
      case ts.SyntaxKind.OpenParenToken:
        stack.push("(");
        break;
      case ts.SyntaxKind.OpenBracketToken:
        stack.push("[");
        break;
      case ts.SyntaxKind.OpenBraceToken:
        stack.push("{");
        break;
      case ts.SyntaxKind.CloseParenToken:
        if (!close("(")) return { status: "invalid" };
        break;
      case ts.SyntaxKind.CloseBracketToken:
        if (!close("[")) return { status: "invalid" };
        break;
      case ts.SyntaxKind.CloseBraceToken:
        if (stack[stack.length - 1] === "${") {
          // The brace ends a substitution: the template continues from here.
          token = scanner.reScanTemplateToken(false);
          if (scanner.isUnterminated()) return incomplete();
          if (token === ts.SyntaxKind.TemplateTail) stack.pop();
        } else if (!close("{")) return { status: "invalid" };
        break;
      case ts.SyntaxKind.TemplateHead:
        if (scanner.isUnterminated()) return incomplete();
        stack.push("${");
        break;
      case ts.SyntaxKind.NoSubstitutionTemplateLiteral:
        if (scanner.isUnterminated()) return incomplete();
        break;
      case ts.SyntaxKind.StringLiteral:
        if (scanner.isUnterminated()) {
          // A string may only continue on the next line after a backslash.
          return /\\\r?\n?$/.test(code.slice(scanner.getTokenStart())) &&
            scanner.getTokenEnd() >= code.length
            ? incomplete()
            : { status: "invalid" };
        }
        break;
      case ts.SyntaxKind.SlashToken:
      case ts.SyntaxKind.SlashEqualsToken:
        if (!endsExpression(ts, prev)) {
          token = scanner.reScanSlashToken();
          if (scanner.isUnterminated()) return { status: "invalid" };
        }
        break;
      default:
        break;
    }
    prev = token;
  }
  if (stack.length > 0) return incomplete();
  return { status: "complete" };
}

/** Whether a `/` after this token is division (else it starts a regular expression). */
function endsExpression(ts: typeof TS, kind: TS.SyntaxKind): boolean {
  switch (kind) {
    case ts.SyntaxKind.Identifier:
    case ts.SyntaxKind.NumericLiteral:
    case ts.SyntaxKind.BigIntLiteral:
    case ts.SyntaxKind.StringLiteral:
    case ts.SyntaxKind.NoSubstitutionTemplateLiteral:
    case ts.SyntaxKind.TemplateTail:
    case ts.SyntaxKind.RegularExpressionLiteral:
    case ts.SyntaxKind.CloseParenToken:
    case ts.SyntaxKind.CloseBracketToken:
    case ts.SyntaxKind.CloseBraceToken:
    case ts.SyntaxKind.ThisKeyword:
    case ts.SyntaxKind.SuperKeyword:
    case ts.SyntaxKind.TrueKeyword:
    case ts.SyntaxKind.FalseKeyword:
    case ts.SyntaxKind.NullKeyword:
    case ts.SyntaxKind.PlusPlusToken:
    case ts.SyntaxKind.MinusMinusToken:
      return true;
    default:
      return false;
  }
}
