/**
 * Training benchmark (lib/train, lib/data): moelab's Trainer against PyTorch 1.13 training
 * DeepSeek-V3's own inference/model.py, and the recipe's parts measured on their own.
 *   1. loss: the same loss as PyTorch at the same steps. Both sides start from the same weights
 *      (moelab saves them, the peer loads them) and train on the same batches (moelab's Batches
 *      draws the window starts, the peer reads them), with the same AdamW, schedule and clipping;
 *      both curves side by side, and tokens/s. The peer runs at its best: OpenBLAS, its faster
 *      OpenMP wait policy, OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE removed from its environment.
 *   2. overhead: what the Trainer adds to a step over a bare loop (lossParts, backward,
 *      clipGradScale, AdamW.step, zeroGrad) on the same batches, interleaved in one process.
 *   3. balance: Loss-Free Balancing in miniature: bias / aux / none over 3 seeds, MaxVio_global
 *      and validation loss next to the paper's Table 2.
 *   4. precision: the section-1 run in fp32, bf16 and fp8; the relative gaps of the final loss.
 *   5. time: time to loss, the validation loss after equal training time (moelab's full recipe
 *      with fit({ seconds }) against the peer with its schedule over elapsed time).
 * Usage: node dist/bench/train.js   (or node bench/run.js train)
 *   BENCH_SECTIONS=loss,overhead,balance,precision,time  the sections to run (default all)
 *   BENCH_DEEPSEEK_MODEL=/path/to/DeepSeek-V3/inference/model.py  the peer (absent: skipped)
 *   MOELAB_QUICK=1: a few steps everywhere (a smoke test, ~2 minutes); BENCH_THREADS (2);
 *   BENCH_BALANCE_STEPS (1000, as section 1), BENCH_BALANCE_SEEDS (0,1,2): section 3's runs;
 *   BENCH_BALANCE_GAMMAS (0.001): the bias arm's γ, extra values add rows (e.g. 0.001,0.01);
 *   BENCH_PRECISION_SEEDS (0): section 4's seeds (the first is the main run); more (e.g. 0,1,2)
 *   add a table of the gaps per seed;
 *   BENCH_OVERHEAD_REPS (20) pairs of BENCH_OVERHEAD_STEPS (10) steps each side in section 2;
 *   BENCH_LOSS_STEPS (1000): the steps of section 1 (and sections 3, 4 by default);
 *   BENCH_TIME_BUDGETS (300): section 5's budgets in seconds (e.g. 240,300,600 adds the goal row);
 *   BENCH_PYTHON: the peer's interpreter (/usr/bin/python3).
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  AdamW,
  Trainer,
  Transformer,
  clipGradScale,
  getNumThreads,
  io,
  keep,
  lab,
  maxVio,
  noGrad,
  progressLine,
  schedules,
  setNumThreads,
  tidy,
  updateBias,
  version,
  type ConfigFields,
  type EvalRecord,
  type History,
  type ProgressState,
  type Schedule,
  type TrainerOptions,
  type TrainerView,
} from "../lib/index.js";
import type { Batch } from "../lib/data/index.js";
import { addonSource } from "../lib/tensor/addon.js";
import { hasNativeOptim } from "../lib/train/kernels.js";
import { relErr } from "../test/helpers/numeric.js";

const quick = process.env.MOELAB_QUICK === "1";
/** Threads for both sides (2: this machine's cores). */
const THREADS = Number(process.env.BENCH_THREADS ?? 2);
const SECTIONS = new Set(
  (process.env.BENCH_SECTIONS ?? "loss,overhead,balance,precision,time")
    .split(",")
    .map((s) => s.trim()),
);
const PYTHON = process.env.BENCH_PYTHON ?? "/usr/bin/python3";
const PEER = path.join(__dirname, "..", "..", "bench", "train_peer.py");
const DEEPSEEK_MODEL = process.env.BENCH_DEEPSEEK_MODEL ?? "";

/**
 * The model of every section, both sides: DeepSeek-V3's architecture at toy size. MTP off and no
 * gate bias ("plain" routing) because DeepSeek's inference code has neither; section 3 turns the
 * bias on ("noaux_tc").
 */
const CONFIG: ConfigFields = lab.BENCH_CONFIG;

/** The optimizer and data of every run. */
const B = lab.BENCH_OPTIMIZER.batchSize;
const SEQ = lab.BENCH_OPTIMIZER.seqLen;
const LR = lab.BENCH_OPTIMIZER.lr;
const BETAS: [number, number] = lab.BENCH_OPTIMIZER.betas;
const EPS = lab.BENCH_OPTIMIZER.eps;
const WEIGHT_DECAY = lab.BENCH_OPTIMIZER.weightDecay; // torch side: p.dim() == 2
const CLIP = lab.BENCH_OPTIMIZER.clip;
const MIN_RATIO = lab.BENCH_OPTIMIZER.minRatio;
const STEPS = Number(process.env.BENCH_LOSS_STEPS ?? (quick ? 20 : 1000));
const WARMUP = quick ? 5 : 100;
const EVAL_EVERY = quick ? 10 : 100;
const EVAL_WINDOWS = lab.BENCH_OPTIMIZER.evalWindows;
const SEED = lab.BENCH_OPTIMIZER.seed;
/** Section 3: steps per run (9 runs: 3 arms x 3 seeds). */
const BALANCE_STEPS = Number(process.env.BENCH_BALANCE_STEPS ?? (quick ? 10 : STEPS));
const BALANCE_SEEDS = (process.env.BENCH_BALANCE_SEEDS ?? "0,1,2").split(",").map(Number);
/** Section 3: the bias arm's update speeds γ; the first is the default arm, the others extra rows. */
/** Section 4: seeds of the precision runs (the first is section 1's; more add a spread). */
const PRECISION_SEEDS = (process.env.BENCH_PRECISION_SEEDS ?? String(SEED)).split(",").map(Number);
const BALANCE_GAMMAS = (process.env.BENCH_BALANCE_GAMMAS ?? "0.001").split(",").map(Number);
/** Section 5: the training-time budgets in seconds, one run per side each. */
const TIME_BUDGETS = (process.env.BENCH_TIME_BUDGETS ?? (quick ? "10" : "300"))
  .split(",")
  .map(Number);
/** Section 3: where along each run MaxVio_batch is shown (fractions of its steps). */
const TRAJECTORY = [0.25, 0.5, 0.75, 1];
/** Section 2: interleaved pairs (Trainer, bare loop), steps per pair and side. */
const OVERHEAD_REPS = Number(process.env.BENCH_OVERHEAD_REPS ?? (quick ? 2 : 20));
const OVERHEAD_STEPS = Number(process.env.BENCH_OVERHEAD_STEPS ?? (quick ? 2 : 10));
/** Probe steps per OpenMP wait policy (two rounds each), the first not timed. */
const PROBE_STEPS = quick ? 3 : 6;

const now = (): number => Number(process.hrtime.bigint()) / 1e6;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const { mean, std } = lab;

const f = (x: number | undefined, d = 4): string =>
  x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(d);
const pct = (x: number, d = 1): string => (Number.isFinite(x) ? `${(100 * x).toFixed(d)}%` : "-");
const signed = (x: number, d = 4): string =>
  Number.isFinite(x) ? `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(d)}` : "-";

function table(head: string[], rows: string[][]): string {
  return [
    `| ${head.join(" | ")} |`,
    `|${head.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

type Data = lab.BrownBytes;

/** The Brown corpus as bytes, every 10th document held out. */
const loadData = lab.brownBytes;

/** Warm-up, then cosine to MIN_RATIO over the run's target (the steps given to fit). */
function cosine(warmup: number): Schedule {
  return schedules.cosine({ lr: LR, warmup, minRatio: MIN_RATIO });
}

/** Progress on stderr every 30 s (stdout keeps the tables). */
function stderrView(label: string): TrainerView {
  let last = 0;
  return {
    update(s: ProgressState, final: boolean): void {
      const t = Date.now();
      if (!final && t - last < 30000) return;
      last = t;
      process.stderr.write(`[${label}] ${progressLine(s).replace(/\n/g, " ")}\n`);
    },
  };
}

/** The options of the section-1 run (sections 3 and 4 change a few). */
function trainerOptions(o: Partial<TrainerOptions> = {}): TrainerOptions {
  return lab.benchTrainerOptions(WARMUP, o);
}

interface RunResult {
  history: History;
  /** Validation loss before the first step (when asked for). */
  initVal: number;
  /** Seconds of fit() minus the evaluations. */
  trainSeconds: number;
  evalSeconds: number;
  tokensPerSec: number;
  trainer: Trainer;
}

/** Trains `model` with the Trainer for `steps` steps (the loop a user writes in a cell). */
async function runTrainer(
  model: Transformer,
  data: Data,
  opts: TrainerOptions,
  steps: number,
  evalEvery: number,
  initialEval = false,
): Promise<RunResult> {
  const trainer = new Trainer(model, { train: data.train, validation: data.validation }, opts);
  const initVal = initialEval ? trainer.evaluate()!.valLoss : NaN;
  let evalMs = 0;
  const evaluate = trainer.evaluate.bind(trainer);
  trainer.evaluate = (stop?: () => boolean): EvalRecord | null => {
    const t0 = now();
    try {
      return evaluate(stop);
    } finally {
      evalMs += now() - t0;
    }
  };
  const t0 = now();
  const history = await trainer.fit({ steps, evalEvery });
  const wall = now() - t0;
  const trainSeconds = (wall - evalMs) / 1000;
  return {
    history,
    initVal,
    trainSeconds,
    evalSeconds: evalMs / 1000,
    tokensPerSec: (steps * B * SEQ) / trainSeconds,
    trainer,
  };
}

function setupLines(data: Data): string[] {
  const cpus = os.cpus();
  const git = spawnSync("git", ["rev-parse", "--short", "HEAD"], {
    cwd: path.join(__dirname, "..", ".."),
    encoding: "utf8",
  });
  const commit = git.status === 0 ? ` (commit ${git.stdout.trim()})` : "";
  return [
    `moelab ${version}${commit}, Node ${process.version}, ${THREADS} threads each side (moelab: setNumThreads → ${getNumThreads()}); ` +
      `${cpus.length} × ${cpus[0]?.model ?? "?"}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.release()}; ` +
      `load average at start ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(" / ")} (shared machine: timings are noisy)`,
    `native addon: ${addonSource}; AdamW kernel ${hasNativeOptim ? "native" : "TypeScript"}${quick ? "; MOELAB_QUICK=1 (smoke test: few steps, numbers not meaningful)" : ""}`,
    `model: dim ${CONFIG.dim}, ${CONFIG.n_layers} layers (${CONFIG.n_dense_layers} dense), ${CONFIG.n_heads} heads, ` +
      `${CONFIG.n_routed_experts} routed + ${CONFIG.n_shared_experts} shared experts top-${CONFIG.n_activated_experts}, ` +
      `q_lora ${CONFIG.q_lora_rank}, kv_lora ${CONFIG.kv_lora_rank}, nope/rope/v ${CONFIG.qk_nope_head_dim}/${CONFIG.qk_rope_head_dim}/${CONFIG.v_head_dim}, ` +
      `inter ${CONFIG.inter_dim}, moe_inter ${CONFIG.moe_inter_dim}, vocab ${CONFIG.vocab_size} (bytes), max_seq_len ${CONFIG.max_seq_len}, ` +
      `${CONFIG.score_func} scores, route_scale ${CONFIG.route_scale}, ${CONFIG.n_expert_groups} expert group, MTP off, init N(0, ${CONFIG.init_std}), norms 1`,
    `training: batch ${B} x ${SEQ}, AdamW lr ${LR} (β ${BETAS.join("/")}, eps ${EPS}, decay ${WEIGHT_DECAY} on 2-D weights), ` +
      `${WARMUP} warm-up steps then cosine to ${MIN_RATIO * 100}% over ${STEPS} steps, clip ${CLIP}`,
    `data: Brown corpus as bytes (ByteTokenizer), every 10th document held out: ` +
      `${data.docs.train} documents / ${data.train.length.toLocaleString("en-US")} bytes to train, ` +
      `${data.docs.validation} / ${data.validation.length.toLocaleString("en-US")} for validation (${EVAL_WINDOWS} evenly spaced windows of ${SEQ})`,
  ];
}

// ------------------------------------------------------------------ section 1: the PyTorch peer

interface PeerResult {
  torch: string;
  python: string;
  threads: number;
  blas_info: string;
  blas_libs: string[];
  env: Record<string, string | null>;
  params: number;
  gflops_512: number;
  init_val?: number;
  lr_max_rel_diff?: number;
  losses: number[];
  grad_norms: number[];
  step_ms: number[];
  evals: { step: number; val: number; seconds?: number }[];
  wall_s: number;
  error?: string;
}

/** The peer's environment: OpenBLAS tuned for this CPU (the two old-build overrides removed). */
function peerEnv(waitPolicy: string | null): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: String(THREADS) };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  if (waitPolicy === null) delete env.OMP_WAIT_POLICY;
  else env.OMP_WAIT_POLICY = waitPolicy;
  return env;
}

/** One peer process: trains (or probes) and replies with one JSON line. */
function runPeer(
  specPath: string,
  waitPolicy: string | null,
  probeSteps?: number,
  seconds?: number,
): Promise<PeerResult> {
  const args = ["-u", PEER, "--model", DEEPSEEK_MODEL, "--spec", specPath];
  if (probeSteps !== undefined) args.push("--probe", "--steps", String(probeSteps));
  if (seconds !== undefined) args.push("--seconds", String(seconds));
  return new Promise((resolve, reject) => {
    const p = spawn(PYTHON, args, {
      env: peerEnv(waitPolicy),
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.on("error", (e) => reject(new Error(`could not start ${PYTHON}: ${e.message}`)));
    p.on("close", (code) => {
      const line = out.trim().split("\n").pop() ?? "";
      try {
        const r = JSON.parse(line) as PeerResult;
        if (code !== 0) throw new Error(`exit code ${code}`);
        resolve(r);
      } catch (e) {
        reject(
          new Error(
            `${PYTHON} ${PEER} failed (exit ${code}): ${(e as Error).message}; last output: ${line.slice(0, 300)}`,
          ),
        );
      }
    });
  });
}

/**
 * The peer's inputs in `dir` (which holds the starting checkpoint): the token streams, and the
 * spec with the batches' window starts, the validation windows and the optimizer and schedule.
 */
function writePeerSpec(
  dir: string,
  data: Data,
  starts: number[][],
  valStarts: number[],
): { spec: string; logits: string } {
  const files = {
    train: path.join(dir, "train.i32"),
    val: path.join(dir, "val.i32"),
    logits: path.join(dir, "torch-logits.safetensors"),
    spec: path.join(dir, "spec.json"),
  };
  const raw = (t: Int32Array): Buffer => Buffer.from(t.buffer, t.byteOffset, t.byteLength);
  writeFileSync(files.train, raw(data.train.tokens));
  writeFileSync(files.val, raw(data.validation.tokens));
  writeFileSync(
    files.spec,
    JSON.stringify({
      ckpt: dir,
      train_tokens: files.train,
      val_tokens: files.val,
      starts,
      val_starts: valStarts,
      seq_len: SEQ,
      batch_size: B,
      lr: LR,
      warmup: WARMUP,
      min_ratio: MIN_RATIO,
      total_steps: STEPS,
      betas: BETAS,
      eps: EPS,
      weight_decay: WEIGHT_DECAY,
      clip: CLIP,
      eval_every: EVAL_EVERY,
      threads: THREADS,
      lrs: Array.from(cosine(WARMUP).values(STEPS)),
      logits_out: files.logits,
    }),
  );
  return files;
}

/** The window starts of the first `steps` batches a Trainer with the bench's seed draws. */
function drawnStarts(data: Data, steps: number): { starts: number[][]; state: unknown } {
  const it = data.train.batches({ batchSize: B, seqLen: SEQ, seed: SEED });
  const starts: number[][] = [];
  for (let s = 0; s < steps; s++) {
    const b = it.next();
    starts.push(b.starts);
    b.inputs.dispose();
    b.targets.dispose();
  }
  return { starts, state: it.state() };
}

/** PyTorch's OpenMP wait policy, unset or PASSIVE, whichever trains faster (two rounds each). */
async function fasterPolicy(
  specPath: string,
): Promise<{ probes: { policy: string; ms: number }[]; policy: string | null }> {
  const times = new Map<string | null, number[]>([
    [null, []],
    ["PASSIVE", []],
  ]);
  for (let round = 0; round < 2; round++)
    for (const pol of times.keys()) {
      const r = await runPeer(specPath, pol, PROBE_STEPS);
      times.get(pol)!.push(median(r.step_ms.slice(1)));
    }
  const probes = [...times].map(([p, ms]) => ({ policy: p ?? "unset", ms: Math.min(...ms) }));
  return { probes, policy: probes[0].ms <= probes[1].ms ? null : "PASSIVE" };
}

interface LossSection {
  run: RunResult;
  sameBatches: boolean;
}

async function lossSection(data: Data): Promise<LossSection> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "moelab-bench-train-"));
  try {
    const model = Transformer.create(CONFIG, { seed: SEED });
    await model.save(dir); // DeepSeek's layout: the peer's starting weights

    // The batches the Trainer will draw (same seed), and the validation windows it evaluates.
    const drawn = drawnStarts(data, STEPS);
    const starts = drawn.starts;
    const evalSet = data.validation.evalWindows({
      count: EVAL_WINDOWS,
      seqLen: SEQ,
      batchSize: Math.min(B, EVAL_WINDOWS),
    });
    const myLogits = noGrad(() =>
      tidy(() => model.forward(evalSet[0].inputs).toArray() as Float32Array),
    );
    const files = writePeerSpec(
      dir,
      data,
      starts,
      evalSet.flatMap((b) => b.starts),
    );
    for (const b of evalSet) {
      b.inputs.dispose();
      b.targets.dispose();
    }

    // moelab: the Trainer, as a user runs it.
    const t0 = now();
    const run = await runTrainer(
      model,
      data,
      trainerOptions({ view: stderrView("moelab fp32") }),
      STEPS,
      EVAL_EVERY,
      true,
    );
    const sameBatches = JSON.stringify(run.trainer.batches.state()) === JSON.stringify(drawn.state);
    const moelabSeconds = (now() - t0) / 1000;

    // PyTorch: probe both wait policies, then the timed run with the faster.
    let peer: PeerResult | null = null;
    let peerNote = "";
    let probes: { policy: string; ms: number }[] = [];
    let policy: string | null = null;
    let peerSeconds = 0;
    let torchLogitsErr = NaN;
    if (!DEEPSEEK_MODEL) {
      peerNote =
        "PyTorch peer skipped: BENCH_DEEPSEEK_MODEL is not set (the path of DeepSeek-V3's inference/model.py); moelab's curve alone.";
    } else {
      const t1 = now();
      try {
        ({ probes, policy } = await fasterPolicy(files.spec));
        peer = await runPeer(files.spec, policy);
        const theirs = (await io.readSafetensors(files.logits)).tensors.get("logits")!
          .data as Float32Array;
        torchLogitsErr = relErr(myLogits, theirs);
      } catch (e) {
        peerNote = `PyTorch peer failed: ${(e as Error).message}`;
        peer = null;
      }
      peerSeconds = (now() - t1) / 1000;
    }

    printLossSection(run, sameBatches, peer, peerNote, probes, policy, torchLogitsErr);
    console.log(
      `\nSection 1 took ${(moelabSeconds / 60).toFixed(1)} min for moelab (${run.evalSeconds.toFixed(0)} s of it evaluating)` +
        (DEEPSEEK_MODEL
          ? ` and ${(peerSeconds / 60).toFixed(1)} min for the peer (probes included)`
          : "") +
        ".",
    );
    return { run, sameBatches };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function printLossSection(
  run: RunResult,
  sameBatches: boolean,
  peer: PeerResult | null,
  peerNote: string,
  probes: { policy: string; ms: number }[],
  policy: string | null,
  logitsErr: number,
): void {
  const h = run.history;
  const initVal = run.initVal;
  console.log("\n## 1. The same loss as PyTorch at the same steps");
  console.log(
    "- moelab: `new Trainer(model, { train, validation }, opts).fit({ steps, evalEvery })`, balance none, routing plain, fp32.",
  );
  console.log(
    `- same batches: the peer reads the ${STEPS} x ${B} window starts of moelab's Batches (seed ${SEED}) over the same byte stream; ` +
      `the Trainer's iterator ended in the same state as the one that drew them: ${sameBatches ? "yes" : "NO"}.`,
  );
  if (peer) {
    console.log(
      `- same weights: the peer loads moelab's checkpoint (strict); initial logits of the first validation batch [${B}, ${SEQ}, ${CONFIG.vocab_size}]: ` +
        `relative error ${logitsErr.toExponential(2)}${logitsErr > 1e-5 ? " — NOT the same model" : ""}; ` +
        `initial validation loss ${f(initVal, 6)} (moelab) vs ${f(peer.init_val, 6)} (PyTorch).`,
    );
    console.log(
      `- same learning rates: the peer's port of the schedule differs from moelab's by at most ${(peer.lr_max_rel_diff ?? NaN).toExponential(1)} (relative).`,
    );
    const env = Object.entries(peer.env)
      .map(([k, v]) => `${k}=${v ?? "(unset)"}`)
      .join(", ");
    console.log(
      `- PyTorch peer: torch ${peer.torch} (Python ${peer.python}), DeepSeek-V3's ${DEEPSEEK_MODEL} in float32, attn_impl naive, ` +
        `torch.optim.AdamW (for-loop), ${peer.threads} threads; ${peer.blas_info} in torch.__config__.show(), mapped: ${peer.blas_libs.join(", ") || "none"}; ` +
        `env: ${env}; SGEMM 512³ ${peer.gflops_512.toFixed(1)} GFLOP/s in the same process.`,
    );
    console.log(
      `- OpenMP wait policy: probe of ${PROBE_STEPS} steps x 2 rounds, each in its own process: ` +
        probes.map((p) => `${p.policy} ${p.ms.toFixed(0)} ms/step`).join(", ") +
        ` → timed run with OMP_WAIT_POLICY ${policy ?? "unset"}.`,
    );
  } else {
    console.log(`- ${peerNote}`);
  }
  const ev = new Map(h.evals.map((e) => [e.step, e.valLoss]));
  const pev = new Map((peer?.evals ?? []).map((e) => [e.step, e.val]));
  const steps = [1, ...h.evals.map((e) => e.step)];
  const rows: string[][] = [
    [
      "0 (initial)",
      "-",
      "-",
      f(initVal),
      f(peer?.init_val),
      peer ? signed(initVal - peer.init_val!) : "-",
    ],
  ];
  for (const s of steps) {
    const mine = h.steps[s - 1]?.main;
    const theirs = peer?.losses[s - 1];
    const mv = ev.get(s);
    const tv = pev.get(s);
    rows.push([
      String(s),
      f(mine),
      f(theirs),
      f(mv),
      f(tv),
      mv !== undefined && tv !== undefined ? signed(mv - tv) : "-",
    ]);
  }
  console.log("");
  console.log(
    table(
      [
        "step",
        "moelab train loss",
        "PyTorch train loss",
        "moelab val loss",
        "PyTorch val loss",
        "Δ val (moelab − PyTorch)",
      ],
      rows,
    ),
  );
  console.log(
    "Losses in nats per byte; train loss: that step's batch (the same batch on both sides); val: the 64 windows.",
  );
  if (peer) {
    const d = h.steps.map((r, i) => Math.abs(r.main - (peer.losses[i] ?? NaN)));
    const upTo = (n: number): number => Math.max(...d.slice(0, n).filter(Number.isFinite));
    console.log(
      `Train-loss difference |moelab − PyTorch| on the same batch: max ${upTo(10).toExponential(1)} over steps 1-10, ` +
        `${upTo(100).toExponential(1)} over 1-100, ${upTo(STEPS).toExponential(1)} over all ${STEPS} ` +
        "(float32 rounding differences grow through training as any two implementations' do).",
    );
    const mine = h.evals[h.evals.length - 1]?.valLoss ?? NaN;
    const theirs = peer.evals[peer.evals.length - 1]?.val ?? NaN;
    const gap = mine - theirs;
    console.log(
      `**Target: moelab's validation loss at step ${STEPS} within 0.01 nats/byte of PyTorch's (or lower): ` +
        `${f(mine)} vs ${f(theirs)}, Δ ${signed(gap)} → ${gap <= 0.01 ? "met" : "missed"}.**`,
    );
  }
  const myMs = h.steps.map((r) => r.ms);
  const speedRows: string[][] = [
    [
      "moelab (Trainer)",
      ((run.trainSeconds * 1000) / STEPS).toFixed(0),
      median(myMs).toFixed(0),
      run.tokensPerSec.toFixed(0),
      "1.00x",
    ],
  ];
  if (peer) {
    const tps = (STEPS * B * SEQ) / ((mean(peer.step_ms) * STEPS) / 1000);
    speedRows.push([
      "PyTorch 1.13 (DeepSeek's model.py)",
      mean(peer.step_ms).toFixed(0),
      median(peer.step_ms).toFixed(0),
      tps.toFixed(0),
      `${(tps / run.tokensPerSec).toFixed(2)}x`,
    ]);
    console.log("");
    console.log(
      table(
        [
          "side",
          "ms/step (mean over the run)",
          "ms/step (median)",
          "tokens/s",
          "relative to moelab",
        ],
        speedRows,
      ),
    );
    console.log(
      `Wall-clock of the training steps (batch, forward, backward, clipping, AdamW), evaluation excluded; ${B * SEQ} tokens per step; the two runs one after the other, not at once.`,
    );
  } else {
    console.log("");
    console.log(
      table(["side", "ms/step (mean over the run)", "ms/step (median)", "tokens/s", ""], speedRows),
    );
  }
}

// ------------------------------------------------------------------ section 2: trainer overhead

/** A Jupyter kernel's display as the default view sees it: each bundle serialised, as sent. */
function standInKernel(): () => void {
  const key = Symbol.for("moelab.kernel");
  const g = globalThis as Record<symbol, unknown>;
  const before = g[key];
  let ids = 0;
  let bytes = 0;
  g[key] = {
    interruptFlag: new Int32Array(new SharedArrayBuffer(4)),
    holdInterrupt: () => () => undefined,
    checkInterrupt: () => undefined,
    newDisplayId: (): string => `bench-${++ids}`,
    display: (value: unknown, opts?: unknown): void => {
      const v = value as Record<symbol, () => unknown>;
      bytes += JSON.stringify({ data: v[Symbol.for("Jupyter.display")](), opts }).length;
    },
  };
  return () => {
    if (before === undefined) delete g[key];
    else g[key] = before;
    void bytes;
  };
}

interface OverheadArm {
  label: string;
  routing: "plain" | "noaux_tc";
  balance: "none" | "bias";
}

interface OverheadResult {
  arm: OverheadArm;
  trainerMs: number;
  bareMs: number;
  ratios: number[];
  /** The least disturbed repetitions: min(Trainer) / min(bare) − 1. */
  minRatio: number;
  dataMs: number;
  routeMs: number;
  progressMs: number;
  /** The view's closing update at the end of each fit() call (once per call, not per step), ms. */
  finalMs: number;
  /** Per step, Trainer/bare − 1 with the once-per-call closing update taken out. */
  stepRatios: number[];
  bookkeepingMicro: number;
}

/** The Trainer's steps against a bare loop on the same batches, interleaved. */
async function overheadArm(data: Data, arm: OverheadArm): Promise<OverheadResult> {
  const cfg: ConfigFields = { ...CONFIG, routing: arm.routing };
  const total = (OVERHEAD_REPS + 1) * OVERHEAD_STEPS;
  const restore = standInKernel();
  try {
    // The Trainer: its default view (the live output a notebook shows: lib/viz's dashboard once
    // moelab is imported whole, as here), no validation split.
    const mT = Transformer.create(cfg, { seed: SEED });
    const trainer = new Trainer(mT, data.train, {
      ...trainerOptions(),
      balance: arm.balance,
    });
    if (trainer.view === null) throw new Error("expected the Trainer's default view");
    // Timers around what the Trainer calls and can be reached from outside.
    let dataMs = 0;
    let routeMs = 0;
    let progressMs = 0;
    let finalMs = 0;
    const next = trainer.batches.next.bind(trainer.batches);
    trainer.batches.next = (): Batch => {
      const t0 = now();
      const b = next();
      dataMs += now() - t0;
      return b;
    };
    const view = trainer.view;
    const update = view.update.bind(view);
    view.update = (s: ProgressState, fin: boolean): void => {
      const t0 = now();
      update(s, fin);
      if (fin) finalMs += now() - t0;
      else progressMs += now() - t0;
    };
    let observer: ((e: never) => void) | null = null;
    Object.defineProperty(mT.ctx, "onRoute", {
      configurable: true,
      get: () => observer,
      set: (fn: ((e: never) => void) | null) => {
        observer =
          fn === null
            ? null
            : (e: never): void => {
                const t0 = now();
                fn(e);
                routeMs += now() - t0;
              };
      },
    });

    // The bare loop: its own copy of the model, AdamW, the same batches drawn beforehand.
    const mB = Transformer.create(cfg, { seed: SEED });
    const params = mB.trainableParameters();
    const opt = new AdamW(params, { lr: LR, betas: BETAS, eps: EPS, weightDecay: WEIGHT_DECAY });
    const sched = cosine(WARMUP);
    const it = data.train.batches({ batchSize: B, seqLen: SEQ, seed: SEED });
    const batches: Batch[] = [];
    for (let i = 0; i < total; i++) {
      const b = it.next();
      keep(b.inputs);
      keep(b.targets);
      batches.push(b);
    }
    let bareStep = 0;
    const bare = (n: number): void => {
      for (let i = 0; i < n; i++) {
        const b = batches[bareStep];
        tidy(() => mB.lossParts(b.inputs, b.targets).loss.backward());
        const { scale } = clipGradScale(params, CLIP);
        opt.step({ lr: sched.at(bareStep, bareStep / total), gradScale: scale });
        mB.zeroGrad();
        b.inputs.dispose();
        b.targets.dispose();
        bareStep++;
      }
    };
    const fitMore = async (n: number): Promise<void> => {
      await trainer.fit({ steps: trainer.step + n });
    };

    // Warm-up (not counted), then repetitions in alternating order.
    await fitMore(OVERHEAD_STEPS);
    bare(OVERHEAD_STEPS);
    const tr: number[] = [];
    const br: number[] = [];
    const parts = {
      data: [] as number[],
      route: [] as number[],
      progress: [] as number[],
      final: [] as number[],
    };
    for (let r = 0; r < OVERHEAD_REPS; r++) {
      dataMs = routeMs = progressMs = finalMs = 0;
      let tT = 0;
      let tB = 0;
      const timeTrainer = async (): Promise<void> => {
        const t0 = now();
        await fitMore(OVERHEAD_STEPS);
        tT = (now() - t0) / OVERHEAD_STEPS;
      };
      const timeBare = (): void => {
        const t0 = now();
        bare(OVERHEAD_STEPS);
        tB = (now() - t0) / OVERHEAD_STEPS;
      };
      if (r % 2 === 0) {
        await timeTrainer();
        timeBare();
      } else {
        timeBare();
        await timeTrainer();
      }
      tr.push(tT);
      br.push(tB);
      parts.data.push(dataMs / OVERHEAD_STEPS);
      parts.route.push(routeMs / OVERHEAD_STEPS);
      parts.progress.push(progressMs / OVERHEAD_STEPS);
      parts.final.push(finalMs);
    }
    // The per-step bookkeeping the Trainer does on numbers (maxVio per layer, the bias update),
    // timed alone on this model's layer and expert counts.
    const layers = trainer.history.mainLayers;
    const E = CONFIG.n_routed_experts!;
    const counts = Array.from({ length: layers }, (_, l) =>
      Float64Array.from({ length: E }, (_, e) => 400 + ((l * 7 + e * 13) % 37)),
    );
    const bias = Array.from({ length: layers }, () => new Float32Array(E));
    const reps = 20000;
    const t0 = now();
    for (let i = 0; i < reps; i++)
      for (let l = 0; l < layers; l++) {
        maxVio(counts[l]);
        if (arm.balance === "bias") updateBias(bias[l], counts[l], 0.001);
      }
    const bookkeepingMicro = ((now() - t0) / reps) * 1000;
    return {
      arm,
      trainerMs: median(tr),
      bareMs: median(br),
      ratios: tr.map((t, i) => t / br[i] - 1),
      minRatio: Math.min(...tr) / Math.min(...br) - 1,
      dataMs: median(parts.data),
      routeMs: median(parts.route),
      progressMs: median(parts.progress),
      finalMs: median(parts.final),
      stepRatios: tr.map((t, i) => (t - parts.final[i] / OVERHEAD_STEPS) / br[i] - 1),
      bookkeepingMicro,
    };
  } finally {
    restore();
  }
}

/** The q-quantile of xs (linear between order statistics). */
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  return s.length === 0 ? NaN : s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (i - lo);
}

async function overheadSection(data: Data): Promise<void> {
  const t0 = now();
  const arms: OverheadArm[] = [
    { label: "section-1 run (balance none, routing plain)", routing: "plain", balance: "none" },
    {
      label: "balancing on (bias γ 0.001 + sequence-wise α 1e-4)",
      routing: "noaux_tc",
      balance: "bias",
    },
  ];
  const res: OverheadResult[] = [];
  for (const a of arms) res.push(await overheadArm(data, a));
  console.log("\n## 2. What the Trainer adds to a step");
  console.log(
    `Trainer.fit against a bare loop (lossParts, backward, clipGradScale, AdamW.step, zeroGrad) on the same batches, ` +
      `with its own copy of the model; ${OVERHEAD_REPS} interleaved pairs of ${OVERHEAD_STEPS} steps each side (order alternating); ` +
      "the Trainer's share is the median over the pairs of Trainer/bare − 1 (interquartile range in brackets), " +
      "and min(Trainer)/min(bare) − 1 over the least disturbed repetitions. " +
      "The Trainer runs with its default view against a stand-in kernel display (each bundle serialised as the kernel sends it, " +
      "at most every 250 ms) and without a validation split. Parts timed from outside, ms per step: data = Batches.next, " +
      "balancing = the route observer the Trainer installs (load counting, and the balance losses' forward; their backward runs in backward()), " +
      "progress = view.update during the run; the rest (step record, .item() reads, schedule, bias update, history, tidy, and noise) is the remainder. " +
      "A fit() call ends with one closing update of its view (the final dashboard): a cost per call, not per step, shown apart; " +
      "'per step' is the share with it taken out, what a step of a long fit() costs.",
  );
  const rows: string[][] = [];
  for (const r of res) {
    const share = median(r.ratios);
    const perStep = median(r.stepRatios);
    const over = perStep * r.bareMs;
    const rest = over - r.dataMs - r.routeMs - r.progressMs;
    const part = (ms: number): string => `${ms.toFixed(2)} (${pct(ms / r.bareMs)})`;
    rows.push([
      r.arm.label,
      r.bareMs.toFixed(1),
      r.trainerMs.toFixed(1),
      `${pct(share)} [${pct(quantile(r.ratios, 0.25))}, ${pct(quantile(r.ratios, 0.75))}]`,
      `**${pct(perStep)}** [${pct(quantile(r.stepRatios, 0.25))}, ${pct(quantile(r.stepRatios, 0.75))}]`,
      pct(r.minRatio),
      r.finalMs.toFixed(1),
      part(r.dataMs),
      part(r.routeMs),
      part(r.progressMs),
      part(rest),
      r.arm.balance === "none"
        ? perStep <= 0.05
          ? "met"
          : "missed"
        : "(the balancing is the recipe's, not overhead)",
    ]);
  }
  console.log("");
  console.log(
    table(
      [
        "run",
        "bare loop ms/step",
        "Trainer ms/step",
        `Trainer adds, fit() of ${OVERHEAD_STEPS} steps (median [IQR])`,
        "Trainer adds per step (median [IQR])",
        "Trainer adds (min/min)",
        "closing update ms per fit()",
        "data",
        "balancing",
        "progress output",
        "rest",
        "target ≤ 5%",
      ],
      rows,
    ),
  );
  console.log(
    `The bookkeeping on numbers alone (maxVio of each MoE layer, and the bias update in the bias run), timed apart: ` +
      res.map((r) => `${r.bookkeepingMicro.toFixed(2)} µs per step (${r.arm.balance})`).join(", ") +
      `. Section 2 took ${((now() - t0) / 60000).toFixed(1)} min.`,
  );
}

// ------------------------------------------------------------------ section 3: balancing

interface BalanceRun {
  arm: string;
  seed: number;
  val: number;
  maxVioGlobal: number;
  /** MaxVio_batch (mean over the MoE layers and the 10% of steps before) at TRAJECTORY. */
  maxVioBatch: number[];
  seconds: number;
}

async function balanceSection(data: Data): Promise<void> {
  const t0 = now();
  const steps = BALANCE_STEPS;
  const warmup = Math.max(1, Math.round((WARMUP * steps) / STEPS));
  const arms = lab.balanceArms(BALANCE_GAMMAS);
  const runs: BalanceRun[] = [];
  for (const seed of BALANCE_SEEDS)
    for (const a of arms) {
      const t1 = now();
      const model = Transformer.create({ ...CONFIG, routing: "noaux_tc" }, { seed });
      const r = await runTrainer(
        model,
        data,
        {
          ...trainerOptions(),
          schedule: cosine(warmup),
          seed,
          view: stderrView(`balance ${a.name} seed ${seed}`),
          ...a.opts,
        },
        steps,
        0,
      );
      const m = lab.balanceMetrics(r.history, steps, TRAJECTORY);
      runs.push({
        arm: a.name,
        seed,
        val: m.val,
        maxVioGlobal: m.maxVioGlobal,
        maxVioBatch: m.maxVioBatch,
        seconds: (now() - t1) / 1000,
      });
    }
  const by = (arm: string): BalanceRun[] => runs.filter((r) => r.arm === arm);
  const stat = (xs: number[], d: number): string => `${f(mean(xs), d)} ± ${f(std(xs), d)}`;
  console.log(
    "\n## 3. Loss-Free Balancing in miniature (the direction of the LFB paper's Table 2)",
  );
  console.log(
    `The section-1 model with the gate bias (routing noaux_tc), seeds ${BALANCE_SEEDS.join(", ")} (weights and batch order), ` +
      `${steps} steps each (${warmup} warm-up, cosine to 10%; ${(steps * B * SEQ).toLocaleString("en-US")} tokens), same optimizer; ` +
      `MaxVio_global over the ${EVAL_WINDOWS} validation windows at the end, averaged over the ${CONFIG.n_layers! - CONFIG.n_dense_layers!} MoE layers; ` +
      "mean ± sample standard deviation over the seeds.",
  );
  const rows = arms.map((a) => {
    const rs = by(a.name);
    return [
      `${a.name} (${a.what})`,
      stat(
        rs.map((r) => r.val),
        4,
      ),
      f(Math.exp(mean(rs.map((r) => r.val))), 3),
      stat(
        rs.map((r) => r.maxVioGlobal),
        3,
      ),
      TRAJECTORY.map((_, i) => f(mean(rs.map((r) => r.maxVioBatch[i])), 2)).join(" / "),
      rs.map((r) => `${f(r.val, 4)} / ${f(r.maxVioGlobal, 3)}`).join("; "),
    ];
  });
  console.log("");
  console.log(
    table(
      [
        "arm",
        "val loss (nats/byte)",
        "val perplexity (per byte)",
        "MaxVio_global",
        `MaxVio_batch at ${TRAJECTORY.map((q) => Math.round(q * steps)).join(" / ")} steps (mean of the ${Math.max(1, Math.round(steps / 10))} before)`,
        "per seed: val / MaxVio_global",
      ],
      rows,
    ),
  );
  console.log("");
  console.log(
    table(
      [
        "LFB paper, Table 2",
        "aux-loss (α 0.001): perplexity / MaxVio_global",
        "loss-free: perplexity / MaxVio_global",
      ],
      lab.LFB_TABLE2.map((r) => [
        r.model,
        `${r.aux.ppl.toFixed(2)} / ${r.aux.maxVio.toFixed(2)}`,
        `${r.bias.ppl.toFixed(2)} / ${r.bias.maxVio.toFixed(2)}`,
      ]),
    ),
  );
  console.log(
    "(The paper's perplexities are per token of a word-piece vocabulary, ours per byte: compare directions, not values.)",
  );
  const mv = (arm: string): number => mean(by(arm).map((r) => r.maxVioGlobal));
  const order = mv("bias") < mv("aux") && mv("aux") < mv("none");
  const vb = by("bias").map((r) => r.val);
  const va = by("aux").map((r) => r.val);
  const delta = mean(vb) - mean(va);
  const spread = Math.max(std(vb), std(va));
  const paired = BALANCE_SEEDS.map((_, i) => vb[i] - va[i]);
  console.log(
    `**MaxVio_global bias < aux < none: ${f(mv("bias"), 3)} < ${f(mv("aux"), 3)} < ${f(mv("none"), 3)} → ${order ? "holds" : "does NOT hold"}.**`,
  );
  console.log(
    `**Validation loss, bias − aux: ${signed(delta)} (per seed ${paired.map((d) => signed(d)).join(", ")}); ` +
      `the seeds' spread (larger standard deviation of the two arms) ${f(spread)} → ` +
      `${delta <= spread ? "bias is no worse than aux beyond the spread" : "bias is WORSE than aux beyond the spread"}.**`,
  );
  console.log(
    `Section 3 took ${((now() - t0) / 60000).toFixed(1)} min (${runs.length} runs, ${f(mean(runs.map((r) => r.seconds)), 0)} s each on average).`,
  );
}

// ------------------------------------------------------------------ section 4: precision

/** The run in fp32, bf16 and fp8 from seed `seed` (reusing `fp32` when given). */
async function precisionRuns(
  data: Data,
  seed: number,
  fp32: RunResult | null,
  evalEvery: number,
): Promise<Map<string, RunResult>> {
  const runs = new Map<string, RunResult>();
  if (fp32) runs.set("fp32", fp32);
  for (const p of ["fp32", "bf16", "fp8"] as const) {
    if (runs.has(p)) continue;
    const label = seed === PRECISION_SEEDS[0] ? `moelab ${p}` : `moelab ${p} seed ${seed}`;
    runs.set(
      p,
      await runTrainer(
        Transformer.create(CONFIG, { seed }),
        data,
        trainerOptions({ precision: p, seed, view: stderrView(label) }),
        STEPS,
        evalEvery,
      ),
    );
  }
  return runs;
}

/** The last evaluation's validation loss of a run. */
const finalVal = (r: RunResult): number => r.history.evals[r.history.evals.length - 1].valLoss;

async function precisionSection(data: Data, fp32: RunResult | null): Promise<void> {
  const t0 = now();
  const seed0 = PRECISION_SEEDS[0];
  const runs = await precisionRuns(data, seed0, seed0 === SEED ? fp32 : null, EVAL_EVERY);
  const final = (p: string): number => finalVal(runs.get(p)!);
  const tailTrain = (p: string): number =>
    mean(
      runs
        .get(p)!
        .history.steps.slice(-Math.max(1, Math.round(STEPS / 10)))
        .map((s) => s.main),
    );
  console.log("\n## 4. Precision: the section-1 run in fp32, bf16 and fp8 (moelab)");
  console.log(
    `Trainer option precision: the GEMMs of the model's Linear layers (fp8: DeepSeek-V3's recipe, E4M3 with 1x128 activation and 128x128 weight scales); ` +
      `master weights, gradients and AdamW moments in float32. ` +
      (seed0 === SEED
        ? `Same weights, batches and schedule as section 1` +
          (fp32 ? "; the fp32 run is section 1's moelab run (identical run), reused." : ".")
        : `Section 1's set-up with seed ${seed0} (weights and batch order).`),
  );
  const evSteps = runs.get("bf16")!.history.evals.map((e) => e.step);
  const rows = evSteps.map((s) => [
    String(s),
    ...["fp32", "bf16", "fp8"].map((p) =>
      f(runs.get(p)!.history.evals.find((e) => e.step === s)?.valLoss),
    ),
  ]);
  rows.push([
    `train loss, mean of the last ${Math.max(1, Math.round(STEPS / 10))} steps`,
    ...["fp32", "bf16", "fp8"].map((p) => f(tailTrain(p))),
  ]);
  rows.push([
    "tokens/s (evaluation excluded)",
    ...["fp32", "bf16", "fp8"].map((p) => runs.get(p)!.tokensPerSec.toFixed(0)),
  ]);
  console.log("");
  console.log(table(["step (val loss)", "fp32", "bf16", "fp8"], rows));
  const g8 = (final("fp8") - final("bf16")) / final("bf16");
  const g16 = (final("bf16") - final("fp32")) / final("fp32");
  console.log(
    `**Final validation loss, fp8 vs bf16: ${signed(100 * g8, 3)}% (target |gap| < 0.5%; DeepSeek-V3 reports < 0.25% at scale) → ` +
      `${Math.abs(g8) < 0.005 ? "met" : "missed"}. bf16 vs fp32: ${signed(100 * g16, 3)}%.**`,
  );
  // More seeds (init and batch order): the seed-to-seed spread the gap is to be judged against.
  const extra = PRECISION_SEEDS.slice(1);
  if (extra.length > 0) {
    const gaps8: number[] = [g8];
    const gaps16: number[] = [g16];
    const seedRows: string[][] = [
      [String(seed0), f(final("fp32")), f(final("bf16")), f(final("fp8")), pct(g8, 3), pct(g16, 3)],
    ];
    for (const sd of extra) {
      const r = await precisionRuns(data, sd, null, STEPS);
      const fin = Object.fromEntries([...r].map(([p, run]) => [p, finalVal(run)]));
      const a = (fin.fp8 - fin.bf16) / fin.bf16;
      const b = (fin.bf16 - fin.fp32) / fin.fp32;
      gaps8.push(a);
      gaps16.push(b);
      seedRows.push([String(sd), f(fin.fp32), f(fin.bf16), f(fin.fp8), pct(a, 3), pct(b, 3)]);
    }
    console.log("");
    console.log(
      table(["seed", "fp32 val", "bf16 val", "fp8 val", "fp8 vs bf16", "bf16 vs fp32"], seedRows),
    );
    // mean ± sample standard deviation over the seeds, and the standard error of the mean
    const summary = (g: number[]): string =>
      `${signed(100 * mean(g), 3)}% ± ${(100 * std(g)).toFixed(3)}% (sd; standard error ${((100 * std(g)) / Math.sqrt(g.length)).toFixed(3)}%; ` +
      `${g.filter((x) => x > 0).length} of ${g.length} seeds positive)`;
    const m8 = mean(gaps8);
    console.log(
      `**fp8 vs bf16 over ${gaps8.length} seeds: ${summary(gaps8)}; bf16 vs fp32: ${summary(gaps16)} → ` +
        `${Math.abs(m8) < 0.005 ? "met" : "missed"} (target |mean gap| < 0.5%).**`,
    );
  }
  console.log(`Section 4 took ${((now() - t0) / 60000).toFixed(1)} min.`);
}

// ------------------------------------------------------------------ section 5: time to loss

interface TimeRun {
  val: number;
  steps: number;
  seconds: number;
}

/**
 * Validation loss after equal wall-clock: each side trains for the budget (training time only,
 * evaluation excluded) with its cosine schedule run against elapsed time, then evaluates once.
 * moelab runs its full recipe (MTP λ 0.3, bias balancing, the sequence-wise loss) as
 * `fit({ seconds })`; the peer, DeepSeek's model.py, has neither MTP nor the bias and starts from
 * the same seed's plain model.
 */
async function timeLossSection(data: Data): Promise<void> {
  console.log(
    `\n## 5. Time to loss: validation loss after equal training time (budgets ${TIME_BUDGETS.join(", ")} s)\n`,
  );
  const rows: string[][] = [];
  const mine = new Map<number, TimeRun>();
  const theirs = new Map<number, TimeRun>();
  let peerNote = "";
  let setup = "";
  for (const budget of TIME_BUDGETS) {
    // moelab: the full recipe, as a user trains for a time budget.
    const model = Transformer.create(
      { ...CONFIG, mtp_depth: 1, routing: "noaux_tc" },
      { seed: SEED },
    );
    const trainer = new Trainer(
      model,
      { train: data.train, validation: data.validation },
      trainerOptions({ balance: "bias", view: stderrView(`moelab ${budget} s`) }),
    );
    await trainer.fit({ seconds: budget });
    const ev = trainer.evaluate()!;
    mine.set(budget, { val: ev.valLoss, steps: trainer.step, seconds: trainer.elapsed });

    if (!DEEPSEEK_MODEL) {
      peerNote = "PyTorch peer skipped: BENCH_DEEPSEEK_MODEL is not set.";
      continue;
    }
    const dir = mkdtempSync(path.join(os.tmpdir(), "moelab-bench-time-"));
    try {
      await Transformer.create(CONFIG, { seed: SEED }).save(dir);
      // More batches than the peer can train in the budget (it wraps around past the last).
      const { starts } = drawnStarts(data, Math.ceil(budget * 8));
      const evalSet = data.validation.evalWindows({
        count: EVAL_WINDOWS,
        seqLen: SEQ,
        batchSize: Math.min(B, EVAL_WINDOWS),
      });
      const files = writePeerSpec(
        dir,
        data,
        starts,
        evalSet.flatMap((b) => b.starts),
      );
      for (const b of evalSet) {
        b.inputs.dispose();
        b.targets.dispose();
      }
      const { probes, policy } = await fasterPolicy(files.spec);
      const r = await runPeer(files.spec, policy, undefined, budget);
      if (r.error) throw new Error(r.error);
      const last = r.evals[r.evals.length - 1];
      theirs.set(budget, { val: last.val, steps: last.step, seconds: last.seconds ?? NaN });
      setup =
        `peer: PyTorch ${r.torch} (Python ${r.python}), ${r.threads} threads, BLAS ${r.blas_libs.join(", ") || r.blas_info}, ` +
        `${r.gflops_512.toFixed(1)} GFLOP/s on a 512³ matmul; OMP_WAIT_POLICY ${policy ?? "unset"} ` +
        `(probed: ${probes.map((p) => `${p.policy} ${p.ms.toFixed(0)} ms/step`).join(", ")}); ` +
        `OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset for the peer`;
    } catch (e) {
      peerNote = `PyTorch peer failed: ${(e as Error).message}`;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  for (const budget of TIME_BUDGETS) {
    const m = mine.get(budget)!;
    const t = theirs.get(budget);
    const tok = (r: TimeRun): string =>
      Number.isFinite(r.seconds) ? ((r.steps * B * SEQ) / r.seconds).toFixed(0) : "-";
    rows.push([
      `${budget} s`,
      f(m.val),
      String(m.steps),
      tok(m),
      t ? f(t.val) : "-",
      t ? String(t.steps) : "-",
      t ? tok(t) : "-",
      t ? signed(m.val - t.val) : "-",
      t ? (m.val <= t.val ? "met (≤ PyTorch)" : "NOT met") : "-",
    ]);
  }
  console.log(
    table(
      [
        "budget",
        "moelab val (nats/byte)",
        "steps",
        "tokens/s",
        "PyTorch val",
        "steps",
        "tokens/s",
        "moelab − PyTorch",
        "target",
      ],
      rows,
    ),
  );
  const early = Math.min(...TIME_BUDGETS);
  const late = Math.max(...TIME_BUDGETS);
  if (early < late && theirs.has(late))
    console.log(
      `goal, PyTorch's ${late}-s loss in ${early} s: moelab ${f(mine.get(early)!.val)} at ${early} s vs PyTorch ${f(theirs.get(late)!.val)} at ${late} s: ${mine.get(early)!.val <= theirs.get(late)!.val ? "met" : "not met"}`,
    );
  console.log(
    "moelab: Trainer.fit({ seconds }) with MTP (λ 0.3), bias balancing (γ 0.001) and the sequence-wise loss, cosine over elapsed training time; evaluation excluded from both budgets.",
  );
  if (setup) console.log(setup);
  if (peerNote) console.log(peerNote);
}

async function main(): Promise<void> {
  setNumThreads(THREADS);
  const data = loadData();
  console.log("# moelab training benchmark");
  for (const l of setupLines(data)) console.log(`- ${l}`);
  let fp32: RunResult | null = null;
  if (SECTIONS.has("loss")) fp32 = (await lossSection(data)).run;
  if (SECTIONS.has("overhead")) await overheadSection(data);
  if (SECTIONS.has("balance")) await balanceSection(data);
  if (SECTIONS.has("precision")) await precisionSection(data, fp32);
  if (SECTIONS.has("time")) await timeLossSection(data);
}

main().catch((e) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
