/**
 * Tensor-runtime benchmark against PyTorch 1.13 (Debian), same machine, same run, interleaved:
 *   - per-op overhead: forward + backward of a tiny add on [8] (single, and a 1000-op chain);
 *   - fused rmsNorm / softmax / attention / crossEntropy / swiglu forward + backward at model sizes.
 * PyTorch runs in persistent children (bench/ops_peers.py), one with OpenMP's default waiting and
 * one with OMP_WAIT_POLICY=PASSIVE (each case reports the faster); all use 2 threads.
 * Usage: node dist/bench/ops.js   (MOELAB_QUICK=1: fewer repetitions)
 */
import { spawn } from "node:child_process";
import * as path from "node:path";
import * as readline from "node:readline";
import * as T from "../lib/tensor/index.js";
import {
  DEBIAN_PYTHON,
  OMP_POLICIES,
  measurePeerRates,
  peerEnv,
  peerSetupLines,
  threadEnv,
  type OmpPolicy,
} from "./peers.js";

const quick = process.env.MOELAB_QUICK === "1";
/** Threads for both sides (default 2, the machine's cores; BENCH_THREADS=1 isolates per-core speed under load). */
const THREADS = Number(process.env.BENCH_THREADS ?? 2);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

interface Case {
  name: string;
  /** Ops per call (to report per op). */
  per: number;
  /** Calls per timing sample. */
  iters: number;
  run: () => void;
}

function cases(): Case[] {
  const a = T.randn([8], { seed: 1, requiresGrad: true });
  const b = T.randn([8], { seed: 2, requiresGrad: true });
  const g8 = T.ones([8]);
  const x = T.randn([4, 256, 512], { seed: 3, requiresGrad: true });
  const w = T.randn([512], { seed: 4, requiresGrad: true });
  const gx = T.randn([4, 256, 512], { seed: 5 });
  const s = T.randn([4, 8, 256, 256], { seed: 6, requiresGrad: true });
  const gs = T.randn([4, 8, 256, 256], { seed: 7 });
  const q = T.randn([4, 8, 256, 64], { seed: 8, requiresGrad: true });
  const k = T.randn([4, 8, 256, 64], { seed: 9, requiresGrad: true });
  const v = T.randn([4, 8, 256, 64], { seed: 10, requiresGrad: true });
  const go = T.randn([4, 8, 256, 64], { seed: 11 });
  const logits = T.randn([2048, 4096], { seed: 12, requiresGrad: true });
  const tgt = T.randint(0, 4096, [2048], { seed: 13 });
  const aa = T.randn([4, 256, 1024], { seed: 14, requiresGrad: true });
  const bb = T.randn([4, 256, 1024], { seed: 15, requiresGrad: true });
  const gg = T.randn([4, 256, 1024], { seed: 16 });
  const lx = T.randn([8, 256, 512], { seed: 17, requiresGrad: true });
  const lw = T.randn([1536, 512], { seed: 18, requiresGrad: true });
  const lb = T.randn([1536], { seed: 19, requiresGrad: true });
  const lg = T.randn([8, 256, 1536], { seed: 20 });
  const params = [a, b, x, w, s, q, k, v, logits, aa, bb, lx, lw, lb];
  const clear = () => params.forEach((p) => p.zeroGrad());
  return [
    {
      name: "add [8] fwd+bwd",
      per: 1,
      iters: quick ? 2000 : 10000,
      run: () => T.tidy(() => a.add(b).backward(g8)),
    },
    {
      name: "add [8] chain fwd+bwd",
      per: 1000,
      iters: quick ? 3 : 10,
      run: () =>
        T.tidy(() => {
          let y = a;
          for (let i = 0; i < 1000; i++) y = y.add(b);
          y.backward(g8);
        }),
    },
    {
      name: "add [8] fwd (no grad)",
      per: 1000,
      iters: quick ? 3 : 10,
      run: () =>
        T.noGrad(() =>
          T.tidy(() => {
            for (let i = 0; i < 1000; i++) a.add(b);
          }),
        ),
    },
    {
      name: "rmsNorm [4,256,512] fwd+bwd",
      per: 1,
      iters: 5,
      run: () => T.tidy(() => T.rmsNorm(x, w).backward(gx)),
    },
    {
      name: "softmax [4,8,256,256] fwd+bwd",
      per: 1,
      iters: 3,
      run: () => T.tidy(() => s.softmax(-1).backward(gs)),
    },
    {
      name: "attention B4 H8 T256 D64 fwd+bwd",
      per: 1,
      iters: 3,
      run: () => T.tidy(() => T.attention(q, k, v).backward(go)),
    },
    {
      name: "crossEntropy [2048,4096] fwd+bwd",
      per: 1,
      iters: 3,
      run: () => T.tidy(() => T.crossEntropy(logits, tgt).backward()),
    },
    {
      name: "swiglu [4,256,1024] fwd+bwd",
      per: 1,
      iters: 5,
      run: () => T.tidy(() => T.swiglu(aa, bb).backward(gg)),
    },
    {
      name: "linear [8,256,512]x[1536,512]^T+b fwd+bwd",
      per: 1,
      iters: 3,
      run: () => T.tidy(() => T.linear(lx, lw, lb).backward(lg)),
    },
  ].map((c) => ({ ...c, run: () => (c.run(), clear()) }));
}

class Torch {
  private proc;
  private lines;
  private waiting: ((s: string) => void)[] = [];
  constructor(readonly omp: OmpPolicy) {
    // OpenBLAS overrides unset for the peer alone; OpenMP waiting as asked (bench/peers.ts).
    this.proc = spawn(
      DEBIAN_PYTHON,
      ["-u", path.join(__dirname, "..", "..", "bench", "ops_peers.py"), String(THREADS)],
      { stdio: ["pipe", "pipe", "inherit"], env: peerEnv(threadEnv(THREADS), omp) },
    );
    this.lines = readline.createInterface({ input: this.proc.stdout! });
    this.lines.on("line", (l) => this.waiting.shift()?.(l));
    this.proc.on("exit", (code) => {
      if (this.waiting.length > 0) {
        console.error(`torch peer exited with ${code}`);
        process.exit(1);
      }
    });
  }
  ask(name: string, iters: number): Promise<number> {
    return new Promise((resolve) => {
      this.waiting.push((l) => resolve(JSON.parse(l).us as number));
      this.proc.stdin!.write(JSON.stringify({ case: name, iters }) + "\n");
    });
  }
  close(): void {
    this.proc.stdin!.end();
  }
}

async function main(): Promise<void> {
  T.setNumThreads(THREADS);
  const cs = cases();
  // PyTorch with OpenMP's default waiting and with PASSIVE; each case reports the faster.
  const torches = OMP_POLICIES.map((omp) => new Torch(omp));
  const rates = measurePeerRates(THREADS);
  const reps = quick ? 3 : 7;
  const mine = new Map<string, number[]>();
  const theirs = new Map<string, number[]>(); // `${omp}|${case}`
  for (const c of cs) c.run(); // warm up
  for (let r = 0; r < reps; r++)
    for (const c of cs) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < c.iters; i++) c.run();
      const us = Number(process.hrtime.bigint() - t0) / 1e3 / c.iters / c.per;
      (mine.get(c.name) ?? mine.set(c.name, []).get(c.name)!).push(us);
      for (const torch of torches) {
        const key = `${torch.omp}|${c.name}`;
        const tu = await torch.ask(c.name, c.iters);
        (theirs.get(key) ?? theirs.set(key, []).get(key)!).push(tu);
      }
    }
  for (const torch of torches) torch.close();
  const rows = cs.map((c) => {
    const m = median(mine.get(c.name)!);
    const [omp, t] = OMP_POLICIES.map(
      (o) => [o, median(theirs.get(`${o}|${c.name}`)!)] as const,
    ).reduce((a, b) => (b[1] < a[1] ? b : a));
    const unit = c.per > 1 || c.name.startsWith("add") ? "µs/op" : "ms";
    const f = (u: number) => (unit === "ms" ? (u / 1000).toFixed(2) : u.toFixed(2));
    return `| ${c.name} | ${unit} | ${f(m)} | ${f(t)} | ${omp} | ${(t / m).toFixed(2)}x |`;
  });
  console.log(
    `moelab tensor ops vs PyTorch ${THREADS} threads, medians of ${reps} interleaved repetitions`,
  );
  console.log(
    "| case | unit | moelab | PyTorch 1.13 (faster OMP) | OMP_WAIT_POLICY | speed-up (PyTorch / moelab) |",
  );
  console.log("|---|---|---|---|---|---|");
  for (const r of rows) console.log(r);
  for (const l of peerSetupLines(rates, THREADS, "PyTorch with OMP_WAIT_POLICY unset and PASSIVE"))
    console.log(l);
  readers(reps);
  console.log(`memory after: ${JSON.stringify(T.memory())}`);
}

/**
 * Reading values out: tensor.toArray() (and a non-contiguous view's) against
 * Float32Array.prototype.slice of the same size, interleaved (the peer is the copy itself).
 */
function readers(reps: number): void {
  const n = 262144;
  const t = T.randn([512, 512], { seed: 3 });
  const view = t.transpose(0, 1);
  const raw = t.toArray() as Float32Array;
  const iters = quick ? 50 : 200;
  const time = (fn: () => unknown): number => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) fn();
    return Number(process.hrtime.bigint() - t0) / 1e3 / iters;
  };
  const runs = { slice: [] as number[], toArray: [] as number[], viewToArray: [] as number[] };
  for (let r = 0; r < reps; r++) {
    runs.slice.push(time(() => raw.slice()));
    runs.toArray.push(time(() => t.toArray()));
    runs.viewToArray.push(time(() => view.toArray()));
  }
  const s = median(runs.slice);
  console.log(
    `\nReading values: ${n.toLocaleString("en-US")} floats, medians of ${reps} interleaved repetitions of ${iters}`,
  );
  console.log("| reader | µs | Float32Array.prototype.slice µs | ratio | target ≤ 4x |");
  console.log("|---|---|---|---|---|");
  for (const [name, xs] of [
    ["tensor.toArray()", runs.toArray],
    ["transposed view .toArray() (a gather, then the copy)", runs.viewToArray],
  ] as const) {
    const m = median(xs);
    console.log(
      `| ${name} | ${m.toFixed(0)} | ${s.toFixed(0)} | ${(m / s).toFixed(2)}x | ${name.startsWith("tensor") ? (m / s <= 4 ? "met" : "missed") : "—"} |`,
    );
  }
  t.dispose();
  view.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
