/**
 * Where a training step goes (issue 14): the training issue's bench config (lab.BENCH_CONFIG, batch
 * 16 x 128, AdamW), the step a user's loop runs, measured two ways on the same steps:
 *   1. phases: forward (lossParts), backward, gradient clipping, AdamW, zeroGrad, each timed
 *      around its call (median over the steps);
 *   2. V8's sampling profiler over the same loop: the top functions by self time. A native
 *      addon call counts as the JS-visible native function that makes it (the C++ kernel's time
 *      lands there), so the list reads as "which op, or which JS glue, took the time".
 * Usage: node dist/bench/profile.js   (MOELAB_QUICK=1: 4 steps; BENCH_PROFILE_STEPS (30);
 *        BENCH_PROFILE_ROUTING=plain|noaux_tc (plain, as the bench config); BENCH_PROFILE_TOP
 *        (25); BENCH_THREADS (2))
 */
import { Session } from "node:inspector";
import * as os from "node:os";
import { AdamW, Transformer, clipGradScale, keep, lab, setNumThreads, tidy } from "../lib/index.js";
import { memory, setPoolLimit } from "../lib/tensor/index.js";
import type { Batch } from "../lib/data/index.js";

const quick = process.env.MOELAB_QUICK === "1";
const THREADS = Number(process.env.BENCH_THREADS ?? 2);
const STEPS = Number(process.env.BENCH_PROFILE_STEPS ?? (quick ? 4 : 30));
const TOP = Number(process.env.BENCH_PROFILE_TOP ?? 25);
const ROUTING = process.env.BENCH_PROFILE_ROUTING ?? "plain";
const WARMUP_STEPS = quick ? 2 : 5;
/** The tensor buffer pool's cap in MiB (default: the library's). */
const POOL_MB = process.env.BENCH_POOL_MB;

const now = (): number => Number(process.hrtime.bigint()) / 1e6;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

function post<T>(s: Session, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) =>
    s.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res as T))),
  );
}

/** `name  file:line` of a profile node (file relative to dist/ or node_modules/). */
function frameName(n: ProfileNode): string {
  const f = n.callFrame;
  const where = f.url
    ? `${f.url.replace(/^.*\/(dist|node_modules)\//, "$1/")}:${f.lineNumber + 1}`
    : "";
  return `${f.functionName || "(anonymous)"}${where ? `  ${where}` : ""}`;
}

/**
 * Self time (ms) per function, from the samples and their time deltas. The addon's functions
 * have neither name nor file in V8's profile: their time is shown as "native, called from" the JS
 * function that called them.
 */
function selfTimes(p: CpuProfile): Map<string, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, ProfileNode>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n);
  const out = new Map<string, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    // A sample's delta is the time since the previous one: charged to this sample's node.
    const n = byId.get(samples[i]);
    if (!n) continue;
    const f = n.callFrame;
    let key = frameName(n);
    if (!f.url && (f.functionName === "" || f.functionName === "(anonymous)")) {
      const up = parent.get(n.id);
      key = `native, called from ${up ? frameName(up) : "?"}`;
    }
    out.set(key, (out.get(key) ?? 0) + (deltas[i] ?? 0) / 1000);
  }
  return out;
}

async function main(): Promise<void> {
  setNumThreads(THREADS);
  if (POOL_MB !== undefined) setPoolLimit(Number(POOL_MB) * 2 ** 20);
  const data = lab.brownBytes();
  const o = lab.BENCH_OPTIMIZER;
  const model = Transformer.create(
    { ...lab.BENCH_CONFIG, routing: ROUTING as "plain" | "noaux_tc" },
    { seed: o.seed },
  );
  const params = model.trainableParameters();
  const opt = new AdamW(params, {
    lr: o.lr,
    betas: o.betas,
    eps: o.eps,
    weightDecay: o.weightDecay,
  });
  const it = data.train.batches({ batchSize: o.batchSize, seqLen: o.seqLen, seed: o.seed });
  const batches: Batch[] = [];
  for (let i = 0; i < WARMUP_STEPS + STEPS; i++) {
    const b = it.next();
    keep(b.inputs);
    keep(b.targets);
    batches.push(b);
  }
  const phases = {
    forward: [] as number[],
    backward: [] as number[],
    clip: [] as number[],
    adamw: [] as number[],
    zeroGrad: [] as number[],
    step: [] as number[],
  };
  const E = lab.BENCH_CONFIG.n_routed_experts!;
  const step = (b: Batch, record: boolean): void => {
    const t0 = now();
    tidy(() => {
      const parts = model.lossParts(b.inputs, b.targets);
      const t1 = now();
      parts.loss.backward();
      const t2 = now();
      if (record) {
        phases.forward.push(t1 - t0);
        phases.backward.push(t2 - t1);
      }
    });
    const t3 = now();
    const { scale } = clipGradScale(params, o.clip);
    const t4 = now();
    opt.step({ lr: o.lr, gradScale: scale });
    const t5 = now();
    model.zeroGrad();
    const t6 = now();
    b.inputs.dispose();
    b.targets.dispose();
    if (!record) return;
    phases.clip.push(t4 - t3);
    phases.adamw.push(t5 - t4);
    phases.zeroGrad.push(t6 - t5);
    phases.step.push(t6 - t0);
  };
  for (let i = 0; i < WARMUP_STEPS; i++) step(batches[i], false);

  const session = new Session();
  session.connect();
  await post(session, "Profiler.enable");
  await post(session, "Profiler.setSamplingInterval", { interval: 200 });
  await post(session, "Profiler.start");
  const t0 = now();
  for (let i = 0; i < STEPS; i++) step(batches[WARMUP_STEPS + i], true);
  const wall = now() - t0;
  const { profile } = await post<{ profile: CpuProfile }>(session, "Profiler.stop");
  session.disconnect();

  const tokens = o.batchSize * o.seqLen;
  const mem = memory();
  console.log(
    `# bench/profile: a training step of the bench config (dim ${lab.BENCH_CONFIG.dim}, ${lab.BENCH_CONFIG.n_layers} layers, ` +
      `${E} routed experts top-${lab.BENCH_CONFIG.n_activated_experts}, routing ${ROUTING}), batch ${o.batchSize} x ${o.seqLen}, ` +
      `${STEPS} steps after ${WARMUP_STEPS} warm-up, ${THREADS} threads; load ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(" / ")}`,
  );
  console.log(
    `${(wall / STEPS).toFixed(1)} ms/step under the profiler, ${((tokens * STEPS) / (wall / 1000)).toFixed(0)} tokens/s; ` +
      `after the last step: ${(mem.liveBytes / 2 ** 20).toFixed(0)} MiB live, ${(mem.pooledBytes / 2 ** 20).toFixed(0)} MiB pooled\n`,
  );
  const stepMs = median(phases.step);
  console.log("| phase | median ms | share of the step |");
  console.log("|---|---|---|");
  for (const [name, xs] of Object.entries(phases)) {
    if (name === "step") continue;
    const m = median(xs);
    console.log(`| ${name} | ${m.toFixed(2)} | ${((100 * m) / stepMs).toFixed(1)}% |`);
  }
  console.log(`| whole step | ${stepMs.toFixed(2)} | 100% |`);

  const self = [...selfTimes(profile)].sort((a, b) => b[1] - a[1]);
  const total = self.reduce((a, [, v]) => a + v, 0);
  console.log(
    `\ntop ${TOP} functions by self time (V8 sampling profiler, ${total.toFixed(0)} ms sampled):`,
  );
  console.log("| self ms | share | function |");
  console.log("|---|---|---|");
  for (const [k, v] of self.slice(0, TOP))
    console.log(`| ${v.toFixed(1)} | ${((100 * v) / total).toFixed(1)}% | \`${k}\` |`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
