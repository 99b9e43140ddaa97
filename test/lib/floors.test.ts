/**
 * The floors of lib/: every import runs down (tensor → fp8 → config → io → nn → model → data →
 * train → inspect → viz → lab → index), and kernel/ never imports lib/ (nor lib/ kernel/). Read from the
 * sources' own import statements, so a new upward arrow fails here before it sets.
 */
import * as assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";

const ROOT = path.join(__dirname, "..", "..", "..");
export const FLOORS = [
  "tensor",
  "fp8",
  "config",
  "io",
  "nn",
  "model",
  "data",
  "train",
  "inspect",
  "viz",
  "lab",
] as const;

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (name.endsWith(".ts") && !name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

/** Every module a file names: static imports and re-exports, import(), require(). */
export function specifiers(source: string): string[] {
  // Comments go first, so an example in a doc comment is not an import.
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
  const out: string[] = [];
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?[^"'`;]*?\bfrom\s*["']([^"']+)["']/g,
    /\bimport\s*["']([^"']+)["']/g,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
    /\brequire\s*\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) out.push(m[1]);
  return out;
}

/** lib/<floor>/... -> the floor's index (lib/index.ts is above every floor); -1 outside lib/. */
function floorOf(file: string): { floor: number; name: string } {
  const rel = path.relative(path.join(ROOT, "lib"), file).split(path.sep);
  if (rel[0] === "..") return { floor: -1, name: "(outside lib)" };
  if (rel.length === 1) return { floor: FLOORS.length, name: "index" };
  const i = FLOORS.indexOf(rel[0] as (typeof FLOORS)[number]);
  return { floor: i, name: rel[0] };
}

interface Arrow {
  from: string;
  to: string;
  spec: string;
}

function arrows(dir: string): Arrow[] {
  const out: Arrow[] = [];
  for (const file of tsFiles(dir))
    for (const spec of specifiers(readFileSync(file, "utf8")))
      if (spec.startsWith(".")) {
        const to = path.resolve(path.dirname(file), spec).replace(/\.js$/, ".ts");
        out.push({ from: file, to, spec });
      }
  return out;
}

const rel = (p: string): string => path.relative(ROOT, p);

describe("lib/ floors (the import graph)", () => {
  it("reads imports, re-exports, import() and require(), but not comments", () => {
    const src = [
      'import * as T from "../tensor/index.js";',
      'export { x } from "./x.js";',
      'import type { Y } from "../y.js";',
      'const z = await import("../z.js");',
      'const w = require("./w.js");',
      '/** e.g. import { Q } from "../q.js" */',
      '// import { R } from "../r.js"',
      'import "./side-effect.js";',
    ].join("\n");
    assert.deepEqual(specifiers(src).sort(), [
      "../tensor/index.js",
      "../y.js",
      "../z.js",
      "./side-effect.js",
      "./w.js",
      "./x.js",
    ]);
  });

  it("every folder of lib/ stands on a floor", () => {
    const folders = readdirSync(path.join(ROOT, "lib")).filter((n) =>
      statSync(path.join(ROOT, "lib", n)).isDirectory(),
    );
    const unplaced = folders.filter((f) => !(FLOORS as readonly string[]).includes(f));
    assert.deepEqual(unplaced, [], `folders not on a floor (add them to FLOORS and the README)`);
  });

  it("every import in lib/ runs down a floor or stays on its own", () => {
    const up: string[] = [];
    for (const a of arrows(path.join(ROOT, "lib"))) {
      const f = floorOf(a.from);
      const t = floorOf(a.to);
      if (t.floor === -1) up.push(`${rel(a.from)} imports ${a.spec}, outside lib/`);
      else if (t.floor > f.floor)
        up.push(`${rel(a.from)} (${f.name}) imports ${a.spec} (${t.name}), a higher floor`);
    }
    assert.deepEqual(up, []);
  });

  it("no two floors import each other", () => {
    const pairs = new Set<string>();
    for (const a of arrows(path.join(ROOT, "lib"))) {
      const f = floorOf(a.from).name;
      const t = floorOf(a.to).name;
      if (f !== t) pairs.add(`${f}>${t}`);
    }
    const both = [...pairs].filter((p) => pairs.has(p.split(">").reverse().join(">")));
    assert.deepEqual(both, []);
  });

  it("kernel/ never imports lib/", () => {
    const bad = arrows(path.join(ROOT, "kernel"))
      .filter((a) => !path.relative(path.join(ROOT, "lib"), a.to).startsWith(".."))
      .map((a) => `${rel(a.from)} imports ${a.spec}`);
    assert.deepEqual(bad, []);
  });

  it("finds an upward import when there is one", () => {
    // The check itself, on a made-up arrow: nn importing model is a floor up.
    const from = floorOf(path.join(ROOT, "lib", "nn", "moe.ts"));
    const to = floorOf(path.join(ROOT, "lib", "model", "transformer.ts"));
    assert.ok(to.floor > from.floor);
    assert.equal(floorOf(path.join(ROOT, "kernel", "main.ts")).floor, -1);
  });
});
