/**
 * Kernel benchmark: moelab against Debian's ipykernel and tslab (the TypeScript kernel, npm
 * `tslab`, installed on first use into .cache/peers/tslab), measured in the same run, interleaved.
 *   - execute round trip of `1 + 1`: request sent -> execute_reply AND iopub idle received
 *     (median and p90 over N, default 200; moelab with type checking on, as by default);
 *   - cold start: process launch -> first execute_reply of `1 + 1` (median over L launches).
 * Targets: round trip <= 0.5x ipykernel's and <= tslab's, cold start <= 0.8x ipykernel's.
 * Usage: node dist/bench/kernel.js [--n N] [--launches L] [--no-tslab]   (MOELAB_QUICK=1: N=50, L=3)
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { KernelClient, newConnectionInfo } from "../kernel/runner/client.js";
import { RunningKernel, moelabKernelCommand } from "../kernel/runner/kernel-process.js";

const DEBIAN_PYTHON = "/usr/bin/python3";

interface Peer {
  name: string;
  command: string[];
}

const TSLAB_VERSION = "1.0.22";
const TSLAB_DIR = path.join(__dirname, "..", "..", ".cache", "peers", "tslab");

/**
 * tslab's kernel command, installing the pinned version into .cache/peers/tslab on first use (the
 * npm registry must be reachable then); null, with the reason printed, when it cannot be had.
 */
function tslabCommand(): string[] | null {
  const bin = path.join(TSLAB_DIR, "node_modules", "tslab", "bin", "tslab");
  if (!existsSync(bin)) {
    console.log(`installing tslab@${TSLAB_VERSION} into ${TSLAB_DIR} (once)`);
    mkdirSync(TSLAB_DIR, { recursive: true });
    writeFileSync(
      path.join(TSLAB_DIR, "package.json"),
      JSON.stringify({ name: "moelab-bench-tslab", private: true }),
    );
    const r = spawnSync(
      "npm",
      ["install", `tslab@${TSLAB_VERSION}`, "--no-audit", "--no-fund", "--silent"],
      { cwd: TSLAB_DIR, stdio: "inherit", timeout: 600_000 },
    );
    if (r.status !== 0 || !existsSync(bin)) {
      console.log(`(tslab could not be installed: npm exited ${r.status}; compared without it)`);
      return null;
    }
  }
  return [process.execPath, bin, "kernel", "--config-path", "{connection_file}"];
}

function peers(withTslab: boolean): Peer[] {
  const out: Peer[] = [{ name: "moelab", command: moelabKernelCommand() }];
  if (existsSync(DEBIAN_PYTHON))
    out.push({
      name: "ipykernel",
      command: [DEBIAN_PYTHON, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
    });
  else console.log("(ipykernel not found: install python3-ipykernel to compare)");
  const tslab = withTslab ? tslabCommand() : null;
  if (tslab) out.push({ name: "tslab", command: tslab });
  return out;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const at = (s.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return s[lo] + (s[hi] - s[lo]) * (at - lo);
}

/** Launch -> first execute_reply of `1 + 1`; the request is queued before the kernel binds. */
async function coldStart(peer: Peer): Promise<number> {
  const info = await newConnectionInfo();
  const dir = mkdtempSync(path.join(tmpdir(), "moelab-bench-"));
  const file = path.join(dir, "kernel.json");
  writeFileSync(file, JSON.stringify(info), { mode: 0o600 });
  const argv = peer.command.map((a) => a.replace("{connection_file}", file));
  const t0 = performance.now();
  const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "ignore", "pipe"], cwd: dir });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const client = new KernelClient(info, { reconnectIntervalMs: 5 });
  try {
    const exited = new Promise<never>((_, reject) =>
      child.once("exit", (c) =>
        reject(new Error(`${peer.name} exited (${c}) during cold start:\n${stderr}`)),
      ),
    );
    const { reply } = client.request(
      "shell",
      "execute_request",
      {
        code: "1 + 1",
        silent: false,
        store_history: true,
        user_expressions: {},
        allow_stdin: false,
        stop_on_error: true,
      },
      60000,
    );
    const r = await Promise.race([reply, exited]);
    const t = performance.now() - t0;
    if (r.content.status !== "ok")
      throw new Error(`${peer.name}: 1 + 1 failed: ${JSON.stringify(r.content)}`);
    await client
      .request("control", "shutdown_request", { restart: false }, 5000)
      .reply.catch(() => undefined);
    return t;
  } finally {
    client.close();
    const done = new Promise<void>((r) =>
      child.exitCode !== null ? r() : child.once("exit", () => r()),
    );
    const kill = setTimeout(() => child.kill("SIGKILL"), 5000);
    await done;
    clearTimeout(kill);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function roundTrip(k: RunningKernel): Promise<number> {
  const t0 = performance.now();
  const { done } = k.client.execute("1 + 1", { timeoutMs: 30000 });
  const reply = await done;
  const t = performance.now() - t0;
  if (reply.content.status !== "ok")
    throw new Error(`1 + 1 failed: ${JSON.stringify(reply.content)}`);
  return t;
}

function fmt(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(2)} ms`;
}

export async function main(argv: string[]): Promise<void> {
  const quick = process.env.MOELAB_QUICK === "1";
  let n = quick ? 50 : 200;
  let launches = quick ? 3 : 5;
  let withTslab = true;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--n") n = Number(argv[++i]);
    else if (argv[i] === "--launches") launches = Number(argv[++i]);
    else if (argv[i] === "--no-tslab") withTslab = false;
    else throw new Error(`unknown argument ${argv[i]} (--n N, --launches L, --no-tslab)`);
  }
  const all = peers(withTslab);

  // Cold start first, interleaved launch by launch.
  const cold: Record<string, number[]> = {};
  for (let i = 0; i < launches; i++) {
    for (const p of all) (cold[p.name] ??= []).push(await coldStart(p));
  }

  // Round trips: both kernels warm, alternating request by request after a warm-up.
  const kernels = await Promise.all(all.map((p) => RunningKernel.start({ command: p.command })));
  const rt: Record<string, number[]> = {};
  try {
    for (let i = 0; i < 20; i++) for (const k of kernels) await roundTrip(k);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < kernels.length; j++)
        (rt[all[j].name] ??= []).push(await roundTrip(kernels[j]));
    }
  } finally {
    await Promise.all(kernels.map((k) => k.shutdown()));
  }

  // [label, value of a peer, target ratio to ipykernel, target ratio to tslab]
  const rows: [string, (name: string) => number, number, number][] = [
    [`execute round trip, median (n=${n})`, (p) => quantile(rt[p], 0.5), 0.5, 1],
    [`execute round trip, p90 (n=${n})`, (p) => quantile(rt[p], 0.9), NaN, NaN],
    [
      `cold start to first reply, median (${launches} launches)`,
      (p) => quantile(cold[p], 0.5),
      0.8,
      NaN,
    ],
  ];
  const others = all.slice(1).map((p) => p.name);
  const header = [
    "metric",
    ...all.map((p) => p.name),
    ...others.map((o) => `moelab / ${o} (target)`),
  ];
  const table = rows.map(([label, f, ...targets]) => {
    const vals = all.map((p) => f(p.name));
    const ratios = others.map((o, i) => {
      const ratio = vals[0] / vals[i + 1];
      const target = targets[o === "ipykernel" ? 0 : 1];
      if (Number.isNaN(target)) return `${ratio.toFixed(2)}x`;
      return `${ratio.toFixed(2)}x (<= ${target}x: ${ratio <= target ? "met" : "NOT met"})`;
    });
    return [label, ...vals.map(fmt), ...ratios];
  });
  const widths = header.map((_, c) => Math.max(header[c].length, ...table.map((r) => r[c].length)));
  const line = (r: string[]) => `| ${r.map((x, c) => x.padEnd(widths[c])).join(" | ")} |`;
  console.log(
    `\nkernel benchmark (${new Date().toISOString()}, node ${process.version}; ${all
      .map(
        (p) =>
          `${p.name}: ${p.command
            .slice(0, 2)
            .map((a) => path.basename(a))
            .join(" ")}`,
      )
      .join("; ")})`,
  );
  console.log(line(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const r of table) console.log(line(r));
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (e: Error) => {
      console.error(`bench/kernel: ${e.message}`);
      process.exit(1);
    },
  );
}
