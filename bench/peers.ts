/**
 * How the PyTorch and numpy peers of every benchmark run, so that no table compares against a
 * handicapped peer: OpenBLAS installed (`libopenblas0-pthread`, see .ci/run and the README), the
 * machine-wide OpenBLAS overrides OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE (set on some machines
 * for old OpenBLAS builds, and slower for current ones) unset for the peer's command alone, and
 * each table printed with the peer's set-up and its own 512³ GEMM rate measured in the same run.
 * Tests and CI keep the variables as they are; only these child processes drop them.
 */
import { spawnSync } from "node:child_process";
import { existsSync, realpathSync } from "node:fs";
import * as path from "node:path";

/** Variables unset for peers: machine-specific OpenBLAS tuning that slows current OpenBLAS. */
export const UNSET_FOR_PEERS = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"] as const;

/** OpenMP waiting for PyTorch peers: OpenMP's default (spin, then sleep) and PASSIVE (sleep). */
export type OmpPolicy = "default" | "PASSIVE";
export const OMP_POLICIES: readonly OmpPolicy[] = ["default", "PASSIVE"];

/** Debian's Python (python3-torch); the first python3 on PATH may be a venv with numpy only. */
export const DEBIAN_PYTHON = "/usr/bin/python3";

/** The environment for one peer command: ours minus UNSET_FOR_PEERS, plus `extra`. */
export function peerEnv(extra: Record<string, string> = {}, omp?: OmpPolicy): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const k of UNSET_FOR_PEERS) delete env[k];
  if (omp === "default") delete env.OMP_WAIT_POLICY;
  else if (omp) env.OMP_WAIT_POLICY = omp;
  return env;
}

/** Threads for a BLAS peer: every pool the peer may use, fixed before it loads. */
export function threadEnv(threads: number): Record<string, string> {
  const t = String(threads);
  return { OPENBLAS_NUM_THREADS: t, OMP_NUM_THREADS: t, MKL_NUM_THREADS: t };
}

export interface PeerRate {
  lib: "torch" | "numpy";
  python: string;
  version?: string;
  /** float32 512³ GFLOP/s, median of 20, in this run. */
  gflops?: number;
  /** BLAS libraries the peer process loaded. */
  blas?: string[];
  error?: string;
}

/** torch's and numpy's own 512³ GEMM rate now, with the peer environment. */
export function measurePeerRates(threads: number, numpyPython = "python3"): PeerRate[] {
  const script = path.resolve(__dirname, "../../bench/peer_gemm_rate.py");
  return (
    [
      ["torch", DEBIAN_PYTHON],
      ["numpy", numpyPython],
    ] as const
  ).map(([lib, python]) => {
    const r = spawnSync(python, [script, lib, String(threads)], {
      encoding: "utf8",
      env: peerEnv(threadEnv(threads)),
      timeout: 120000,
    });
    if (r.status !== 0)
      return {
        lib,
        python,
        error: (r.stderr || r.error?.message || "failed").trim().split("\n").pop(),
      };
    return {
      lib,
      python,
      ...(JSON.parse(r.stdout.trim().split("\n").pop()!) as object),
    } as PeerRate;
  });
}

/** Where the system libblas.so.3 points (netlib's reference BLAS unless OpenBLAS is installed). */
export function systemBlas(): string {
  for (const dir of ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib"]) {
    const f = path.join(dir, "libblas.so.3");
    if (existsSync(f)) return realpathSync(f);
  }
  return "not found";
}

/** The set-up lines printed under a table: what the peers ran with, and their own GEMM rates. */
export function peerSetupLines(rates: PeerRate[], threads: number, omp?: string): string[] {
  const was = UNSET_FOR_PEERS.map(
    (k) => `${k}${process.env[k] ? ` (here ${process.env[k]})` : ""}`,
  );
  const lines = [
    `peer set-up: ${threads} threads; system libblas.so.3 -> ${systemBlas()}; unset for the peers' commands: ${was.join(", ")}` +
      (omp ? `; ${omp}` : ""),
  ];
  for (const r of rates) {
    if (r.error) lines.push(`peer GEMM rate: ${r.lib} unavailable (${r.python}): ${r.error}`);
    else
      lines.push(
        `peer GEMM rate (this run): ${r.version} ${r.gflops!.toFixed(1)} GFLOP/s at 512³ float32 ` +
          `[${r.python}; BLAS ${r.blas!.map((b) => path.basename(path.dirname(b)) + "/" + path.basename(b)).join(", ") || "built in"}]`,
      );
  }
  return lines;
}
