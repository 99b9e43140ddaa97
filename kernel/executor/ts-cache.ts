/**
 * Loads the `typescript` package through V8's code cache. Compiling its 9 MB of JavaScript is
 * most of the executor's start-up (0.3-1 s); with the cache written by an earlier start it is
 * about a quarter of that. Import this module before anything that imports "typescript": it puts
 * the loaded module into require's cache. Any failure falls back to a plain require.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as vm from "node:vm";
import Module from "node:module";

interface Loaded {
  script: vm.Script;
  cacheFile: string;
  hadCache: boolean;
}

let loaded: Loaded | undefined;

function cacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
  return path.join(base, "moelab");
}

function load(): void {
  const file = require.resolve("typescript");
  if (require.cache[file]) return;
  const pkg = JSON.parse(
    fs.readFileSync(path.join(path.dirname(file), "..", "package.json"), "utf8"),
  ) as { version: string };
  const key = `typescript-${pkg.version}-node-${process.version}-${process.arch}.v8cache`;
  const cacheFile = path.join(cacheDir(), key);
  let cachedData: Buffer | undefined;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const source = fs.readFileSync(file, "utf8");
  const script = new vm.Script(Module.wrap(source), { filename: file, cachedData });
  const mod = new Module(file, module);
  mod.filename = file;
  mod.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(
    path.dirname(file),
  );
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  const req = Module.createRequire(file);
  wrapper.call(mod.exports, mod.exports, req, mod, file, path.dirname(file));
  mod.loaded = true;
  require.cache[file] = mod;
  loaded = { script, cacheFile, hadCache: !!cachedData && !script.cachedDataRejected };
}

try {
  load();
} catch {
  // A plain require("typescript") by the next importer still works.
}

/** Writes the code cache (after warm-up, so the functions cells use are in it) when missing. */
export function saveTypeScriptCache(): void {
  if (!loaded || loaded.hadCache) return;
  try {
    const data = loaded.script.createCachedData();
    // Not { recursive: true }: Node 20 spins forever on it under /proc-like folders.
    const dir = path.dirname(loaded.cacheFile);
    for (const d of [path.dirname(dir), dir]) {
      try {
        fs.mkdirSync(d);
      } catch (e) {
        if ((e as { code?: string }).code !== "EEXIST") throw e;
      }
    }
    const tmp = `${loaded.cacheFile}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, loaded.cacheFile);
    loaded.hadCache = true;
  } catch {
    // No writable cache folder: every start compiles, nothing else changes.
  }
}
