/**
 * Starts moelab's Jupyter kernel on a connection file: `moelab kernel --connection-file F`
 * (kernel/cli.ts) calls `startKernel(F)`. Tests start it in-process with fakes through the options.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Executor, Language } from "./contracts.js";
import { HistoryStore, historyFile, jupyterDataDir } from "./protocol/history.js";
import { Kernel } from "./protocol/kernel.js";
import { ConnectionInfo, Transport } from "./protocol/transport.js";
import { Signer } from "./wire/signing.js";

export type { ConnectionInfo } from "./protocol/transport.js";

export interface StartKernelOptions {
  /** Folder cells run in (relative imports); default process.cwd(). */
  cwd?: string;
  /** Default: kernel/executor's createExecutor. */
  createExecutor?: (opts: { cwd: string }) => Promise<Executor>;
  /** Default: kernel/language's createLanguage. */
  createLanguage?: (opts: { cwd: string }) => Language;
  /** Jupyter data directory holding moelab/history.jsonl; default as jupyter_core computes it. */
  dataDir?: string;
  /**
   * True (default): the kernel owns the process: a shutdown_request (restart or not) ends it
   * with exit code 0, as Jupyter's kernel managers expect, and SIGINT/SIGTERM are handled.
   * False (in-process tests): restart happens in place and shutdown only closes the kernel.
   */
  exitProcess?: boolean;
  /** Install SIGINT (interrupt) and SIGTERM (shutdown) handlers; default = exitProcess. */
  handleSignals?: boolean;
  /** Greet iopub subscribers with iopub_welcome (protocol 5.5); default true. */
  iopubWelcome?: boolean;
  /** Bound on one complete/inspect/is_complete answer from the language service; default 20 s. */
  languageTimeoutMs?: number;
  /** Log sink; default stderr with a "[moelab] " prefix. */
  log?: (line: string) => void;
}

export interface RunningKernel {
  /** The connection as bound (ports filled in where the file said 0). */
  readonly connection: ConnectionInfo;
  /** The kernel's current session id (changes on restart). */
  readonly session: string;
  /** The history file in use. */
  readonly historyFile: string;
  /** Resolves when the kernel has shut down and closed its sockets. */
  readonly closed: Promise<void>;
  /** Shuts down (without exiting the process): disposes the executor, closes sockets. */
  shutdown(): Promise<void>;
}

const PORT_FIELDS = ["shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"] as const;

/** Reads and validates a connection file; throws an Error naming the file and what is wrong. */
export function readConnectionFile(file: string): ConnectionInfo {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new Error(`cannot read the connection file ${file}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`the connection file ${file} is not valid JSON: ${(e as Error).message}`, {
      cause: e,
    });
  }
  return validateConnection(raw, file);
}

/** Validates a parsed connection file (see readConnectionFile). */
export function validateConnection(raw: unknown, file = "connection info"): ConnectionInfo {
  const bad = (what: string): Error => new Error(`the connection file ${file}: ${what}`);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw bad("is not a JSON object");
  const o = raw as Record<string, unknown>;
  const transport = o.transport ?? "tcp";
  if (transport !== "tcp" && transport !== "ipc") {
    throw bad(`transport must be "tcp" or "ipc", got ${JSON.stringify(transport)}`);
  }
  const ip = o.ip ?? "127.0.0.1";
  if (typeof ip !== "string" || ip === "")
    throw bad(`ip must be a non-empty string, got ${JSON.stringify(ip)}`);
  const key = o.key ?? "";
  if (typeof key !== "string") throw bad("key must be a string");
  const scheme = o.signature_scheme ?? "hmac-sha256";
  if (typeof scheme !== "string") throw bad("signature_scheme must be a string");
  try {
    new Signer(key, scheme);
  } catch (e) {
    throw bad((e as Error).message);
  }
  const ports: Record<string, number> = {};
  for (const f of PORT_FIELDS) {
    const p = o[f];
    if (typeof p !== "number" || !Number.isInteger(p) || p < 0 || p > 65535) {
      throw bad(`${f} must be an integer port 0..65535, got ${JSON.stringify(p)}`);
    }
    ports[f] = p;
  }
  return {
    transport,
    ip,
    key,
    signature_scheme: scheme,
    shell_port: ports.shell_port,
    iopub_port: ports.iopub_port,
    stdin_port: ports.stdin_port,
    control_port: ports.control_port,
    hb_port: ports.hb_port,
    ...(typeof o.kernel_name === "string" ? { kernel_name: o.kernel_name } : {}),
  };
}

/**
 * Set once stderr fails: when the launcher that read it has died, every write fails with EPIPE,
 * and logging that failure would fail again, forever (the kernel then spun and never exited).
 */
let stderrGone = false;

function defaultLog(line: string): void {
  if (stderrGone) return;
  process.stderr.write(`[moelab] ${line}\n`);
}

/** moelab's version, from the nearest package.json named moelab above this file. */
function packageVersion(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const p = join(dir, "package.json");
    if (existsSync(p)) {
      try {
        const pkg = JSON.parse(readFileSync(p, "utf8")) as { name?: string; version?: string };
        if (pkg.name === "moelab" && pkg.version) return pkg.version;
      } catch {
        // keep looking
      }
    }
    dir = dirname(dir);
  }
  return "0.0.0";
}

function typescriptVersion(): string {
  try {
    const p = require.resolve("typescript/package.json");
    return (JSON.parse(readFileSync(p, "utf8")) as { version: string }).version;
  } catch {
    return "5";
  }
}

// The executor and language modules are loaded by path so this file builds before they exist.
function loadPart<T>(folder: string, name: string): T {
  const file = join(__dirname, folder, "index.js");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(file) as Record<string, unknown>;
  if (typeof mod[name] !== "function") throw new Error(`${file} does not export ${name}()`);
  return mod[name] as T;
}

function defaultExecutor(opts: { cwd: string }): Promise<Executor> {
  try {
    return loadPart<(o: { cwd: string }) => Promise<Executor>>("executor", "createExecutor")(opts);
  } catch (e) {
    return Promise.reject(e);
  }
}

function defaultLanguage(opts: { cwd: string }): Language {
  return loadPart<(o: { cwd: string }) => Language>("language", "createLanguage")(opts);
}

/** Binds the sockets named by the connection file and serves until shut down. */
export async function startKernel(
  connectionFile: string,
  options: StartKernelOptions = {},
): Promise<RunningKernel> {
  const log = options.log ?? defaultLog;
  const conn = readConnectionFile(connectionFile);
  const exitProcess = options.exitProcess !== false;
  const handleSignals = options.handleSignals ?? exitProcess;
  const cwd = options.cwd ?? process.cwd();
  const signer = new Signer(conn.key, conn.signature_scheme);
  if (!signer.enabled) log("the connection file has an empty key: messages are not signed");
  const transport = new Transport(conn, signer, log);
  const history = new HistoryStore(historyFile(options.dataDir ?? jupyterDataDir()), log);
  const createExecutor = options.createExecutor ?? defaultExecutor;
  const createLanguage = options.createLanguage ?? defaultLanguage;

  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  let closing: Promise<void> | null = null;

  const onSigint = (): void => kernel.interruptFromSignal();
  const onSigterm = (): void => void finish(true);
  const onUncaught = (e: unknown): void => {
    if ((e as NodeJS.ErrnoException)?.code === "EPIPE") {
      stderrGone = true;
      return;
    }
    log(`uncaught error (the kernel keeps serving): ${(e as Error)?.stack ?? e}`);
  };

  const finish = (exit: boolean): Promise<void> => {
    if (!closing) {
      closing = (async () => {
        // Whatever hangs below (a worker, a socket waiting on a peer that is gone), the process
        // ends: its launcher asked it to, or is gone.
        if (exit && exitProcess) setTimeout(() => process.exit(0), 10000).unref();
        const disposed = kernel.dispose();
        // A stuck worker must not keep the process alive after shutdown (deno #20556).
        await Promise.race([disposed, new Promise((r) => setTimeout(r, 3000).unref())]);
        await transport.close();
        if (handleSignals) {
          process.off("SIGINT", onSigint);
          process.off("SIGTERM", onSigterm);
        }
        if (exitProcess)
          process.off("uncaughtException", onUncaught).off("unhandledRejection", onUncaught);
        resolveClosed();
        if (exit) {
          // A natural exit lets zeromq flush the last replies (linger); process.exit() would drop them.
          process.exitCode = 0;
          setTimeout(() => process.exit(0), 2000).unref();
        }
      })();
    }
    return closing;
  };

  const kernel: Kernel = new Kernel({
    outbox: transport,
    history,
    createExecutor: () => createExecutor({ cwd }),
    createLanguage: () => createLanguage({ cwd }),
    connection: () => bound ?? conn,
    implementationVersion: packageVersion(),
    typescriptVersion: typescriptVersion(),
    log,
    languageTimeoutMs: options.languageTimeoutMs,
    onShutdown: (restart) => {
      if (exitProcess) void finish(true);
      else if (restart) {
        void kernel.restart().catch((e) => log(`restart failed: ${(e as Error).message}`));
      } else void finish(false);
    },
  });

  let bound: ConnectionInfo | undefined;
  try {
    [bound] = await Promise.all([
      transport.start({
        onMessage: (channel, msg) => kernel.receive(channel, msg),
        onBadMessage: (channel, err) => kernel.receiveBad(channel, err),
        onSubscribe: options.iopubWelcome === false ? undefined : (topic) => kernel.welcome(topic),
      }),
      history.open(),
    ]);
  } catch (e) {
    await kernel.dispose().catch(() => undefined);
    await transport.close().catch(() => undefined);
    throw e;
  }
  if (PORT_FIELDS.some((f) => conn[f] === 0)) {
    // As ipykernel does: ports chosen by the kernel are written back for the client.
    try {
      const raw = JSON.parse(readFileSync(connectionFile, "utf8")) as Record<string, unknown>;
      for (const f of PORT_FIELDS) raw[f] = (bound as ConnectionInfo)[f];
      writeFileSync(connectionFile, JSON.stringify(raw, null, 1));
    } catch (e) {
      log(`cannot write the bound ports back to ${connectionFile}: ${(e as Error).message}`);
    }
  }
  if (handleSignals) {
    process.on("SIGINT", onSigint);
    process.on("SIGTERM", onSigterm);
  }
  if (exitProcess) process.on("uncaughtException", onUncaught).on("unhandledRejection", onUncaught);
  if (exitProcess) {
    process.stderr.on("error", () => (stderrGone = true));
    process.stdout.on("error", () => undefined);
  }
  if (exitProcess) watchParent(log, () => void finish(true));
  kernel.announce();

  return {
    connection: bound as ConnectionInfo,
    get session() {
      return kernel.session;
    },
    historyFile: history.file,
    closed,
    shutdown: () => finish(false),
  };
}

/**
 * A kernel whose launcher died (a crashed client, a killed `moelab run`) would otherwise run
 * forever: like ipykernel's parent poller, exit when the parent process is gone. The parent is
 * JPY_PARENT_PID when the launcher set it, else the process that started us.
 */
function watchParent(log: (line: string) => void, exit: () => void): void {
  const fromEnv = Number(process.env.JPY_PARENT_PID);
  const parent = Number.isInteger(fromEnv) && fromEnv > 1 ? fromEnv : process.ppid;
  if (parent <= 1) return;
  const timer = setInterval(() => {
    let alive = process.ppid === parent;
    if (!alive && parent !== process.ppid) {
      try {
        process.kill(parent, 0);
        alive = Number.isInteger(fromEnv) && fromEnv > 1;
      } catch {
        alive = false;
      }
    }
    if (!alive) {
      clearInterval(timer);
      log(`parent process ${parent} is gone: shutting down`);
      exit();
    }
  }, 1000);
  timer.unref();
}
