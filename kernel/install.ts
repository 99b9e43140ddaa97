/**
 * `moelab install`: writes the kernelspec (kernel.json and three logos) where Jupyter looks for
 * kernels, with no Python involved. The PNG logos are drawn and encoded here (zlib + CRC-32).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import * as path from "node:path";
import { deflateSync } from "node:zlib";

export interface InstallOptions {
  /** Where: the user's data dir (default), PREFIX/share/jupyter, or the Python env's prefix. */
  target?: { kind: "user" } | { kind: "prefix"; prefix: string } | { kind: "sys-prefix" };
  /** Kernelspec name (folder name): ASCII letters, digits, "-", "." and "_". Default "moelab". */
  name?: string;
  displayName?: string;
  /** Strict type checking of cells (kernel.json's env gets MOELAB_STRICT=1). */
  strict?: boolean;
  /** Overrides the environment used to find the data dir (tests). */
  env?: NodeJS.ProcessEnv;
}

export interface KernelSpec {
  argv: string[];
  display_name: string;
  language: string;
  interrupt_mode: "message" | "signal";
  env?: Record<string, string>;
  metadata: Record<string, unknown>;
}

const ROOT = path.resolve(__dirname, "..", "..");

/** The user's Jupyter data directory, as jupyter_core computes it. */
export function jupyterDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.JUPYTER_DATA_DIR) return path.resolve(env.JUPYTER_DATA_DIR);
  const home = env.HOME || homedir();
  if (process.platform === "darwin") return path.join(home, "Library", "Jupyter");
  if (process.platform === "win32")
    return path.join(env.APPDATA || path.join(home, "AppData", "Roaming"), "jupyter");
  const xdg = env.XDG_DATA_HOME || path.join(home, ".local", "share");
  return path.join(xdg, "jupyter");
}

/** Throws unless `name` is a valid kernelspec name. */
export function validateName(name: string): void {
  if (!/^[A-Za-z0-9._-]+$/.test(name) || name === "." || name === "..") {
    throw new Error(
      `invalid kernel name ${JSON.stringify(name)}: use only ASCII letters, digits, "-", "." and "_"`,
    );
  }
}

function pythonPrefix(env: NodeJS.ProcessEnv): string {
  if (env.VIRTUAL_ENV) return env.VIRTUAL_ENV;
  if (env.CONDA_PREFIX) return env.CONDA_PREFIX;
  for (const py of ["python3", "python"]) {
    const r = spawnSync(py, ["-c", "import sys; print(sys.prefix)"], { encoding: "utf8", env });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  throw new Error(
    "--sys-prefix: no Python environment found (no VIRTUAL_ENV, CONDA_PREFIX or python3)",
  );
}

/** The kernels/ folder a target writes into. */
export function kernelsDir(options: InstallOptions = {}): string {
  const env = options.env ?? process.env;
  const t = options.target ?? { kind: "user" };
  if (t.kind === "user") return path.join(jupyterDataDir(env), "kernels");
  const prefix = t.kind === "prefix" ? path.resolve(t.prefix) : pythonPrefix(env);
  return path.join(prefix, "share", "jupyter", "kernels");
}

function packageVersion(): string {
  try {
    return String(JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")).version);
  } catch {
    return "unknown";
  }
}

/** kernel.json's contents: this Node and this checkout's bin/moelab.js, by absolute path. */
export function kernelSpec(
  displayName = "TypeScript (moelab)",
  opts: { strict?: boolean } = {},
): KernelSpec {
  return {
    argv: [
      process.execPath,
      path.join(ROOT, "bin", "moelab.js"),
      "kernel",
      "--connection-file",
      "{connection_file}",
    ],
    display_name: displayName,
    language: "typescript",
    interrupt_mode: "message",
    ...(opts.strict ? { env: { MOELAB_STRICT: "1" } } : {}),
    metadata: { moelab: { version: packageVersion() } },
  };
}

/** Writes the kernelspec; returns the folder written. */
export function installKernelSpec(options: InstallOptions = {}): string {
  const name = options.name ?? "moelab";
  validateName(name);
  const dir = path.join(kernelsDir(options), name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, "kernel.json"),
    JSON.stringify(kernelSpec(options.displayName, { strict: options.strict }), null, 2) + "\n",
  );
  writeFileSync(path.join(dir, "logo-32x32.png"), logoPng(32));
  writeFileSync(path.join(dir, "logo-64x64.png"), logoPng(64));
  writeFileSync(path.join(dir, "logo-svg.svg"), LOGO_SVG);
  return dir;
}

// ---- the logo: four "experts" on a rounded navy square, one of them routed to (highlighted) ----

const BG: RGB = [31, 59, 115];
const DOTS: { x: number; y: number; c: RGB }[] = [
  { x: 0.32, y: 0.32, c: [240, 180, 41] },
  { x: 0.68, y: 0.32, c: [120, 160, 220] },
  { x: 0.32, y: 0.68, c: [120, 160, 220] },
  { x: 0.68, y: 0.68, c: [120, 160, 220] },
];
type RGB = [number, number, number];

export const LOGO_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 1 1">
<rect width="1" height="1" rx="0.18" fill="rgb(${BG.join(",")})"/>
${DOTS.map((d) => `<circle cx="${d.x}" cy="${d.y}" r="0.13" fill="rgb(${d.c.join(",")})"/>`).join("\n")}
</svg>
`;

/** Colour and coverage of one point in the unit square. */
function shade(u: number, v: number): [number, number, number, number] {
  const r = 0.18;
  const cx = Math.min(Math.max(u, r), 1 - r);
  const cy = Math.min(Math.max(v, r), 1 - r);
  if ((u - cx) ** 2 + (v - cy) ** 2 > r * r) return [0, 0, 0, 0];
  for (const d of DOTS) if ((u - d.x) ** 2 + (v - d.y) ** 2 <= 0.13 ** 2) return [...d.c, 255];
  return [...BG, 255];
}

/** A size x size RGBA logo, 4x4 supersampled, as PNG bytes. */
export function logoPng(size: number): Buffer {
  const rgba = Buffer.alloc(size * size * 4);
  const S = 4;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const acc = [0, 0, 0, 0];
      for (let sy = 0; sy < S; sy++) {
        for (let sx = 0; sx < S; sx++) {
          const p = shade((x + (sx + 0.5) / S) / size, (y + (sy + 0.5) / S) / size);
          for (let k = 0; k < 3; k++) acc[k] += p[k] * p[3];
          acc[3] += p[3];
        }
      }
      const o = (y * size + x) * 4;
      const a = acc[3];
      for (let k = 0; k < 3; k++) rgba[o + k] = a ? Math.round(acc[k] / a) : 0;
      rgba[o + 3] = Math.round(a / (S * S));
    }
  }
  return encodePng(size, size, rgba);
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE) as PNG chunks use it. */
export function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** Encodes 8-bit RGBA pixels (row-major) as a PNG (filter 0 on every row). */
export function encodePng(width: number, height: number, rgba: Uint8Array): Buffer {
  if (rgba.length !== width * height * 4)
    throw new Error("encodePng: pixel buffer has the wrong size");
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // colour type RGBA
  const raw = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 4 + 1)] = 0;
    Buffer.from(rgba.buffer, rgba.byteOffset + y * width * 4, width * 4).copy(
      raw,
      y * (width * 4 + 1) + 1,
    );
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

export const INSTALL_USAGE = `usage: moelab install [--user | --prefix P | --sys-prefix] [--name N] [--display-name D] [--strict]

Writes the moelab kernelspec (kernel.json + logos) so JupyterLab, Notebook, VS Code and
jupyter_client can start the kernel.
  --user           into the user's Jupyter data dir (default): $JUPYTER_DATA_DIR, else
                   $XDG_DATA_HOME/jupyter, else ~/.local/share/jupyter
  --prefix P       into P/share/jupyter/kernels
  --sys-prefix     into the active Python environment's prefix (VIRTUAL_ENV, CONDA_PREFIX, python3)
  --name N         kernelspec name (default "moelab"; letters, digits, "-", "." and "_")
  --display-name D name shown in launchers (default "TypeScript (moelab)")
  --strict         strict type checking of cells (noImplicitAny and the rest): the kernelspec's
                   env gets MOELAB_STRICT=1 (default: loose; typecheck({ strict }) in a cell
                   changes it for a session)`;

/** Parses `moelab install` arguments. */
export function parseInstallArgs(argv: string[]): InstallOptions | "help" {
  const o: InstallOptions = {};
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith("--")) throw new Error(`${flag} needs a value`);
    return v;
  };
  const setTarget = (t: NonNullable<InstallOptions["target"]>) => {
    if (o.target && o.target.kind !== t.kind)
      throw new Error("give only one of --user, --prefix, --sys-prefix");
    o.target = t;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-h" || a === "--help") return "help";
    else if (a === "--user") setTarget({ kind: "user" });
    else if (a === "--sys-prefix") setTarget({ kind: "sys-prefix" });
    else if (a === "--prefix") setTarget({ kind: "prefix", prefix: value(i++, a) });
    else if (a === "--name") o.name = value(i++, a);
    else if (a === "--display-name") o.displayName = value(i++, a);
    else if (a === "--strict") o.strict = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (o.name !== undefined) validateName(o.name);
  return o;
}
