/**
 * Model benchmark against PyTorch 1.13 (Debian), same machine, same run, interleaved:
 *   1. forward and forward+backward tokens/s of the `tiny` and `small` presets; PyTorch runs the
 *      same architecture (test/oracle/deepseek_ref.py's model, float32) on the same weights, which
 *      moelab saves with `save(dir)`; the logits are compared first so the race is fair;
 *   2. MoE dispatch (routing, grouping, combining) as a share of the MoE layer's time (`small`);
 *   3. decode tokens/s with the latent KV cache against recomputing the sequence every step, and
 *      speculative decoding with the MTP draft;
 *   4. `tiny` trained from scratch for a few minutes: held-out loss against n-gram baselines.
 * PyTorch runs in persistent children (bench/model_peer.py): the project's oracle and, when
 * BENCH_DEEPSEEK_MODEL gives the path of DeepSeek-V3's inference/model.py (never committed),
 * DeepSeek's own code, each with OpenMP's default waiting and OMP_WAIT_POLICY=PASSIVE; the table
 * reports against the fastest of them. Every side uses 2 threads.
 * Usage: node dist/bench/model.js   (MOELAB_QUICK=1: fewer repetitions; BENCH_THREADS=N;
 *        BENCH_SECTIONS=speed,moe,decode,train picks sections; BENCH_TRAIN_SECONDS (180);
 *        BENCH_PYTHON: the peer's interpreter)
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import * as readline from "node:readline";
import * as T from "../lib/tensor/index.js";
import { relErr } from "../test/helpers/numeric.js";
import { AdamW } from "../lib/train/index.js";
import { readSafetensors } from "../lib/io/index.js";
import { generate, generateSpeculative } from "../lib/model/generate.js";
import { Transformer } from "../lib/model/transformer.js";
import { MoE } from "../lib/nn/moe.js";
import { routeTokens } from "../lib/nn/router.js";
import { groupByExpert, moeCombine } from "../lib/tensor/ops/moe.js";
import {
  OMP_POLICIES,
  measurePeerRates,
  peerEnv,
  peerSetupLines,
  threadEnv,
  type OmpPolicy,
} from "./peers.js";

const quick = process.env.MOELAB_QUICK === "1";
/** Threads for both sides (2: this machine's cores). */
const THREADS = Number(process.env.BENCH_THREADS ?? 2);
const SECTIONS = new Set((process.env.BENCH_SECTIONS ?? "speed,moe,decode,train").split(","));
/** Wall-clock budget of the training section, seconds. */
const TRAIN_SECONDS = Number(process.env.BENCH_TRAIN_SECONDS ?? (quick ? 30 : 180));
const REPS = quick ? 3 : 5;
const PEER = path.join(__dirname, "..", "..", "bench", "model_peer.py");
const PYTHON = process.env.BENCH_PYTHON ?? "/usr/bin/python3";
/** DeepSeek-V3's inference/model.py (never committed): the second PyTorch peer when set. */
const DEEPSEEK_MODEL = process.env.BENCH_DEEPSEEK_MODEL ?? "";
/**
 * PyTorch's OpenMP threads spin at every barrier by default, which on an oversubscribed machine can
 * turn each op into a time slice; PASSIVE sleeps instead. Each PyTorch peer runs with both (two
 * processes) and the table reports against the faster.
 */
const POLICIES = OMP_POLICIES;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Milliseconds per call of fn, over iters calls. */
function timeMs(fn: () => void, iters: number): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) fn();
  return Number(process.hrtime.bigint() - t0) / 1e6 / iters;
}

/** Seeded token ids (mulberry32), [rows][cols] in [0, V). */
function randomTokens(rows: number, cols: number, V: number, seed: number): number[][] {
  const r = T.Rng.fromState(seed >>> 0);
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => r.below(V)));
}

type Reply = Record<string, unknown>;

/** A PyTorch peer: one persistent process, one JSON request and reply per line. */
class TorchPeer {
  private proc;
  private lines;
  private waiting: { ok: (r: Reply) => void; fail: (e: Error) => void }[] = [];

  constructor(
    /** The table's name for it, e.g. "DeepSeek model.py, OMP PASSIVE". */
    readonly name: string,
    /** "oracle": test/oracle/deepseek_ref.py; "deepseek": DeepSeek-V3's own model.py. */
    readonly impl: "oracle" | "deepseek",
    omp: OmpPolicy,
  ) {
    // OpenBLAS overrides unset for the peer alone (bench/peers.ts).
    this.proc = spawn(PYTHON, ["-u", PEER, String(THREADS)], {
      env: peerEnv(threadEnv(THREADS), omp),
      stdio: ["pipe", "pipe", "inherit"],
    });
    this.lines = readline.createInterface({ input: this.proc.stdout });
    this.lines.on("line", (l) => {
      const w = this.waiting.shift();
      if (!w) return;
      let r: Reply;
      try {
        r = JSON.parse(l) as Reply;
      } catch {
        w.fail(new Error(`torch peer replied with a non-JSON line: ${l.slice(0, 200)}`));
        return;
      }
      if (typeof r.error === "string") w.fail(new Error(`torch peer: ${r.error}`));
      else w.ok(r);
    });
    const dead = (why: string): void => {
      this.gone ??= `torch peer (${PYTHON} ${PEER}) ${why}`;
      for (const w of this.waiting.splice(0)) w.fail(new Error(this.gone));
    };
    this.proc.on("error", (e) => dead(`could not start: ${e.message}`));
    this.proc.on("exit", (code) => dead(`exited with code ${code}`));
    this.proc.stdin.on("error", (e) => dead(`stopped reading requests: ${e.message}`));
  }

  /** Why the peer is unusable, once it is. */
  private gone: string | null = null;

  ask(req: Reply): Promise<Reply> {
    if (this.gone) return Promise.reject(new Error(this.gone));
    return new Promise((ok, fail) => {
      this.waiting.push({ ok, fail });
      this.proc.stdin.write(JSON.stringify(req) + "\n");
    });
  }

  async timeMs(kind: "fwd" | "fwdbwd", iters: number): Promise<number> {
    const r = await this.ask({ cmd: "time", case: kind, iters });
    return r.ms as number;
  }

  close(): void {
    this.proc.stdin.end();
  }
}

interface SpeedCase {
  preset: "tiny" | "small";
  B: number;
  T: number;
}

interface SpeedRow {
  label: string;
  mine: number;
  /** The fastest peer's tokens/s, and its name. */
  theirs: number;
  peer: string;
  /** Every peer's tokens/s. */
  all: Map<string, number>;
}

/** Section 1: the same model forward and forward+backward in moelab and in PyTorch. */
async function speed(
  peers: TorchPeer[],
  c: SpeedCase,
): Promise<{
  header: string;
  rows: SpeedRow[];
  free: { label: string; tidy: number; free: number };
}> {
  const model = Transformer.create(c.preset, { seed: 0 });
  const a = model.args;
  if (c.T > a.max_seq_len) throw new RangeError(`T ${c.T} > max_seq_len ${a.max_seq_len}`);
  const dir = mkdtempSync(path.join(tmpdir(), `moelab-bench-${c.preset}-`));
  try {
    await model.save(dir);
    const toks = randomTokens(c.B, c.T + 1, a.vocab_size, 7);
    writeFileSync(path.join(dir, "tokens.json"), JSON.stringify(toks));
    for (const peer of peers)
      await peer.ask({
        cmd: "load",
        ckpt: dir,
        tokens: path.join(dir, "tokens.json"),
        attn: "naive",
        impl: peer.impl,
        model: DEEPSEEK_MODEL,
      });
    const all = T.tensor(Int32Array.from(toks.flat()), { shape: [c.B, c.T + 1] });
    const inputs = T.keep(all.narrow(1, 0, c.T).contiguous());
    const targets = T.keep(all.narrow(1, 1, c.T).contiguous());

    // Fairness check: same logits and same loss on the same weights and tokens, every peer.
    const { mine, myLoss } = T.noGrad(() =>
      T.tidy(() => ({
        mine: model.forward(inputs).toArray() as Float32Array,
        myLoss: model.loss(inputs, targets).toArray()[0],
      })),
    );
    const checks: string[] = [];
    let err = 0;
    for (const [i, peer] of peers.entries()) {
      const out = path.join(dir, `torch-logits-${i}.safetensors`);
      const theirLoss = (await peer.ask({ cmd: "logits", out })).loss as number;
      const theirs = (await readSafetensors(out)).tensors.get("logits")!.data as Float32Array;
      const e = relErr(mine, theirs);
      err = Math.max(err, e);
      if (peer.name.endsWith("default"))
        checks.push(
          `${peer.impl}: logits rel. err ${e.toExponential(2)}, loss ${theirLoss.toFixed(6)}`,
        );
    }

    const fwd = (): void => T.noGrad(() => T.tidy(() => void model.forward(inputs)));
    const fwdbwd = (): void => {
      T.tidy(() => model.loss(inputs, targets).backward());
      model.zeroGrad();
    };
    // The loop a newcomer writes first: no tidy().
    const fwdbwdFree = (): void => {
      const l = model.loss(inputs, targets);
      l.backward();
      model.zeroGrad();
    };
    // Warm up both sides (allocator, thread pools), then interleave the repetitions.
    const f0 = timeMs(fwd, 1);
    const b0 = timeMs(fwdbwd, 1);
    for (const peer of peers) {
      await peer.timeMs("fwd", 1);
      await peer.timeMs("fwdbwd", 1);
    }
    // About 1.5 s of moelab time per sample, the same iteration count on both sides.
    const itF = Math.max(1, Math.round(1500 / f0));
    const itB = Math.max(1, Math.round(1500 / b0));
    const m = { fwd: [] as number[], fwdbwd: [] as number[], free: [] as number[] };
    timeMs(fwdbwdFree, 1);
    const t = new Map(peers.map((p) => [p.name, { fwd: [] as number[], fwdbwd: [] as number[] }]));
    for (let r = 0; r < REPS; r++) {
      m.fwd.push(timeMs(fwd, itF));
      for (const peer of peers) t.get(peer.name)!.fwd.push(await peer.timeMs("fwd", itF));
      m.fwdbwd.push(timeMs(fwdbwd, itB));
      for (const peer of peers) t.get(peer.name)!.fwdbwd.push(await peer.timeMs("fwdbwd", itB));
      m.free.push(timeMs(fwdbwdFree, itB));
    }
    inputs.dispose();
    targets.dispose();
    const ntok = c.B * c.T;
    const tps = (ms: number): number => (ntok * 1000) / ms;
    const header =
      `${c.preset} (B=${c.B}, T=${c.T}, ${model.numParams()} params): moelab loss ${myLoss.toFixed(6)}; ` +
      checks.join("; ") +
      (err > 1e-4 ? " — NOT the same model (> 1e-4): the timings are not comparable" : "");
    const row = (label: string, kind: "fwd" | "fwdbwd"): SpeedRow => {
      const all = new Map(peers.map((p) => [p.name, tps(median(t.get(p.name)![kind]))]));
      const [peer, theirs] = [...all].reduce((a, b) => (b[1] > a[1] ? b : a));
      return { label, mine: tps(median(m[kind])), theirs, peer, all };
    };
    return {
      header,
      rows: [row(`${c.preset} forward`, "fwd"), row(`${c.preset} forward+backward`, "fwdbwd")],
      free: {
        label: `${c.preset} forward+backward`,
        tidy: tps(median(m.fwdbwd)),
        free: tps(median(m.free)),
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Phases {
  gate: number;
  group: number;
  experts: number;
  shared: number;
  combine: number;
}

/**
 * MoE.forward split into its phases with the module's public pieces (the gate, the experts, the
 * shared experts, groupByExpert, moeCombine), in the order MoE.forward calls them.
 */
function moePhases(moe: MoE, x: T.Tensor): Phases {
  const a = moe.args;
  const [B, Tq, D] = x.shape;
  const n = B * Tq;
  const k = a.n_activated_experts;
  const E = a.n_routed_experts;
  const now = (): number => Number(process.hrtime.bigint()) / 1e6;
  return T.noGrad(() =>
    T.tidy(() => {
      const t0 = now();
      const { weights, indices } = moe.gate.forward(x);
      const t1 = now();
      const idx = indices._contiguousData() as Int32Array;
      const g = groupByExpert(idx, n, k, E, moe.hookPath);
      const xf = x.reshape(n, D);
      const xs = T.indexSelect(xf, 0, g.tok);
      const t2 = now();
      const outs: T.Tensor[] = [];
      for (let e = 0; e < E; e++) {
        const cnt = g.counts[e + 1] - g.counts[e];
        if (cnt > 0) outs.push(moe.experts.items[e].forward(xs.narrow(0, g.counts[e], cnt)));
      }
      const t3 = now();
      const sh = moe.shared_experts ? moe.shared_experts.forward(xf) : null;
      const t4 = now();
      // Ops run synchronously, so the result exists here without reading it back.
      moeCombine(
        sh ?? T.zeros([n, D]),
        weights.reshape(n * k),
        g.tok,
        g.pos,
        g.inv,
        g.starts,
        ...outs,
      );
      const t5 = now();
      return { gate: t1 - t0, group: t2 - t1, experts: t3 - t2, shared: t4 - t3, combine: t5 - t4 };
    }),
  );
}

/** Section 2: MoE dispatch share of the MoE layer (`small`, layer n_dense_layers). */
function moeShare(B: number, Tq: number): string[] {
  const model = Transformer.create("small", { seed: 0 });
  const L = model.args.n_dense_layers;
  const blk = model.layers[L];
  if (!(blk.ffn instanceof MoE)) throw new Error(`layer ${L} of small is not an MoE layer`);
  const moe = blk.ffn;
  const toks = randomTokens(B, Tq, model.args.vocab_size, 11);
  // The MoE layer's real input: ffn_norm of the residual stream after layer L's attention.
  const { cache } = model.runWithCache(toks, { names: [`blocks.${L}.hook_resid_mid`] });
  const x = T.keep(T.noGrad(() => blk.ffn_norm.forward(cache.get(`blocks.${L}.hook_resid_mid`))));
  const g = T.keep(T.randn([...x.shape], { seed: 3 }));

  // Forward, phase by phase (and the module itself, to check the replica's total).
  const whole = (): void => T.noGrad(() => T.tidy(() => void moe.forward(x).toArray()));
  // Forward+backward: the whole layer vs its expert MLPs alone on pre-grouped rows.
  const grouped = T.noGrad(() => {
    const { indices } = moe.gate.forward(x);
    const idx = indices.toArray() as Int32Array;
    const k = moe.args.n_activated_experts;
    const rows: (T.Tensor | null)[] = [];
    const xf = x.reshape(B * Tq, moe.args.dim);
    for (let e = 0; e < moe.args.n_routed_experts; e++) {
      const tok: number[] = [];
      for (let i = 0; i < idx.length; i++) if (idx[i] === e) tok.push(Math.floor(i / k));
      const sel = T.tensor(Int32Array.from(tok), { shape: [tok.length] });
      rows.push(tok.length ? T.keep(T.indexSelect(xf, 0, sel)) : null);
    }
    return rows;
  });
  const gRows = grouped.map((r, i) =>
    r ? T.keep(T.randn([...r.shape], { seed: 100 + i })) : null,
  );
  const wholeFB = (): void => {
    T.tidy(() => moe.forward(x).backward(g));
    moe.zeroGrad();
  };
  const expertsFB = (): void => {
    T.tidy(() => {
      grouped.forEach((r, e) => {
        if (r) moe.experts.items[e].forward(r).backward(gRows[e]!);
      });
      if (moe.shared_experts) moe.shared_experts.forward(x).backward(g);
    });
    moe.zeroGrad();
  };

  whole();
  moePhases(moe, x);
  wholeFB();
  expertsFB();
  const it = quick ? 5 : 20;
  const ph: Phases[] = [];
  const tot: number[] = [];
  const fbWhole: number[] = [];
  const fbExperts: number[] = [];
  for (let r = 0; r < REPS; r++) {
    tot.push(timeMs(whole, it));
    const acc: Phases = { gate: 0, group: 0, experts: 0, shared: 0, combine: 0 };
    for (let i = 0; i < it; i++) {
      const p = moePhases(moe, x);
      for (const key of Object.keys(acc) as (keyof Phases)[]) acc[key] += p[key] / it;
    }
    ph.push(acc);
    fbWhole.push(timeMs(wholeFB, it));
    fbExperts.push(timeMs(expertsFB, it));
  }
  const med = (key: keyof Phases): number => median(ph.map((p) => p[key]));
  const p: Phases = {
    gate: med("gate"),
    group: med("group"),
    experts: med("experts"),
    shared: med("shared"),
    combine: med("combine"),
  };
  const sum = p.gate + p.group + p.experts + p.shared + p.combine;
  const dispatch = p.gate + p.group + p.combine;
  const a = moe.args;
  const pct = (v: number, of: number): string => `${((100 * v) / of).toFixed(1)}%`;
  // Routing split: the gate GEMM + sigmoid, and the group-limited top-k selection (routeTokens).
  const score = (): T.Tensor => {
    const l = T.linear(x, moe.gate.weight);
    return a.score_func === "softmax" ? T.softmax(l, -1) : T.sigmoid(l);
  };
  const scoresOnly = (): void => T.noGrad(() => T.tidy(() => void score().toArray()));
  const scores = T.noGrad(() => T.tidy(() => score().toArray() as Float32Array));
  const bias = moe.gate.bias ? (moe.gate.bias.toArray() as Float32Array) : null;
  const selectOnly = (): void => void routeTokens(scores, bias, B * Tq, a);
  const sc: number[] = [];
  const se: number[] = [];
  for (let r = 0; r < REPS; r++) {
    sc.push(timeMs(scoresOnly, it));
    se.push(timeMs(selectOnly, it));
  }
  const fw = median(fbWhole);
  const fe = median(fbExperts);
  return [
    `MoE layer ${L} of small (${a.n_routed_experts} routed top-${a.n_activated_experts} + ${a.n_shared_experts} shared, width ${a.moe_inter_dim}), ` +
      `${B * Tq} tokens [${B}, ${Tq}, ${a.dim}], medians of ${REPS} x ${it} calls; target: dispatch < 20%`,
    "| phase | ms | share |",
    "|---|---|---|",
    `| routing (gate linear, sigmoid, group-limited top-k, weights) | ${p.gate.toFixed(3)} | ${pct(p.gate, sum)} |`,
    `| - of which gate scores (linear + ${a.score_func}) | ${median(sc).toFixed(3)} | ${pct(median(sc), sum)} |`,
    `| - of which group-limited top-k selection (routeTokens: native router) | ${median(se).toFixed(3)} | ${pct(median(se), sum)} |`,
    `| grouping (counting sort by expert, gather rows) | ${p.group.toFixed(3)} | ${pct(p.group, sum)} |`,
    `| routed expert SwiGLU GEMMs | ${p.experts.toFixed(3)} | ${pct(p.experts, sum)} |`,
    `| shared expert SwiGLU | ${p.shared.toFixed(3)} | ${pct(p.shared, sum)} |`,
    `| combining (weighted scatter-add into the shared output, one op) | ${p.combine.toFixed(3)} | ${pct(p.combine, sum)} |`,
    `| **dispatch = routing + grouping + combining (forward)** | ${dispatch.toFixed(3)} | **${pct(dispatch, sum)}** ${dispatch / sum < 0.2 ? "(meets < 20%)" : "(misses < 20%)"} |`,
    `| sum of phases / MoE.forward itself | ${sum.toFixed(3)} / ${median(tot).toFixed(3)} | |`,
    `| forward+backward: MoE layer / experts + shared alone on pre-grouped rows | ${fw.toFixed(3)} / ${fe.toFixed(3)} | dispatch ≈ ${pct(fw - fe, fw)} ${(fw - fe) / fw < 0.2 ? "(meets < 20%)" : "(misses < 20%)"} |`,
  ];
}

/** Section 3: greedy decode tokens/s, latent KV cache vs recomputing the sequence each step. */
function decode(preset: "tiny" | "small", B: number, P: number, N: number): string[] {
  const model = Transformer.create(preset, { seed: 0 });
  const prompts = randomTokens(B, P, model.args.vocab_size, 5);
  const run = (useCache: boolean): { ms: number; tokens: number[][] } => {
    const t0 = process.hrtime.bigint();
    const r = generate(model, prompts, { maxNewTokens: N, useCache });
    return { ms: Number(process.hrtime.bigint() - t0) / 1e6, tokens: r.tokens };
  };
  const same =
    JSON.stringify(run(true).tokens) === JSON.stringify(run(false).tokens)
      ? "identical"
      : "DIFFERENT";
  const withC: number[] = [];
  const without: number[] = [];
  for (let r = 0; r < (quick ? 2 : 3); r++) {
    withC.push(run(true).ms);
    without.push(run(false).ms);
  }
  const tps = (ms: number): number => (B * N * 1000) / ms;
  const c = tps(median(withC));
  const u = tps(median(without));
  return [
    `| ${preset} B=${B}, prompt ${P}, ${N} new tokens (greedy; outputs ${same}) | ${c.toFixed(1)} | ${u.toFixed(1)} | ${(c / u).toFixed(2)}x |`,
  ];
}

interface TrainRun {
  /** [step, training loss (main + 0.3 MTP)] every `every` steps, and the last. */
  curve: [number, number][];
  steps: number;
  ms: number;
  loss: number;
}

/**
 * Adam (lib/train's AdamW with β 0.9/0.999 and no weight decay, constant lr) on random windows of
 * `text` as bytes, for `steps` steps or until `seconds` have passed, whichever comes first.
 */
function trainAdam(
  model: Transformer,
  text: Buffer,
  o: { steps: number; seconds?: number; B: number; L: number; lr: number; every?: number },
): TrainRun {
  const opt = new AdamW(model.trainableParameters(), {
    lr: o.lr,
    betas: [0.9, 0.999],
    weightDecay: 0,
  });
  const curve: [number, number][] = [];
  const t0 = process.hrtime.bigint();
  const elapsed = (): number => Number(process.hrtime.bigint() - t0) / 1e6;
  let loss = NaN;
  let step = 0;
  while (step < o.steps && (o.seconds === undefined || elapsed() < o.seconds * 1000)) {
    step++;
    const rows = randomTokens(o.B, 1, text.length - o.L - 1, step).map(([off]) => [
      ...text.subarray(off, off + o.L + 1),
    ]);
    T.tidy(() => {
      const l = model.loss(
        rows.map((r) => r.slice(0, o.L)),
        rows.map((r) => r.slice(1)),
      );
      loss = l.item();
      l.backward();
    });
    if (step === 1 || step % (o.every ?? 25) === 0) curve.push([step, loss]);
    opt.step();
    opt.zeroGrad();
  }
  if (curve.length === 0 || curve[curve.length - 1][0] !== step) curve.push([step, loss]);
  return { curve, steps: step, ms: elapsed(), loss };
}

/**
 * A few Adam steps of `tiny` on one repeated sentence, so that its MTP draft predicts something
 * (with random weights nearly every draft is rejected and speculation is pure overhead).
 */
function trainedTiny(steps: number): { model: Transformer; text: Buffer; loss: number } {
  const model = Transformer.create("tiny", { seed: 0 });
  const text = Buffer.from("the quick brown fox jumps over the lazy dog. ".repeat(40));
  const { loss } = trainAdam(model, text, { steps, B: 8, L: 64, lr: 3e-3 });
  return { model, text, loss };
}

/** English prose every Debian system has: the licence texts of base-files. */
function licenceCorpus(): { text: Buffer; files: string[] } {
  const dir = "/usr/share/common-licenses";
  const names = [
    "GPL-3",
    "GPL-2",
    "LGPL-2.1",
    "LGPL-3",
    "Apache-2.0",
    "MPL-2.0",
    "Artistic",
    "GFDL-1.3",
  ];
  const files = names.filter((n) => existsSync(path.join(dir, n)));
  if (files.length === 0) throw new Error(`no licence texts under ${dir}`);
  return { text: Buffer.concat(files.map((n) => readFileSync(path.join(dir, n)))), files };
}

/** Held-out cross-entropy, nats per byte, of unigram and bigram byte models fitted on `train` (add-½). */
function ngramBaselines(train: Buffer, held: Buffer): { unigram: number; bigram: number } {
  const uni = new Float64Array(256).fill(0.5);
  const bi = new Float64Array(256 * 256).fill(0.5);
  for (let i = 0; i < train.length; i++) {
    uni[train[i]]++;
    if (i > 0) bi[train[i - 1] * 256 + train[i]]++;
  }
  const uniTot = uni.reduce((x, y) => x + y, 0);
  const rowTot = new Float64Array(256);
  for (let a = 0; a < 256; a++) for (let b = 0; b < 256; b++) rowTot[a] += bi[a * 256 + b];
  let u = 0;
  let g = 0;
  for (let i = 1; i < held.length; i++) {
    u -= Math.log(uni[held[i]] / uniTot);
    g -= Math.log(bi[held[i - 1] * 256 + held[i]] / rowTot[held[i - 1]]);
  }
  return { unigram: u / (held.length - 1), bigram: g / (held.length - 1) };
}

/** Mean next-byte loss (main head only) over consecutive windows of `held`. */
function heldOutLoss(model: Transformer, held: Buffer, L: number): number {
  const rows: number[][] = [];
  for (let o = 0; o + L + 1 <= held.length && rows.length < 32; o += L)
    rows.push([...held.subarray(o, o + L + 1)]);
  let sum = 0;
  for (let i = 0; i < rows.length; i += 8) {
    const b = rows.slice(i, i + 8);
    sum +=
      T.noGrad(() =>
        T.tidy(() =>
          model
            .loss(
              b.map((r) => r.slice(0, L)),
              b.map((r) => r.slice(1)),
              { mtpWeight: 0 },
            )
            .item(),
        ),
      ) * b.length;
  }
  return sum / rows.length;
}

/** Section 4: `tiny` trained from scratch with Adam on English text for a fixed wall-clock budget. */
function trainSection(seconds: number): string[] {
  const { text, files } = licenceCorpus();
  const cut = Math.floor(text.length * 0.9);
  const train = text.subarray(0, cut);
  const held = text.subarray(cut);
  const base = ngramBaselines(train, held);
  const model = Transformer.create("tiny", { seed: 0 });
  const L = 128;
  const before = heldOutLoss(model, held, L);
  const run = trainAdam(model, train, { steps: 1e9, seconds, B: 8, L, lr: 2e-3, every: 50 });
  const after = heldOutLoss(model, held, L);
  const bits = (nats: number): string =>
    `${nats.toFixed(3)} (${(nats / Math.LN2).toFixed(2)} bits)`;
  return [
    `tiny (${(model.numParams() / 1e6).toFixed(2)}M parameters), byte-level, Adam lr 2e-3, batch 8 x ${L} bytes; ` +
      `corpus: ${files.join(", ")} from /usr/share/common-licenses (${(text.length / 1024).toFixed(0)} KiB, last 10% held out)`,
    "| | held-out loss, nats per byte |",
    "|---|---|",
    `| untrained | ${bits(before)} |`,
    `| unigram byte model (fitted on the training part) | ${bits(base.unigram)} |`,
    `| bigram byte model (fitted on the training part) | ${bits(base.bigram)} |`,
    `| **tiny after ${run.steps} steps, ${(run.ms / 1000).toFixed(0)} s on ${THREADS} threads (${((run.steps * 8 * L) / (run.ms / 1000)).toFixed(0)} tokens/s)** | **${bits(after)}** |`,
    "",
    `training loss (main + 0.3 MTP) by step: ${run.curve.map(([st, l]) => `${st}: ${l.toFixed(2)}`).join(", ")}`,
  ];
}

/** Greedy speculative decoding (MTP draft) against plain greedy decoding with the latent cache. */
function speculative(model: Transformer, label: string, prompt: number[], N: number): string {
  const plain = (): { ms: number; tokens: number[] } => {
    const t0 = process.hrtime.bigint();
    const r = generate(model, [prompt], { maxNewTokens: N });
    return { ms: Number(process.hrtime.bigint() - t0) / 1e6, tokens: r.tokens[0] };
  };
  const spec = (): { ms: number; tokens: number[]; acc: number; perCall: number } => {
    const t0 = process.hrtime.bigint();
    const r = generateSpeculative(model, prompt, { maxNewTokens: N });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    return { ms, tokens: r.tokens, acc: r.acceptanceRate, perCall: r.tokensPerCall };
  };
  const p0 = plain();
  const s0 = spec();
  const same = JSON.stringify(p0.tokens) === JSON.stringify(s0.tokens) ? "identical" : "DIFFERENT";
  const tp: number[] = [];
  const ts: number[] = [];
  for (let r = 0; r < (quick ? 2 : 5); r++) {
    tp.push(plain().ms);
    ts.push(spec().ms);
  }
  const tps = (ms: number): number => (N * 1000) / ms;
  return (
    `| ${label} | ${(100 * s0.acc).toFixed(1)}% | ${s0.perCall.toFixed(2)} | ${tps(median(ts)).toFixed(1)} | ` +
    `${tps(median(tp)).toFixed(1)} | ${(median(tp) / median(ts)).toFixed(2)}x | ${same} |`
  );
}

async function main(): Promise<void> {
  T.setNumThreads(THREADS);
  console.log(
    `moelab model benchmark, ${THREADS} threads each side, medians of ${REPS} interleaved repetitions (shared machine: noisy)`,
  );
  if (SECTIONS.has("speed")) {
    const impls: ["oracle" | "deepseek", string][] = [["oracle", "oracle"]];
    if (DEEPSEEK_MODEL) impls.unshift(["deepseek", "DeepSeek model.py"]);
    else
      console.log(
        "(BENCH_DEEPSEEK_MODEL is not set: DeepSeek-V3's inference/model.py peer skipped; the oracle alone)",
      );
    const peers = impls.flatMap(([impl, label]) =>
      POLICIES.map((omp) => new TorchPeer(`${label}, OMP ${omp}`, impl, omp)),
    );
    const rates = measurePeerRates(THREADS);
    try {
      const cases: SpeedCase[] = [
        { preset: "tiny", B: 8, T: 128 },
        { preset: "small", B: 4, T: 256 },
      ];
      const headers: string[] = [];
      const rows: SpeedRow[] = [];
      const free: { label: string; tidy: number; free: number }[] = [];
      for (const c of cases) {
        const r = await speed(peers, c);
        headers.push(r.header);
        rows.push(...r.rows);
        free.push(r.free);
      }
      console.log(
        "\n## Forward and forward+backward vs PyTorch 1.13 (same weights, float32, naive MLA)",
      );
      for (const h of headers) console.log(`- ${h}`);
      console.log(
        "\n| case | moelab tokens/s | fastest PyTorch 1.13 tokens/s | fastest peer | ratio (moelab / fastest) | target ≥ 1 |",
      );
      console.log("|---|---|---|---|---|---|");
      for (const r of rows)
        console.log(
          `| ${r.label} | ${r.mine.toFixed(0)} | ${r.theirs.toFixed(0)} | ${r.peer} | ${(r.mine / r.theirs).toFixed(2)}x | ${r.mine >= r.theirs ? "met" : "missed"} |`,
        );
      console.log("\nEvery peer (tokens/s):");
      for (const r of rows)
        console.log(
          `- ${r.label}: ${[...r.all].map(([n, v]) => `${n} ${v.toFixed(0)}`).join(", ")}`,
        );
      console.log(
        "Tokens/s count B x T input tokens; forward+backward is model.loss (main + 0.3 x MTP cross-entropy) and backward on every side (DeepSeek's model.py has no MTP: its MTP module is composed from its own Block, as the oracle's).",
      );
      console.log(
        "\n### The same loop without tidy() (`const l = model.loss(x, y); l.backward(); model.zeroGrad()`, interleaved with the tidy loop)",
      );
      console.log("| case | inside tidy tokens/s | without tidy tokens/s | ratio | target ≥ 0.9 |");
      console.log("|---|---|---|---|---|");
      for (const f of free)
        console.log(
          `| ${f.label} | ${f.tidy.toFixed(0)} | ${f.free.toFixed(0)} | ${(f.free / f.tidy).toFixed(2)} | ${f.free / f.tidy >= 0.9 ? "met" : "missed"} |`,
        );
      for (const l of peerSetupLines(
        rates,
        THREADS,
        "each PyTorch peer with OMP_WAIT_POLICY unset and PASSIVE",
      ))
        console.log(l);
    } finally {
      for (const peer of peers) peer.close();
    }
  }
  if (SECTIONS.has("moe")) {
    console.log("\n## MoE dispatch share (small)");
    for (const l of moeShare(4, 256)) console.log(l);
  }
  if (SECTIONS.has("decode")) {
    console.log("\n## Decode: latent KV cache vs no cache (lib/model/generate.ts)");
    console.log("| case | with latent cache tokens/s | recompute, no cache tokens/s | speed-up |");
    console.log("|---|---|---|---|");
    for (const l of decode("tiny", 1, 32, quick ? 16 : 64)) console.log(l);
    for (const l of decode("small", 1, 32, quick ? 16 : 64)) console.log(l);
    console.log(
      "\n## Speculative decoding (MTP module 1 drafts, main model verifies; greedy, one prompt)",
    );
    const steps = quick ? 60 : 100;
    const { model: trained, text, loss } = trainedTiny(steps);
    const N = quick ? 40 : 120;
    console.log(
      "| case | acceptance | tokens per main call | speculative tokens/s | plain (latent cache) tokens/s | speed-up | outputs |",
    );
    console.log("|---|---|---|---|---|---|---|");
    const random = Transformer.create("tiny", { seed: 0 });
    console.log(
      speculative(
        random,
        `tiny, random weights, ${N} new tokens`,
        randomTokens(1, 16, 512, 9)[0],
        N,
      ),
    );
    console.log(
      speculative(
        trained,
        `tiny after ${steps} Adam steps on one repeated sentence (loss ${loss.toFixed(3)}), ${N} new tokens`,
        [...text.subarray(0, 16)],
        N,
      ),
    );
  }
  if (SECTIONS.has("train")) {
    console.log(`\n## Training tiny from scratch (${TRAIN_SECONDS} s budget)`);
    for (const l of trainSection(TRAIN_SECONDS)) console.log(l);
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
