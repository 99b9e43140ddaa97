/**
 * The declarations that recorded cells leave behind, kept per name (newest wins), so that the
 * work per cell stays constant however long the session: a recorded cell is turned into a
 * module that exports every top-level declaration, the compiler's declaration emit gives its
 * .d.ts, and that is split into per-name global declarations. Each cell that still owns a name
 * becomes one virtual file; a cell whose names were all redeclared later disappears.
 */
import type * as TS from "typescript";

/** A Prelude's whole state as plain data (structured-clonable), to carry it into a new worker. */
export interface PreludeState {
  nextId: number;
  cells: { id: number; header: string[]; names: [string, string[]][] }[];
}

/** What one recorded cell still contributes. */
interface CellDecls {
  id: number;
  /** Module-level lines of its file: imports the declarations use, emitted helpers. */
  header: string[];
  /** Name -> the statements declaring it inside `declare global { }`. */
  names: Map<string, string[]>;
}

export interface PreludeFile {
  /** Stable per recorded cell: the file keeps its name while the cell owns a name. */
  id: number;
  text: string;
}

const IMPORT_ALIAS = "__moelab_import_";

/**
 * Stands for the prelude file's own module specifier (the service knows the file's name): named
 * and default imports are re-exported by the file under a hidden alias and reached as
 * `SELF.alias`, because an import alias inside `declare global` must name a namespace member
 * (`export import X = y` where y is a named import resolves to nothing, and X becomes any).
 */
export const SELF_PLACEHOLDER = "__MOELAB_SELF__";
const SELF_NAMESPACE = "__moelab_self";

export class Prelude {
  private readonly cells = new Map<number, CellDecls>();
  private readonly owner = new Map<string, CellDecls>();
  private nextId = 1;

  constructor(private readonly ts: typeof TS) {}

  /**
   * The cell as a module exporting all its top-level declarations (for declaration emit), plus
   * the import bindings it made.
   */
  exportAll(code: string): ExportAll {
    const ts = this.ts;
    const sf = ts.createSourceFile("cell.ts", code, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
    const inserts: number[] = [];
    const imports: ImportBinding[] = [];
    let declares = false;
    for (const stmt of sf.statements) {
      if (ts.isImportDeclaration(stmt) || ts.isImportEqualsDeclaration(stmt)) {
        imports.push(...importBindings(ts, sf, stmt));
        continue;
      }
      if (!isExportable(ts, stmt)) continue;
      declares = true;
      const mods = ts.canHaveModifiers(stmt) ? (ts.getModifiers(stmt) ?? []) : [];
      if (mods.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) continue;
      inserts.push(stmt.getStart(sf));
    }
    let source = "";
    let at = 0;
    for (const pos of inserts) {
      source += code.slice(at, pos) + EXPORT_INSERT;
      at = pos;
    }
    source += code.slice(at);
    return { source, imports, declares, inserts };
  }

  /**
   * Adds a recorded cell from its emitted declarations and its import bindings; the names it
   * declares leave every older cell.
   */
  add(dts: string, imports: ImportBinding[]): void {
    const ts = this.ts;
    const cell: CellDecls = { id: this.nextId++, header: [], names: new Map() };
    const sf = ts.createSourceFile(
      "cell.d.ts",
      dts,
      ts.ScriptTarget.Latest,
      true,
      ts.ScriptKind.TS,
    );
    const put = (name: string, text: string): void => {
      const list = cell.names.get(name);
      if (list) list.push(text);
      else cell.names.set(name, [text]);
    };
    for (const stmt of sf.statements) {
      const leading = dts.slice(stmt.pos, stmt.getStart(sf));
      const mods = ts.canHaveModifiers(stmt) ? (ts.getModifiers(stmt) ?? []) : [];
      const exported = mods.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
      const isDefault = mods.some((m) => m.kind === ts.SyntaxKind.DefaultKeyword);
      if (!exported || isDefault || ts.isExportDeclaration(stmt) || ts.isExportAssignment(stmt)) {
        // Imports and non-exported helpers stay at module level, visible to the global block.
        if (!ts.isExportDeclaration(stmt) && !ts.isExportAssignment(stmt) && !isDefault) {
          cell.header.push(dts.slice(stmt.pos, stmt.end).trim());
        }
        continue;
      }
      // Keep every modifier except export/declare, which are implied inside `declare global`.
      const kept = mods
        .filter(
          (m) => m.kind !== ts.SyntaxKind.ExportKeyword && m.kind !== ts.SyntaxKind.DeclareKeyword,
        )
        .map((m) => m.getText(sf));
      const lastMod = mods.length > 0 ? mods[mods.length - 1].end : stmt.getStart(sf);
      if (ts.isVariableStatement(stmt)) {
        const list = stmt.declarationList;
        const keyword =
          list.flags & ts.NodeFlags.Const ? "const" : list.flags & ts.NodeFlags.Let ? "let" : "var";
        // Declaration emit gives one plain identifier per declarator (destructuring is split).
        for (const decl of list.declarations) {
          if (ts.isIdentifier(decl.name))
            put(decl.name.text, `${leading}${keyword} ${decl.getText(sf)};`);
        }
        continue;
      }
      const name = declaredName(ts, stmt);
      if (name === undefined) continue;
      const body = dts.slice(lastMod, stmt.end).trimStart();
      put(name, `${leading}${[...kept, body].join(" ")}`);
    }
    let self = false;
    imports.forEach((b, k) => {
      const alias = `${IMPORT_ALIAS}${cell.id}_${k}`;
      cell.header.push(b.importLine(alias));
      self ||= b.viaSelf;
      put(b.name, `export import ${b.name} = ${b.viaSelf ? `${SELF_NAMESPACE}.` : ""}${alias};`);
    });
    if (self) cell.header.push(`import * as ${SELF_NAMESPACE} from "${SELF_PLACEHOLDER}";`);
    for (const name of cell.names.keys()) {
      const old = this.owner.get(name);
      if (old && old !== cell) {
        old.names.delete(name);
        if (old.names.size === 0) this.cells.delete(old.id);
      }
      this.owner.set(name, cell);
    }
    if (cell.names.size > 0) this.cells.set(cell.id, cell);
  }

  /** The current virtual files, one per cell that still owns a name. */
  files(): PreludeFile[] {
    return [...this.cells.values()].map((c) => ({ id: c.id, text: render(c) }));
  }

  snapshot(): PreludeState {
    return {
      nextId: this.nextId,
      cells: [...this.cells.values()].map((c) => ({
        id: c.id,
        header: [...c.header],
        names: [...c.names].map(([n, d]) => [n, [...d]] as [string, string[]]),
      })),
    };
  }

  /** Replaces this prelude's state with a snapshot's. */
  restore(state: PreludeState): void {
    this.cells.clear();
    this.owner.clear();
    this.nextId = state.nextId;
    for (const c of state.cells) {
      const cell: CellDecls = { id: c.id, header: [...c.header], names: new Map(c.names) };
      this.cells.set(cell.id, cell);
      for (const name of cell.names.keys()) this.owner.set(name, cell);
    }
  }

  /** Number of names known (for bounds checks in tests). */
  get size(): number {
    return this.owner.size;
  }

  textOf(id: number): string | undefined {
    const cell = this.cells.get(id);
    return cell ? render(cell) : undefined;
  }
}

function render(cell: CellDecls): string {
  const decls = [...cell.names.values()].flat();
  return `${cell.header.join("\n")}\ndeclare global {\n${decls.join("\n")}\n}\nexport {};\n`;
}

export interface ExportAll {
  source: string;
  imports: ImportBinding[];
  /** Whether the cell declares anything at top level (else it cannot change the prelude). */
  declares: boolean;
  /** Offsets in the original code where `export ` (EXPORT_INSERT) was inserted, ascending. */
  inserts: number[];
}

export const EXPORT_INSERT = "export ";

/** Maps an offset in ExportAll.source back to the original code. */
export function originalOffset(inserts: number[], offset: number): number {
  let shift = 0;
  for (const at of inserts) {
    const start = at + shift;
    if (offset < start) break;
    if (offset < start + EXPORT_INSERT.length) return at;
    shift += EXPORT_INSERT.length;
  }
  return offset - shift;
}

/** One name an import statement bound, and how to re-import it under another local name. */
export interface ImportBinding {
  name: string;
  /** The prelude's module-level line that makes `alias` (or SELF.alias) stand for it. */
  importLine(alias: string): string;
  /** The binding is re-exported (`export { x as alias } from`) and reached through the file. */
  viaSelf: boolean;
}

function importBindings(
  ts: typeof TS,
  sf: TS.SourceFile,
  stmt: TS.ImportDeclaration | TS.ImportEqualsDeclaration,
): ImportBinding[] {
  if (ts.isImportEqualsDeclaration(stmt)) {
    const ref = stmt.moduleReference.getText(sf);
    return [{ name: stmt.name.text, importLine: (a) => `import ${a} = ${ref};`, viaSelf: false }];
  }
  const clause = stmt.importClause;
  if (!clause) return [];
  const from =
    stmt.moduleSpecifier.getText(sf) + (stmt.attributes ? ` ${stmt.attributes.getText(sf)}` : "");
  // Type-only imports are re-exported plainly: a declaration file's export carries types anyway,
  // and an import alias cannot reach an `export type`.
  const out: ImportBinding[] = [];
  if (clause.name) {
    out.push({
      name: clause.name.text,
      importLine: (a) => `export { default as ${a} } from ${from};`,
      viaSelf: true,
    });
  }
  const nb = clause.namedBindings;
  if (nb && ts.isNamespaceImport(nb)) {
    out.push({
      name: nb.name.text,
      importLine: (a) => `import * as ${a} from ${from};`,
      viaSelf: false,
    });
  } else if (nb) {
    for (const el of nb.elements) {
      const imported = (el.propertyName ?? el.name).getText(sf);
      out.push({
        name: el.name.text,
        importLine: (a) => `export { ${imported} as ${a} } from ${from};`,
        viaSelf: true,
      });
    }
  }
  return out;
}

function isExportable(ts: typeof TS, stmt: TS.Statement): boolean {
  if (ts.isVariableStatement(stmt)) {
    // `using` declarations cannot be exported.
    const f = stmt.declarationList.flags;
    return (
      (f & ts.NodeFlags.Using) === 0 && (f & ts.NodeFlags.AwaitUsing) !== ts.NodeFlags.AwaitUsing
    );
  }
  if (ts.isModuleDeclaration(stmt))
    return ts.isIdentifier(stmt.name) && stmt.name.text !== "global";
  return ts.isFunctionDeclaration(stmt) || ts.isClassDeclaration(stmt)
    ? stmt.name !== undefined
    : ts.isEnumDeclaration(stmt) ||
        ts.isInterfaceDeclaration(stmt) ||
        ts.isTypeAliasDeclaration(stmt);
}

function declaredName(ts: typeof TS, stmt: TS.Statement): string | undefined {
  if (
    ts.isFunctionDeclaration(stmt) ||
    ts.isClassDeclaration(stmt) ||
    ts.isEnumDeclaration(stmt) ||
    ts.isInterfaceDeclaration(stmt) ||
    ts.isTypeAliasDeclaration(stmt)
  ) {
    return stmt.name?.text;
  }
  if (ts.isModuleDeclaration(stmt) && ts.isIdentifier(stmt.name)) return stmt.name.text;
  return undefined;
}
