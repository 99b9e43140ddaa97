/**
 * `import` for cells, resolved from the notebook's folder (never process.cwd()): npm packages
 * (CommonJS through require, ESM through a real dynamic import()), `node:` builtins, local
 * .js/.ts files (.ts compiled on the fly), and `moelab` itself from any folder.
 *
 * The namespace objects follow TypeScript's esModuleInterop: a CommonJS module gives
 * `{ ...exports, default: exports }` unless it is marked `__esModule`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { createRequire, isBuiltin } from "node:module";
import Module, { register } from "node:module";
import { pathToFileURL } from "node:url";
import { emitCommonJs } from "./transpile.js";
import type { SourceMaps } from "./sourcemap.js";

/** The package's own entry: dist/lib/index.js next to dist/kernel/executor. */
export const MOELAB_ENTRY = path.resolve(__dirname, "../../lib/index.js");
const MOELAB_LIB = path.dirname(MOELAB_ENTRY);

const TS_EXTENSIONS = [".ts", ".tsx", ".mts", ".cts"];
const TRY_EXTENSIONS = [".ts", ".tsx", ".mts", ".cts", ".js", ".mjs", ".cjs", ".json"];

// A real dynamic import() (module node16 keeps it in CommonJS output), so ESM-only packages load.
const dynamicImport = (url: string): Promise<Record<string, unknown>> => import(url);

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** The package.json fields resolution reads. */
interface PackageJson {
  main?: string;
  type?: string;
  exports?: unknown;
}

function readJson(p: string): PackageJson | undefined {
  try {
    return JSON.parse(fs.readFileSync(p, "utf8"));
  } catch {
    return undefined;
  }
}

/** A path with the extensions Node and TypeScript users write (./util.js may be util.ts). */
function resolveLocal(base: string): string | undefined {
  if (isFile(base)) return base;
  for (const ext of TRY_EXTENSIONS) if (isFile(base + ext)) return base + ext;
  const js = /\.(c|m)?js$/.exec(base);
  if (js) {
    const stem = base.slice(0, -js[0].length);
    for (const ext of TS_EXTENSIONS) if (isFile(stem + ext)) return stem + ext;
  }
  for (const ext of TRY_EXTENSIONS) {
    const p = path.join(base, "index" + ext);
    if (isFile(p)) return p;
  }
  const pkg = readJson(path.join(base, "package.json"));
  if (pkg && typeof pkg.main === "string") return resolveLocal(path.join(base, pkg.main));
  return undefined;
}

/** Resolves an "exports" target for the import conditions. */
function exportsTarget(
  target: unknown,
  star: string | undefined,
  conditions: string[],
): string | undefined {
  if (typeof target === "string") return star === undefined ? target : target.split("*").join(star);
  if (Array.isArray(target)) {
    for (const t of target) {
      const r = exportsTarget(t, star, conditions);
      if (r) return r;
    }
    return undefined;
  }
  if (target && typeof target === "object") {
    for (const [key, value] of Object.entries(target)) {
      if (key === "default" || conditions.includes(key)) {
        const r = exportsTarget(value, star, conditions);
        if (r) return r;
      }
    }
  }
  return undefined;
}

function resolveExports(exp: unknown, subpath: string, conditions: string[]): string | undefined {
  const isSubpathMap =
    exp &&
    typeof exp === "object" &&
    !Array.isArray(exp) &&
    Object.keys(exp).some((k) => k.startsWith("."));
  const map = (isSubpathMap ? exp : { ".": exp }) as Record<string, unknown>;
  if (subpath in map) return exportsTarget(map[subpath], undefined, conditions);
  for (const [key, value] of Object.entries(map)) {
    const star = key.indexOf("*");
    if (star < 0) continue;
    const prefix = key.slice(0, star);
    const suffix = key.slice(star + 1);
    if (subpath.startsWith(prefix) && subpath.endsWith(suffix) && subpath.length >= key.length - 1)
      return exportsTarget(
        value,
        subpath.slice(prefix.length, subpath.length - suffix.length),
        conditions,
      );
  }
  return undefined;
}

/** ESM-style resolution of a bare specifier (for packages that only export "import"). */
function resolvePackageEsm(spec: string, fromDir: string): string | undefined {
  const parts = spec.split("/");
  const nameLen = spec.startsWith("@") ? 2 : 1;
  const name = parts.slice(0, nameLen).join("/");
  const subpath = parts.length > nameLen ? "./" + parts.slice(nameLen).join("/") : ".";
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    const pkgDir = path.join(dir, "node_modules", name);
    const pkg = readJson(path.join(pkgDir, "package.json"));
    if (pkg) {
      if (pkg.exports !== undefined) {
        const t = resolveExports(pkg.exports, subpath, ["node", "import", "module"]);
        return t ? path.join(pkgDir, t) : undefined;
      }
      return resolveLocal(
        subpath === "." ? path.join(pkgDir, pkg.main ?? "index.js") : path.join(pkgDir, subpath),
      );
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

const typeCache = new Map<string, string>();
/** "module" or "commonjs" for a .js file: the nearest package.json's "type". */
function packageType(file: string): string {
  const dir = path.dirname(file);
  const cached = typeCache.get(dir);
  if (cached) return cached;
  let type = "commonjs";
  for (let d = dir; ; d = path.dirname(d)) {
    const pkg = readJson(path.join(d, "package.json"));
    if (pkg) {
      type = pkg.type === "module" ? "module" : "commonjs";
      break;
    }
    if (path.dirname(d) === d) break;
  }
  typeCache.set(dir, type);
  return type;
}

function isEsm(file: string): boolean {
  if (file.endsWith(".mjs")) return true;
  // Local TypeScript is loaded as ESM (ts-esm-hooks.ts), except .cts; never inside node_modules.
  if (/\.(ts|mts|tsx)$/.test(file) && !file.includes(`${path.sep}node_modules${path.sep}`))
    return esmHooksInstalled;
  if (/\.(ts|mts|tsx|cts)$/.test(file)) return false;
  if (file.endsWith(".js")) return packageType(file) === "module";
  return false;
}

const namespaces = new WeakMap<object, Record<string, unknown>>();

/** esModuleInterop's view of a CommonJS module's exports. */
export function interopNamespace(exports: unknown): Record<string, unknown> {
  if ((typeof exports === "object" || typeof exports === "function") && exports !== null) {
    if ((exports as { __esModule?: boolean }).__esModule) return exports as Record<string, unknown>;
    const known = namespaces.get(exports);
    if (known) return known;
    const ns: Record<string, unknown> = {};
    for (const key of Object.keys(exports)) {
      try {
        ns[key] = (exports as Record<string, unknown>)[key];
      } catch {
        // A throwing getter is skipped, as in TypeScript's __importStar.
      }
    }
    ns.default = exports;
    namespaces.set(exports, ns);
    return ns;
  }
  return { default: exports };
}

export interface Importer {
  import(spec: unknown): Promise<Record<string, unknown>>;
  require(spec: unknown): unknown;
  /** The absolute file a specifier names (builtins as "node:x"). */
  resolve(spec: string): string;
}

let esmHooksInstalled = false;
/** Registers ts-esm-hooks once per thread; without it (an old Node) .ts stays CommonJS. */
function installEsmHooks(): void {
  if (esmHooksInstalled || typeof register !== "function") return;
  try {
    register(pathToFileURL(path.join(__dirname, "ts-esm-hooks.js")).href);
    esmHooksInstalled = true;
  } catch {
    // .ts files then load through the CommonJS require hook
  }
}

let hookInstalled = false;
/** Lets require() load local .ts files, compiled to CommonJS with their source maps kept. */
function installTsHook(maps: SourceMaps) {
  if (hookInstalled) return;
  hookInstalled = true;
  const extensions = (Module as unknown as { _extensions: Record<string, unknown> })._extensions;
  for (const ext of TS_EXTENSIONS) {
    extensions[ext] = (mod: { _compile(code: string, file: string): void }, filename: string) => {
      const source = fs.readFileSync(filename, "utf8");
      const out = emitCommonJs(source, filename);
      if (out.diagnostics.length) {
        const d = out.diagnostics[0];
        const err = new SyntaxError(`${d.message} (${filename}:${d.line}:${d.column})`);
        throw err;
      }
      maps.register(filename, out.map, source);
      mod._compile(out.js, filename);
    };
  }
}

export function createImporter(cwd: string, maps: SourceMaps): Importer {
  installTsHook(maps);
  installEsmHooks();
  const req = createRequire(path.join(cwd, "__moelab_cell__.js"));

  function resolve(spec: string): string {
    if (typeof spec !== "string" || !spec)
      throw new TypeError(`import needs a module name, got ${JSON.stringify(spec)}`);
    if (isBuiltin(spec)) return spec.startsWith("node:") ? spec : "node:" + spec;
    if (spec === "moelab") return MOELAB_ENTRY;
    if (spec.startsWith("moelab/")) {
      const p = resolveLocal(path.join(MOELAB_LIB, spec.slice("moelab/".length)));
      if (p) return p;
    }
    if (spec.startsWith("file:")) spec = new URL(spec).pathname;
    if (spec.startsWith(".") || path.isAbsolute(spec)) {
      const p = resolveLocal(path.resolve(cwd, spec));
      if (p) return p;
      throw Object.assign(
        new Error(
          `Cannot find module "${spec}": no file ${path.resolve(cwd, spec)}(.ts|.js|...) (local imports resolve from the notebook folder ${cwd})`,
        ),
        { code: "MODULE_NOT_FOUND" },
      );
    }
    try {
      return req.resolve(spec);
    } catch (e) {
      const esm = resolvePackageEsm(spec, cwd);
      if (esm && isFile(esm)) return esm;
      const name = spec.startsWith("@")
        ? spec.split("/").slice(0, 2).join("/")
        : spec.split("/")[0];
      const why =
        (e as { code?: string }).code === "ERR_PACKAGE_PATH_NOT_EXPORTED"
          ? `the package "${name}" does not export "${spec}"`
          : `no package "${name}" in node_modules from ${cwd} upwards (npm install ${name} in the notebook's folder)`;
      throw Object.assign(new Error(`Cannot find module "${spec}": ${why}`), {
        code: "MODULE_NOT_FOUND",
      });
    }
  }

  async function importModule(spec: unknown): Promise<Record<string, unknown>> {
    const file = resolve(spec as string);
    if (file.startsWith("node:")) return interopNamespace(req(file));
    if (isEsm(file)) return dynamicImport(pathToFileURL(file).href);
    return interopNamespace(req(file));
  }

  function requireModule(spec: unknown): unknown {
    return req(resolve(spec as string));
  }

  return { import: importModule, require: requireModule, resolve };
}
