/**
 * Test support: starts Debian's jupyter-server on loopback with a token and connects
 * @jupyterlab/services to it (the client JupyterLab itself uses), over `ws` in Node.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { DEBIAN_PYTHON } from "../../helpers/env.js";
import { freePorts } from "../../../kernel/runner/client.js";

export interface Server {
  baseUrl: string;
  token: string;
  process: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

/** Starts jupyter-server with `env` (which points JUPYTER_PATH at the kernelspec); waits until up. */
export async function startServer(
  env: NodeJS.ProcessEnv,
  cwd: string,
  timeoutMs = 60000,
): Promise<Server> {
  const [port] = await freePorts(1);
  const token = randomBytes(16).toString("hex");
  const args = [
    "-m",
    "jupyter_server",
    "--ServerApp.ip=127.0.0.1",
    `--ServerApp.port=${port}`,
    "--ServerApp.port_retries=0",
    `--ServerApp.token=${token}`,
    "--ServerApp.open_browser=False",
    `--ServerApp.root_dir=${cwd}`,
  ];
  // Debian's server refuses to run as root unless told.
  if (process.getuid?.() === 0) args.push("--allow-root");
  const child = spawn(DEBIAN_PYTHON, args, { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout.on("data", (d: Buffer) => (log += d.toString()));
  child.stderr.on("data", (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const baseUrl = `http://127.0.0.1:${port}/`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    }
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`jupyter-server exited (${child.exitCode}):\n${log}`);
    try {
      const r = await fetch(`${baseUrl}api/status`, {
        headers: { Authorization: `token ${token}` },
      });
      if (r.ok) return { baseUrl, token, process: child, log: () => log, stop };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  await stop();
  throw new Error(`jupyter-server did not answer within ${timeoutMs} ms:\n${log}`);
}
