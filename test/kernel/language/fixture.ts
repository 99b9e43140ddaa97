/** A notebook folder with a local module and an npm package carrying its own types. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export function makeNotebookDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "moelab-lang-"));
  const pkg = path.join(dir, "node_modules", "fake-pkg");
  fs.mkdirSync(pkg, { recursive: true });
  fs.writeFileSync(
    path.join(pkg, "package.json"),
    JSON.stringify({
      name: "fake-pkg",
      version: "1.0.0",
      exports: { ".": { types: "./index.d.ts", import: "./index.mjs" } },
    }),
  );
  fs.writeFileSync(
    path.join(pkg, "index.d.ts"),
    [
      "/** Says hello. */",
      "export declare function greet(name: string): string;",
      "export declare class Greeter { greetLoudly(name: string): string; greetQuietly(name: string): string }",
      "export declare const greeting: string;",
    ].join("\n"),
  );
  fs.writeFileSync(path.join(pkg, "index.mjs"), "export const greeting = 'hi';\n");
  fs.writeFileSync(
    path.join(dir, "helper.ts"),
    "export function helperValue(): number { return 3; }\n",
  );
  return dir;
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** dist/lib/index.d.ts, as createLanguage locates it from dist/kernel/language. */
export const MOELAB_TYPES = path.resolve(__dirname, "..", "..", "..", "lib", "index.d.ts");
