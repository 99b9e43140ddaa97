/**
 * FP8 GEMM throughput against FP32 SGEMM (the addon's `sgemm`) on the same shapes, C = A·Bᵀ with
 * A [M, K] activations and B [N, K] weights, as a Linear's forward runs. The FP8 path includes
 * quantizing A in 1x128 tiles and B in 128x128 blocks (DeepSeek-V3 requantizes both every step),
 * into reused buffers as sgemm writes into a reused C. "fused" is fp8.gemmQuantized (x quantized
 * while it is packed for the GEMM, B by quantizeBlocks), "unfused" quantizeTiles + quantizeBlocks +
 * gemm; "gemm only" is the block-scaled GEMM on already-quantized operands. Repetitions interleave the
 * contenders so machine load hits both alike; the table shows medians and ratios (target >= 0.7x).
 *
 * Usage: node dist/bench/fp8.js [--rounds N] [--threads N]   (MOELAB_QUICK=1: fewer rounds)
 */
import * as fp8 from "../lib/fp8/index.js";
import { gemmQuantized } from "../lib/fp8/gemm.js";
import { addonObject, fp8Native } from "../lib/fp8/native.js";

type Sgemm = (
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float32Array,
  aOffset: number,
  lda: number,
  b: Float32Array,
  bOffset: number,
  ldb: number,
  beta: number,
  c: Float32Array,
  cOffset: number,
  ldc: number,
) => void;

const args = process.argv.slice(2);
const opt = (name: string, def: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const rounds = opt("--rounds", process.env.MOELAB_QUICK === "1" ? 3 : 9);
const addon = addonObject();
const threads = opt("--threads", 2);
if (addon && typeof addon.setNumThreads === "function")
  (addon.setNumThreads as (n: number) => void)(threads);
const sgemm = addon && typeof addon.sgemm === "function" ? (addon.sgemm as Sgemm) : null;
const native = fp8Native();

const SHAPES: [number, number, number][] = [
  [512, 512, 512],
  [1024, 1024, 1024],
  [2048, 128, 128],
  [2048, 512, 1024],
];

function randn(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296 - 0.5) * 4;
  }
  return out;
}

/** Seconds per call, wall-clock and process CPU time (CPU time is steadier on a loaded machine). */
function time(fn: () => void, minMs = 20): { wall: number; cpu: number } {
  let n = 0;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let t: bigint;
  do {
    fn();
    n++;
    t = process.hrtime.bigint();
  } while (Number(t - t0) / 1e6 < minMs);
  const c = process.cpuUsage(c0);
  return { wall: Number(t - t0) / 1e9 / n, cpu: (c.user + c.system) / 1e6 / n };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

console.log(
  `fp8 bench: ${threads} thread(s), ${rounds} rounds, native FP8 ${native ? "yes" : "NO (TypeScript reference)"}, ` +
    `FP32 peer: ${sgemm ? "addon sgemm" : "none (the addon has no sgemm export)"}`,
);
const rows: string[][] = [
  [
    "shape M x N x K",
    "sgemm GFLOP/s",
    "fp8 fused (+quantize) GFLOP/s",
    "ratio",
    "fp8 unfused (+quantize) GFLOP/s",
    "ratio",
    "fp8 gemm only GFLOP/s",
    "ratio",
    "quantize ms",
    "ratio (fused), CPU time",
    "ratio (gemm only), CPU time",
  ],
];
for (const [m, n, k] of SHAPES) {
  if (!native && m * n * k > 1 << 24) continue; // the TypeScript path is far too slow for these
  const a = randn(m * k, 1);
  const b = randn(n * k, 2);
  const c = new Float32Array(m * n);
  const c8 = new Float32Array(m * n);
  const flop = 2 * m * n * k;
  const qa = fp8.quantizeTiles(a, m, k);
  const qb = fp8.quantizeBlocks(b, n, k);
  const tS: { wall: number; cpu: number }[] = [];
  const tF: { wall: number; cpu: number }[] = [];
  const tU: { wall: number; cpu: number }[] = [];
  const tG: { wall: number; cpu: number }[] = [];
  const tQ: { wall: number; cpu: number }[] = [];
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? ["u", "f", "g", "q", "s"] : ["s", "q", "g", "f", "u"];
    for (const w of order) {
      if (w === "s" && sgemm)
        tS.push(time(() => sgemm(false, true, m, n, k, 1, a, 0, k, b, 0, k, 0, c, 0, n)));
      // both contenders write into preallocated outputs, as a training step would
      if (w === "f") {
        tF.push(
          time(() =>
            fp8.gemm(
              fp8.quantizeTiles(a, m, k, { into: qa }),
              fp8.quantizeBlocks(b, n, k, { into: qb }),
              { out: c8 },
            ),
          ),
        );
      }
      if (w === "u") {
        tU.push(
          time(() =>
            gemmQuantized(a, m, fp8.quantizeBlocks(b, n, k, { into: qb }), { out: c8, into: qa }),
          ),
        );
      }
      if (w === "g") tG.push(time(() => fp8.gemm(qa, qb, { out: c8 })));
      if (w === "q")
        tQ.push(
          time(
            () => (
              fp8.quantizeTiles(a, m, k, { into: qa }),
              fp8.quantizeBlocks(b, n, k, { into: qb })
            ),
          ),
        );
    }
  }
  const wall = (xs: { wall: number }[]) => median(xs.map((x) => x.wall));
  const cpu = (xs: { cpu: number }[]) => median(xs.map((x) => x.cpu));
  const gS = sgemm ? flop / wall(tS) / 1e9 : NaN;
  const gF = flop / wall(tF) / 1e9;
  const gU = flop / wall(tU) / 1e9;
  const gG = flop / wall(tG) / 1e9;
  rows.push([
    `${m} x ${n} x ${k}`,
    sgemm ? gS.toFixed(1) : "-",
    gU.toFixed(1),
    sgemm ? `${(gU / gS).toFixed(2)}x` : "-",
    gF.toFixed(1),
    sgemm ? `${(gF / gS).toFixed(2)}x` : "-",
    gG.toFixed(1),
    sgemm ? `${(gG / gS).toFixed(2)}x` : "-",
    (wall(tQ) * 1e3).toFixed(2),
    sgemm ? `${(cpu(tS) / cpu(tU)).toFixed(2)}x` : "-",
    sgemm ? `${(cpu(tS) / cpu(tG)).toFixed(2)}x` : "-",
  ]);
}
const widths = rows[0].map((_, j) => Math.max(...rows.map((r) => r[j].length)));
for (const r of rows) console.log("| " + r.map((s, j) => s.padEnd(widths[j])).join(" | ") + " |");
