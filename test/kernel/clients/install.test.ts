import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { inflateSync } from "node:zlib";
import { crc32, jupyterDataDir, logoPng } from "../../../kernel/install.js";
import { DEBIAN_PYTHON, needs, skipBecause } from "../../helpers/env.js";
import { ROOT } from "./kernelspec.js";

const BIN = path.join(ROOT, "bin", "moelab.js");

function moelab(args: string[], env: Record<string, string>) {
  return spawnSync(process.execPath, [BIN, ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
  });
}

/** Decodes our own PNGs far enough to check them: chunks, CRCs, size, pixel data length. */
function checkPng(buf: Buffer, size: number): void {
  assert.deepEqual([...buf.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  let at = 8;
  const idat: Buffer[] = [];
  let ihdr: Buffer | undefined;
  while (at < buf.length) {
    const len = buf.readUInt32BE(at);
    const type = buf.toString("ascii", at + 4, at + 8);
    const body = buf.subarray(at + 4, at + 8 + len);
    assert.equal(buf.readUInt32BE(at + 8 + len), crc32(body), `CRC of ${type}`);
    if (type === "IHDR") ihdr = body.subarray(4);
    if (type === "IDAT") idat.push(body.subarray(4));
    at += 12 + len;
  }
  assert.ok(ihdr);
  assert.equal(ihdr.readUInt32BE(0), size);
  assert.equal(ihdr.readUInt32BE(4), size);
  assert.equal(inflateSync(Buffer.concat(idat)).length, (size * 4 + 1) * size);
}

describe("moelab install", () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), "moelab-install-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("crc32 matches the standard check value", () => {
    assert.equal(crc32(Buffer.from("123456789")), 0xcbf43926);
  });

  it("finds the data dir from JUPYTER_DATA_DIR, else XDG_DATA_HOME, else ~/.local/share", function () {
    if (process.platform !== "linux")
      skipBecause(this, "Jupyter's data-dir rules checked here are Linux's");
    assert.equal(jupyterDataDir({ JUPYTER_DATA_DIR: "/a/b" }), "/a/b");
    assert.equal(jupyterDataDir({ XDG_DATA_HOME: "/x" }), "/x/jupyter");
    assert.equal(jupyterDataDir({ HOME: "/home/u" }), "/home/u/.local/share/jupyter");
  });

  it("writes kernel.json and three logos into the user data dir", () => {
    const r = moelab(["install"], { JUPYTER_DATA_DIR: dir });
    assert.equal(r.status, 0, r.stderr);
    const spec = path.join(dir, "kernels", "moelab");
    assert.match(r.stdout, /installed kernelspec "moelab"/);
    const k = JSON.parse(readFileSync(path.join(spec, "kernel.json"), "utf8"));
    assert.deepEqual(k.argv, [
      process.execPath,
      BIN,
      "kernel",
      "--connection-file",
      "{connection_file}",
    ]);
    assert.equal(k.display_name, "TypeScript (moelab)");
    assert.equal(k.language, "typescript");
    assert.equal(k.interrupt_mode, "message");
    assert.equal(k.env, undefined, "loose checking by default: no MOELAB_STRICT");
    assert.equal(typeof k.metadata.moelab.version, "string");
    checkPng(readFileSync(path.join(spec, "logo-32x32.png")), 32);
    checkPng(readFileSync(path.join(spec, "logo-64x64.png")), 64);
    assert.match(
      readFileSync(path.join(spec, "logo-svg.svg"), "utf8"),
      /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/,
    );
  });

  it("honours --prefix, --name and --display-name", () => {
    const r = moelab(
      ["install", "--prefix", dir, "--name", "ts-2.0_x", "--display-name", "TS two"],
      {},
    );
    assert.equal(r.status, 0, r.stderr);
    const k = JSON.parse(
      readFileSync(
        path.join(dir, "share", "jupyter", "kernels", "ts-2.0_x", "kernel.json"),
        "utf8",
      ),
    );
    assert.equal(k.display_name, "TS two");
  });

  it("--strict puts MOELAB_STRICT=1 in the kernelspec's env", () => {
    const r = moelab(["install", "--prefix", dir, "--name", "strict", "--strict"], {});
    assert.equal(r.status, 0, r.stderr);
    const k = JSON.parse(
      readFileSync(path.join(dir, "share", "jupyter", "kernels", "strict", "kernel.json"), "utf8"),
    );
    assert.deepEqual(k.env, { MOELAB_STRICT: "1" });
  });

  it("rejects invalid names and conflicting targets (exit 2), writing nothing", () => {
    for (const name of ["has space", "ü", "a/b", ".."]) {
      const r = moelab(["install", "--name", name], { JUPYTER_DATA_DIR: dir });
      assert.equal(r.status, 2, name);
      assert.match(r.stderr, /invalid kernel name/);
    }
    const both = moelab(["install", "--user", "--prefix", dir], { JUPYTER_DATA_DIR: dir });
    assert.equal(both.status, 2);
    assert.match(both.stderr, /only one of --user, --prefix, --sys-prefix/);
    assert.equal(existsSync(path.join(dir, "kernels")), false);
  });

  it("logos are drawn with an opaque middle and transparent corners", () => {
    const png = logoPng(32);
    const at = png.indexOf("IDAT");
    const raw = inflateSync(png.subarray(at + 4, at + 4 + png.readUInt32BE(at - 4)));
    const alpha = (x: number, y: number) => raw[y * (32 * 4 + 1) + 1 + x * 4 + 3];
    assert.equal(alpha(0, 0), 0);
    assert.equal(alpha(31, 31), 0);
    assert.equal(alpha(16, 16), 255);
  });

  it("jupyter_client finds the installed kernelspec", function () {
    needs(this, "jupyter_client");
    moelab(["install", "--name", "moelab-t"], { JUPYTER_DATA_DIR: dir });
    const py = spawnSync(
      DEBIAN_PYTHON,
      [
        "-c",
        "import json; from jupyter_client.kernelspec import KernelSpecManager as M; s=M().get_kernel_spec('moelab-t'); print(json.dumps([s.language, s.interrupt_mode, s.display_name]))",
      ],
      { encoding: "utf8", env: { ...process.env, JUPYTER_DATA_DIR: dir, JUPYTER_PATH: dir } },
    );
    assert.equal(py.status, 0, py.stderr);
    assert.deepEqual(JSON.parse(py.stdout), ["typescript", "message", "TypeScript (moelab)"]);
  });
});
