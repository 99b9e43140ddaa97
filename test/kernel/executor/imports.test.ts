import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createExecutor } from "../../../kernel/executor/index.js";
import type { Executor } from "../../../kernel/contracts.js";
import { makeNotebookDir, run, value } from "./helpers.js";

describe("executor: imports from the notebook folder", function () {
  let ex: Executor;
  let nbDir: string;
  before(async () => {
    nbDir = makeNotebookDir();
    ex = await createExecutor({ cwd: nbDir });
  });
  after(async () => {
    await ex.dispose();
  });

  it("CommonJS packages: named, namespace and default interop", async () => {
    assert.equal(await value(ex, "import { add } from 'cjs-pkg';\nadd(2, 3)"), "5");
    assert.equal(await value(ex, "import * as cp from 'cjs-pkg';\ncp.kind"), "'cjs'");
    assert.equal(await value(ex, "import cpd from 'cjs-pkg';\ncpd.kind"), "'cjs'");
    assert.equal(await value(ex, "import hello from 'cjs-fn';\nhello('you')"), "'hello you'");
  });

  it("ESM-only packages through a real import(), subpath exports too", async () => {
    assert.equal(
      await value(
        ex,
        "import esmDefault, { twice } from 'esm-only';\n[esmDefault, twice(4)].join()",
      ),
      "'esm default,8'",
    );
    assert.equal(await value(ex, "import { extra } from 'esm-only/extra';\nextra"), "'extra'");
    assert.equal(await value(ex, "(await import('esm-only')).twice(5)"), "10");
  });

  it("side-effect imports run the module", async () => {
    await value(ex, "import 'side-effect';");
    assert.equal(await value(ex, "(globalThis as any).sideEffectRan"), "1");
  });

  it("node: builtins, with and without the prefix", async () => {
    assert.equal(await value(ex, "import { join } from 'node:path';\njoin('a', 'b')"), "'a/b'");
    assert.equal(await value(ex, "import os2 from 'os';\ntypeof os2.cpus"), "'function'");
    assert.equal(
      await value(ex, "import * as fsp from 'node:fs/promises';\ntypeof fsp.readFile"),
      "'function'",
    );
  });

  it("local .ts files compiled on the fly (also with a .js suffix and from subfolders)", async () => {
    assert.equal(
      await value(ex, "import Point, { triple } from './util';\ntriple(new Point(2, 0).x)"),
      "6",
    );
    assert.equal(await value(ex, "import { triple as t3 } from './util.js';\nt3(1)"), "3");
    assert.equal(await value(ex, "import { nine } from './sub/more.ts';\nnine"), "9");
  });

  it("local .ts files load as ES modules: import.meta, top-level await, ESM-only packages", async () => {
    fs.writeFileSync(
      path.join(nbDir, "modern.ts"),
      [
        "import { twice } from 'esm-only';",
        "import { triple } from './util';",
        "const wait: number = await Promise.resolve(7);",
        "export const where: string = import.meta.url;",
        "export const value = twice(triple(wait));",
        "export const isModule = typeof exports === 'undefined';",
      ].join("\n"),
    );
    const r = await value(
      ex,
      "import * as mod from './modern.ts';\n[mod.value, mod.isModule, mod.where.endsWith('/modern.ts')].join()",
    );
    assert.equal(r, "'42,true,true'");
    // .cts stays CommonJS.
    fs.writeFileSync(path.join(nbDir, "old.cts"), "export const kind: string = typeof module;\n");
    assert.equal(await value(ex, "import { kind } from './old.cts';\nkind"), "'object'");
  });

  it("local .js and .mjs files", async () => {
    assert.equal(await value(ex, "import { five } from './helper.js';\nfive"), "5");
    assert.equal(await value(ex, "import { six } from './esm.mjs';\nsix"), "6");
    assert.equal(await value(ex, "require('./helper').five"), "5");
  });

  it("errors inside local .ts files point at the .ts line", async () => {
    const r = await run(ex, "import { fail } from './util';\nfail('bad');");
    assert.equal(r.outcome.status, "error");
    if (r.outcome.status !== "error") return;
    assert.equal(r.outcome.evalue, "util: bad");
    const tb = r.outcome.traceback.join("\n");
    assert.match(tb, /util\.ts:6:\d+/);
    assert.match(tb, /In\[\d+\]:2:1/);
  });

  it("unknown modules and broken local files give clear errors", async () => {
    const r = await run(ex, "import { nope } from 'not-installed-anywhere';");
    assert.equal(r.outcome.status, "error");
    if (r.outcome.status === "error") {
      assert.match(r.outcome.evalue, /Cannot find module "not-installed-anywhere"/);
      assert.match(r.outcome.traceback.join("\n"), /In\[\d+\]:1:1/);
    }
    const local = await run(ex, "import './missing-file';");
    if (local.outcome.status === "error")
      assert.match(local.outcome.evalue, /Cannot find module "\.\/missing-file"/);
    else assert.fail("expected an error");
    const broken = await run(ex, "import './broken';");
    assert.equal(broken.outcome.status, "error");
    if (broken.outcome.status === "error") assert.match(broken.outcome.evalue, /broken\.ts:1:/);
  });

  it("import.meta and __dirname describe the notebook folder", async () => {
    const dir = await value(ex, "__dirname");
    assert.equal(await value(ex, "import.meta.dirname === __dirname"), "true");
    assert.equal(
      await value(ex, "new URL('./util.ts', import.meta.url).pathname"),
      `'${JSON.parse(dir!.replace(/'/g, '"'))}/util.ts'`,
    );
    assert.match((await value(ex, "import.meta.resolve('cjs-pkg')"))!, /cjs-pkg\/lib\/main\.js'$/);
  });

  it("moelab itself resolves from any folder", async () => {
    const other = await createExecutor({ cwd: os.tmpdir() });
    try {
      assert.equal(
        await value(other, "import { version } from 'moelab';\ntypeof version"),
        "'string'",
      );
    } finally {
      await other.dispose();
    }
  });
});
