/**
 * The `moelab` command line: `kernel`, `install`, `run`. Everything is loaded on demand so the
 * kernel's cold start pays only for what it uses.
 */

type InstallModule = typeof import("./install.js");
type RunModule = typeof import("./runner/run.js");
interface KernelMain {
  startKernel(connectionFile: string, options?: unknown): Promise<unknown>;
}

const USAGE = `usage: moelab <command> [options]

commands:
  kernel --connection-file F   run the Jupyter kernel on connection file F (Jupyter starts this)
  install [--user | --prefix P | --sys-prefix] [--name N] [--display-name D] [--strict]
                               install the kernelspec for JupyterLab, Notebook, VS Code
  run NOTEBOOK [--out FILE] [--html FILE] [--allow-errors] [--timeout S]
                               execute a notebook with the kernel; write it and an HTML copy
  --version                    print moelab's version

"moelab <command> --help" describes a command.`;

/** A usage error: printed with the usage line, exit code 2. */
class UsageError extends Error {}

// Lazy loads: plain require keeps the CommonJS fast path (no ESM loader) on cold start.
/* eslint-disable @typescript-eslint/no-require-imports */
const load = {
  install: (): InstallModule => require("./install.js"),
  run: (): RunModule => require("./runner/run.js"),
  main: (): KernelMain => require("./main.js"),
};
/* eslint-enable @typescript-eslint/no-require-imports */

function parseKernelArgs(argv: string[]): string | "help" {
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-h" || a === "--help") return "help";
    if (a === "-f" || a === "--connection-file") {
      file = argv[++i];
      if (file === undefined) throw new UsageError(`${a} needs a file`);
    } else if (a.startsWith("--connection-file=")) file = a.slice("--connection-file=".length);
    else if (a.startsWith("-f=")) file = a.slice(3);
    else throw new UsageError(`unknown argument ${a}`);
  }
  if (!file) throw new UsageError("moelab kernel needs --connection-file FILE");
  return file;
}

async function kernel(argv: string[]): Promise<void> {
  const file = parseKernelArgs(argv);
  if (file === "help") {
    console.log("usage: moelab kernel --connection-file FILE   (alias -f FILE)");
    return;
  }
  await load.main().startKernel(file);
}

function install(argv: string[]): void {
  const m = load.install();
  let opts;
  try {
    opts = m.parseInstallArgs(argv);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (opts === "help") {
    console.log(m.INSTALL_USAGE);
    return;
  }
  const dir = m.installKernelSpec(opts);
  console.log(`installed kernelspec "${opts.name ?? "moelab"}" in ${dir}`);
}

async function run(argv: string[]): Promise<void> {
  const m = load.run();
  let opts;
  try {
    opts = m.parseRunArgs(argv);
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${m.RUN_USAGE.split("\n")[0]}`);
  }
  if (opts === "help") {
    console.log(m.RUN_USAGE);
    return;
  }
  const t0 = Date.now();
  let r;
  try {
    r = await m.runNotebook({
      ...opts,
      handleSignals: true,
      log: (l) => process.stderr.write(`moelab run: ${l}\n`),
    });
  } catch (e) {
    // An unreadable notebook is bad input (exit 2); a failing kernel is a failed run (exit 1).
    if (e instanceof m.NotebookError) throw new UsageError(e.message);
    throw e;
  }
  const wrote = `wrote ${r.outPath}${r.htmlPath ? ` and ${r.htmlPath}` : ""}`;
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  if (r.firstError && !opts.allowErrors) {
    const e = r.firstError;
    process.stderr.write(
      `moelab run: cell ${e.cell} failed: ${e.ename}: ${e.evalue}\n(${wrote}, up to that cell)\n`,
    );
    process.exitCode = 1;
    return;
  }
  const note = r.firstError ? ` (errors allowed; first in cell ${r.firstError.cell})` : "";
  process.stderr.write(`moelab run: ${r.executed} code cells in ${secs} s${note}; ${wrote}\n`);
}

/** Entry point of bin/moelab.js. Sets process.exitCode; never throws. */
export async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case "kernel":
        return await kernel(rest);
      case "install":
        return install(rest);
      case "run":
        return await run(rest);
      case "--version":
      case "-v":
      case "version":
        console.log(readVersion());
        return;
      case undefined:
      case "-h":
      case "--help":
      case "help":
        console.log(USAGE);
        if (cmd === undefined) process.exitCode = 2;
        return;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(
        `moelab: ${e.message}\n${cmd === undefined || !["kernel", "install", "run"].includes(cmd) ? USAGE + "\n" : ""}`,
      );
      process.exitCode = 2;
    } else {
      process.stderr.write(`moelab ${cmd}: ${(e as Error).message ?? String(e)}\n`);
      process.exitCode = 1;
    }
  }
}

function readVersion(): string {
  const meta = load.install().kernelSpec().metadata.moelab as { version: string };
  return meta.version;
}
