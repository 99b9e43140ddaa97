/**
 * SGEMM throughput of moelab's native kernel against numpy 2.x (OpenBLAS) and PyTorch 1.13 (with
 * OpenBLAS, at the faster of its two OpenMP waiting policies; see bench/peers.ts), all on 2
 * threads, in one run with repetitions interleaved (moelab, numpy, torch, rotated each round) so
 * that machine load hits every library alike. Prints GFLOP/s medians and ratios, and the peers'
 * set-up with their own 512³ rates measured in the same run.
 *
 * Usage: node dist/bench/gemm.js [--rounds N] [--threads N]   (MOELAB_QUICK=1: fewer rounds;
 * BENCH_GEMM_STEP_SHAPES (4): training-step shapes timed per config; BENCH_GEMM_WARM_MS (10),
 * BENCH_GEMM_PAUSE_MS (150))
 * The peers run as persistent Python children (bench/gemm_peers.py) driven over stdin/stdout:
 * numpy with the first `python3` on PATH, torch with Debian's /usr/bin/python3.
 */
import { spawn, ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface, Interface } from "node:readline";
import * as os from "node:os";
import * as path from "node:path";
import type { Sgemm } from "../lib/tensor/native.js";
import { Transformer, lab, tidy } from "../lib/index.js";
import { randint, traceGemms, type GemmCall } from "../lib/tensor/index.js";
import {
  DEBIAN_PYTHON,
  measurePeerRates,
  peerEnv,
  peerSetupLines,
  threadEnv,
  type OmpPolicy,
} from "./peers.js";

interface GemmAddon {
  sgemm: Sgemm;
  sgemmInfo(): { kernel: string; threads: number };
  setNumThreads(n: number): void;
}

interface Shape {
  label: string;
  ta: boolean;
  tb: boolean;
  m: number;
  n: number;
  k: number;
  batch?: number;
}

const FIXED_SHAPES: Shape[] = [
  { label: "A·B 512³", ta: false, tb: false, m: 512, n: 512, k: 512 },
  { label: "A·B 1024³", ta: false, tb: false, m: 1024, n: 1024, k: 1024 },
  { label: "A·B 2048x128x128", ta: false, tb: false, m: 2048, n: 128, k: 128 },
  { label: "A·Bᵀ 512³", ta: false, tb: true, m: 512, n: 512, k: 512 },
  { label: "Aᵀ·B 512³", ta: true, tb: false, m: 512, n: 512, k: 512 },
  { label: "A·Bᵀ 2048x128x128", ta: false, tb: true, m: 2048, n: 128, k: 128 },
  { label: "Aᵀ·B 2048x128x128", ta: true, tb: false, m: 2048, n: 128, k: 128 },
  // The weight gradient of a 2048-token, 128x128 linear layer: xᵀ·dy.
  { label: "Aᵀ·B 128x128x2048", ta: true, tb: false, m: 128, n: 128, k: 2048 },
  // Per-head attention products: a batch of 16 small matrices (bmm).
  { label: "bmm 16x 128x128x128", ta: false, tb: false, m: 128, n: 128, k: 128, batch: 16 },
];

/** The configs of the training and model benchmarks, with their batches. */
const STEP_CONFIGS = [
  { name: "train bench config", config: lab.BENCH_CONFIG, B: 16, T: 128 },
  { name: "tiny", config: "tiny", B: 8, T: 128 },
  { name: "small", config: "small", B: 4, T: 256 },
] as const;

/** Shapes per config added to the timed list: the ones with the most multiply-adds in a step. */
const STEP_SHAPES_PER_CONFIG = Number(process.env.BENCH_GEMM_STEP_SHAPES ?? 4);

interface StepMix {
  name: string;
  calls: number;
  flops: number;
  /** Distinct shapes, most multiply-adds first, with their number of calls and flops. */
  shapes: { shape: Shape; calls: number; flops: number }[];
}

const shapeKey = (c: GemmCall): string =>
  `${c.ta ? "T" : "N"}${c.tb ? "T" : "N"} ${c.m}x${c.n}x${c.k}${c.batch > 1 ? ` b${c.batch}` : ""}`;

function shapeLabel(c: GemmCall): string {
  const op = `${c.ta ? "Aᵀ" : "A"}·${c.tb ? "Bᵀ" : "B"}`;
  return c.batch > 1 ? `${op} ${c.batch}x ${c.m}x${c.n}x${c.k}` : `${op} ${c.m}x${c.n}x${c.k}`;
}

/**
 * The SGEMMs one training step (forward and backward, after a warm-up step) of each bench config
 * issues, as the tensor library calls them: the issue asks that the timed shapes include the
 * ones training actually runs. Expert products vary with routing, so each shape is one step's.
 */
function stepMixes(): StepMix[] {
  return STEP_CONFIGS.map(({ name, config, B, T }) => {
    const model = Transformer.create(config, { seed: 0 });
    const V = model.config.args.vocab_size;
    const step = (): void =>
      tidy(() => {
        const x = randint(0, V, [B, T], { seed: 1 });
        const y = randint(0, V, [B, T], { seed: 2 });
        model.loss(x, y).backward();
        model.zeroGrad();
      });
    step();
    const byKey = new Map<string, { shape: Shape; calls: number; flops: number }>();
    let calls = 0;
    const stop = traceGemms((c) => {
      calls++;
      const key = shapeKey(c);
      const e = byKey.get(key) ?? {
        shape: { label: shapeLabel(c), ta: c.ta, tb: c.tb, m: c.m, n: c.n, k: c.k, batch: c.batch },
        calls: 0,
        flops: 0,
      };
      e.calls++;
      e.flops += 2 * c.m * c.n * c.k * c.batch;
      byKey.set(key, e);
    });
    try {
      step();
    } finally {
      stop();
    }
    const shapes = [...byKey.values()].sort((a, b) => b.flops - a.flops);
    return { name, calls, flops: shapes.reduce((a, s) => a + s.flops, 0), shapes };
  });
}

function printMixes(mixes: StepMix[]): void {
  for (const mix of mixes) {
    console.log(
      `\nSGEMMs of one training step, ${mix.name}: ${mix.calls} calls, ${mix.shapes.length} shapes, ` +
        `${(mix.flops / 1e9).toFixed(2)} GFLOP; the ${STEP_SHAPES_PER_CONFIG} largest timed below`,
    );
    console.log("| shape (MxNxK) | calls | share of the step's GEMM flops |");
    console.log("|---|---|---|");
    let rest = 0;
    mix.shapes.forEach((s, i) => {
      if (i < 8)
        console.log(
          `| ${s.shape.label} | ${s.calls} | ${((100 * s.flops) / mix.flops).toFixed(1)}% |`,
        );
      else rest += s.flops;
    });
    if (rest > 0)
      console.log(
        `| ${mix.shapes.length - 8} other shapes | | ${((100 * rest) / mix.flops).toFixed(1)}% |`,
      );
  }
}

/** The timed shapes: the fixed list, then the largest ones a training step issues. */
const SHAPES: Shape[] = [];

class Peer {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: Interface;
  private readonly waiting: ((line: string) => void)[] = [];
  version = "";

  constructor(
    /** The column: "numpy", "torch" (OpenMP's default waiting) or "torch PASSIVE". */
    readonly name: string,
    /** The library the child imports. */
    readonly lib: "numpy" | "torch",
    python: string,
    threads: number,
    omp?: OmpPolicy,
  ) {
    const script = path.resolve(__dirname, "../../bench/gemm_peers.py");
    // OpenBLAS overrides unset for the peer alone (bench/peers.ts).
    const env = peerEnv(threadEnv(threads), omp);
    this.child = spawn(python, [script], { env, stdio: ["pipe", "pipe", "pipe"] });
    this.child.stderr.on("data", (d: Buffer) => process.stderr.write(`[${name}] ${d}`));
    this.lines = createInterface({ input: this.child.stdout });
    this.lines.on("line", (line) => this.waiting.shift()?.(line));
    const fail = () => {
      for (const w of this.waiting.splice(0)) w('{"error": "peer exited"}');
    };
    this.child.on("exit", fail);
    this.child.on("error", fail); // e.g. no such interpreter
    this.child.stdin.on("error", fail);
  }

  private request(msg: object): Promise<Record<string, unknown>> {
    return new Promise((resolve) => {
      this.waiting.push((line) => resolve(JSON.parse(line) as Record<string, unknown>));
      this.child.stdin.write(JSON.stringify(msg) + "\n");
    });
  }

  async start(threads: number): Promise<boolean> {
    const r = await this.request({ lib: this.lib, threads });
    this.version = String(r.version ?? "");
    return r.ready === true;
  }

  async time(s: Shape, reps: number): Promise<number[]> {
    const r = await this.request({
      op: "run",
      ta: s.ta,
      tb: s.tb,
      m: s.m,
      n: s.n,
      k: s.k,
      batch: s.batch ?? 1,
      reps,
      warm_ms: WARM_MS,
    });
    if (!Array.isArray(r.seconds)) throw new Error(`${this.name}: ${JSON.stringify(r)}`);
    return r.seconds as number[];
  }

  stop(): void {
    this.child.stdin.end(JSON.stringify({ op: "quit" }) + "\n");
  }
}

/** Quiet time after each library's burst (BENCH_GEMM_PAUSE_MS), so its idle threads stop spinning. */
const PAUSE_MS = Number(process.env.BENCH_GEMM_PAUSE_MS ?? 150);
/**
 * Untimed products before each library's timed ones (BENCH_GEMM_WARM_MS): after the pause a
 * library's threads sleep, and on this virtual machine an idle core takes milliseconds to run
 * at full speed again (moelab measured 90-105 GFLOP/s for the first ~5 ms, 200 after). In a
 * training step products come back to back; every library gets the same warm-up.
 */
const WARM_MS = Number(process.env.BENCH_GEMM_WARM_MS ?? 10);

function flops(s: Shape): number {
  return 2 * s.m * s.n * s.k * (s.batch ?? 1);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function randomFloats(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = (x >>> 0) / 4294967296 - 0.5;
  }
  return out;
}

function moelabTimer(addon: GemmAddon, s: Shape): (reps: number) => number[] {
  const batch = s.batch ?? 1;
  const A = randomFloats(batch * s.m * s.k, 1);
  const B = randomFloats(batch * s.k * s.n, 2);
  const C = new Float32Array(batch * s.m * s.n);
  const lda = s.ta ? s.m : s.k;
  const ldb = s.tb ? s.k : s.n;
  const run = () =>
    addon.sgemm(
      s.ta,
      s.tb,
      s.m,
      s.n,
      s.k,
      1,
      A,
      0,
      lda,
      B,
      0,
      ldb,
      0,
      C,
      0,
      s.n,
      batch,
      s.m * s.k,
      s.k * s.n,
      s.m * s.n,
    );
  run();
  return (reps) => {
    const warmEnd = process.hrtime.bigint() + BigInt(WARM_MS * 1e6);
    do run();
    while (process.hrtime.bigint() < warmEnd);
    const out: number[] = [];
    for (let r = 0; r < reps; r++) {
      const t0 = process.hrtime.bigint();
      run();
      out.push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
    return out;
  };
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

async function main(): Promise<void> {
  const quick = process.env.MOELAB_QUICK === "1";
  const rounds = arg("--rounds", quick ? 3 : 15);
  const threads = arg("--threads", 2);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const addon = require(
    path.resolve(__dirname, "../../build/Release/moelab_native.node"),
  ) as GemmAddon;
  addon.setNumThreads(threads);
  const mixes = stepMixes();
  SHAPES.push(...FIXED_SHAPES);
  const seen = new Set(FIXED_SHAPES.map((x) => shapeKey({ ...x, batch: x.batch ?? 1 })));
  for (const mix of mixes)
    for (const { shape } of mix.shapes.slice(0, STEP_SHAPES_PER_CONFIG)) {
      const key = shapeKey({ ...shape, batch: shape.batch ?? 1 });
      if (seen.has(key)) continue;
      seen.add(key);
      SHAPES.push({ ...shape, label: `${shape.label} (step)` });
    }

  const peers: Peer[] = [];
  for (const [name, lib, python, omp] of [
    ["numpy", "numpy", "python3", undefined],
    ["torch", "torch", DEBIAN_PYTHON, "default"],
    ["torch PASSIVE", "torch", DEBIAN_PYTHON, "PASSIVE"],
  ] as const) {
    const p = new Peer(name, lib, python, threads, omp);
    if (await p.start(threads).catch(() => false)) peers.push(p);
    else console.log(`(${name} unavailable with ${python}: column left empty)`);
  }
  const rates = measurePeerRates(threads);

  const libs = ["moelab", ...peers.map((p) => p.name)];
  const times = new Map<string, number[]>(); // `${shape}|${lib}` -> seconds per product
  const timers = SHAPES.map((s) => moelabTimer(addon, s));
  for (let round = 0; round <= rounds; round++) {
    for (let si = 0; si < SHAPES.length; si++) {
      const s = SHAPES[si];
      // About 5 ms of work per library per round (at ~200 GFLOP/s), at least 3 products:
      // short bursts, many rounds, so load swings on a shared machine hit every library alike.
      const reps = Math.max(3, Math.ceil(1e9 / flops(s)));
      for (let j = 0; j < libs.length; j++) {
        const lib = libs[(j + round) % libs.length];
        const seconds =
          lib === "moelab"
            ? timers[si](reps)
            : await peers.find((p) => p.name === lib)!.time(s, reps);
        // Let each library's idle threads stop spinning before the next one is timed.
        await new Promise((r) => setTimeout(r, PAUSE_MS));
        if (round === 0) continue; // warm-up: thread pools, page faults, caches
        const key = `${s.label}|${lib}`;
        times.set(key, [...(times.get(key) ?? []), ...seconds]);
      }
    }
  }
  for (const p of peers) p.stop();

  const info = addon.sgemmInfo();
  console.log(
    `SGEMM float32, GFLOP/s over ${rounds} interleaved rounds, ${threads} threads; ` +
      `moelab kernel ${info.kernel}; peers: ${peers.map((p) => p.version).join(", ")}; ` +
      `load average ${os
        .loadavg()
        .map((x) => x.toFixed(2))
        .join(" ")} on ${os.cpus().length} cores`,
  );
  printMixes(mixes);
  // The median is the headline; the fastest decile shows what each library reaches in the
  // moments the machine is free, which on a loaded machine is the fairer comparison of kernels.
  printTable("median", times, 0.5);
  printTable("fastest decile (10th percentile of time)", times, 0.1);
  console.log();
  for (const l of peerSetupLines(
    rates,
    threads,
    "torch: the faster of OMP_WAIT_POLICY unset (OpenMP's default) and PASSIVE, per shape",
  ))
    console.log(l);
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

function printTable(title: string, times: Map<string, number[]>, q: number): void {
  const gflops = (s: Shape, lib: string): number | undefined => {
    const t = times.get(`${s.label}|${lib}`);
    return t && t.length ? flops(s) / (q === 0.5 ? median(t) : quantile(t, q)) / 1e9 : undefined;
  };
  const header = [
    "shape (MxNxK)",
    "moelab",
    "numpy",
    "torch (best OMP)",
    "vs numpy",
    "vs torch",
    "target 0.9x numpy",
  ];
  const rows = SHAPES.map((s) => {
    const m = gflops(s, "moelab")!;
    const np = gflops(s, "numpy");
    // PyTorch at its best: the faster of its two OpenMP waiting policies.
    const both = [gflops(s, "torch"), gflops(s, "torch PASSIVE")].filter(
      (x): x is number => x !== undefined,
    );
    const th = both.length ? Math.max(...both) : undefined;
    const fmt = (x: number | undefined) => (x === undefined ? "n/a" : x.toFixed(1));
    const ratio = (x: number | undefined) => (x === undefined ? "n/a" : (m / x).toFixed(2) + "x");
    const target = np === undefined ? "n/a" : m >= 0.9 * np ? "met" : "MISSED";
    return [s.label, fmt(m), fmt(np), fmt(th), ratio(np), ratio(th), target];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    "| " + cells.map((c, i) => c.padEnd(widths[i])).join(" | ") + " |";
  console.log(`\n${title}:`);
  console.log(line(header));
  console.log("|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|");
  for (const r of rows) console.log(line(r));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
