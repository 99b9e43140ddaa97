/**
 * Post-training benchmark (lib/train, lib/data), issue 15's measurements on a `tiny` model:
 *   1. grpo: the level is 2+2-digit sums whose units carry into the tens (49+33, the tens below
 *      10); a short SFT cold start on easier levels (1+1, 2+1, 1+2 digits, and 2+2 with no carry
 *      into the tens: never the benchmark's), then GRPO on the level's prompts for a time budget;
 *      greedy accuracy on held-out prompts of the level (disjoint from every training prompt)
 *      before and after, mean of 3 seeds with the spread, the reward-per-step table; the same with
 *      β = 0 and with G = 1 (no group baseline; 120 s, since it cannot move a weight).
 *      Target: accuracy ≤ 0.2 before, ≥ 0.6 after, within 15 minutes of GRPO on 2 cores.
 *   2. distill (lib/lab/distill.ts, shared with notebooks/06-distillation): a student (dim 64, 2
 *      layers) trained on 128 Brown windows alone (CE) and with the logits of a teacher (the
 *      training benchmark's model, pre-trained on the whole corpus): α·CE + (1−α)·T²·KL, same
 *      steps and batches; held-out loss over 3 seeds. Sequence-level on sorting 4 digits: the
 *      student on 20 labelled pairs alone vs on the teacher's greedy completions of 1,000
 *      prompts, same steps; held-out accuracy over 3 seeds.
 *   3. rejection: held-out accuracy before and after one round of rejection sampling + SFT.
 *   4. throughput: GRPO's sampling tokens/s (batched, latent-cached decoding) next to its
 *      training tokens/s.
 * Usage: node dist/bench/posttrain.js   (or node bench/run.js posttrain)
 *   MOELAB_QUICK=1: every section at smoke size (~2 minutes); BENCH_THREADS (2);
 *   BENCH_SECTIONS=grpo,distill,rejection (default all); BENCH_SEEDS (0,1,2);
 *   BENCH_GRPO_SECONDS (900): GRPO's budget per run; BENCH_GRPO_ABLATIONS=0 skips β=0 and G=1;
 *   BENCH_GRPO_ARMS=main,beta0,g1 picks the arms;
 *   BENCH_GRPO_TEMPERATURE (1): GRPO's sampling temperature; BENCH_COLD_STEPS (400);
 *   BENCH_DISTILL_ALPHA (0.5), BENCH_DISTILL_T (1), BENCH_DISTILL_STEPS (150); BENCH_SEQ_STEPS
 *   (300), BENCH_SEQ_LR (5e-3); BENCH_DISTILL_SEQ=0 skips sequence-level.
 */
import { SFTTrainer, Transformer, data, lab, setNumThreads } from "../lib/index.js";
import type { Task, TaskExample } from "../lib/data/index.js";

const quick = process.env.MOELAB_QUICK === "1";
const THREADS = Number(process.env.BENCH_THREADS ?? 2);
const SECTIONS = new Set(
  (process.env.BENCH_SECTIONS ?? "grpo,distill,rejection").split(",").map((s) => s.trim()),
);
const SEEDS = (process.env.BENCH_SEEDS ?? (quick ? "0" : "0,1,2")).split(",").map(Number);
const GRPO_SECONDS = Number(process.env.BENCH_GRPO_SECONDS ?? (quick ? 20 : 900));
const GRPO_TEMPERATURE = Number(process.env.BENCH_GRPO_TEMPERATURE ?? 1);
const DISTILL_ALPHA = Number(process.env.BENCH_DISTILL_ALPHA ?? 0.5);
const DISTILL_T = Number(process.env.BENCH_DISTILL_T ?? 1);
const DISTILL_SEQ = process.env.BENCH_DISTILL_SEQ !== "0";
/** Logit distillation: teacher pre-training steps, student steps, Brown windows (bytes). */
const D_TEACH_STEPS = quick ? 30 : 400;
const D_STEPS = Number(process.env.BENCH_DISTILL_STEPS ?? (quick ? 15 : 150));
const D_WINDOWS = 128;
const D_VALID = quick ? 32 : 128;
const D_LEN = 64;
/** Sequence-level: the teacher's labelled pairs and steps, the student's pairs, prompts, steps. */
const S_TEACH_PAIRS = quick ? 200 : 2000;
const S_TEACH_STEPS = quick ? 20 : 300;
const S_LABELLED = 20;
const S_PROMPTS = quick ? 48 : 1000;
const S_STEPS = Number(process.env.BENCH_SEQ_STEPS ?? (quick ? 15 : 300));
const S_LR = Number(process.env.BENCH_SEQ_LR ?? 5e-3);
const ABLATIONS = process.env.BENCH_GRPO_ABLATIONS !== "0";
/** BENCH_GRPO_ARMS=main,beta0,g1: the GRPO arms to run (default main, plus the ablations). */
const ARMS = process.env.BENCH_GRPO_ARMS
  ? new Set(process.env.BENCH_GRPO_ARMS.split(",").map((x) => x.trim()))
  : undefined;
const HELD_OUT = quick ? 24 : 100;
const EVAL_EVERY_S = quick ? 10 : 120;
const MAX_NEW = lab.POST_MAX_NEW;

const noView = { view: null } as const;
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const spread = (xs: number[]): number => Math.max(...xs) - Math.min(...xs);
const f3 = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : "-");
/** The verdict of "a beats b by more than the spread of the seeds" (one seed has no spread). */
const verdict = (gap: number, a: number[], b: number[]): string =>
  SEEDS.length < 2
    ? "one seed: no spread to compare with"
    : gap > Math.max(spread(a), spread(b))
      ? "beats by more than the spread"
      : "NOT beyond the spread";
const pm = (xs: number[]): string =>
  `${f3(mean(xs))} ± ${f3(spread(xs) / 2)} (${xs.map(f3).join(", ")})`;

/** Greedy accuracy on examples (batched, cached decoding). */
const accuracy = (model: Transformer, task: Task, ex: TaskExample[], maxNewTokens = MAX_NEW) =>
  lab.greedyAccuracy(model, task, ex, maxNewTokens);

const splits = lab.additionSplits({
  heldOut: HELD_OUT,
  trainPrompts: quick ? 64 : 1000,
  easyHeldOut: quick ? 16 : 50,
});
const { task: add22, easy, heldOut, trainPrompts, easyHeldOut } = splits;
const COLD_STEPS = quick ? 20 : Number(process.env.BENCH_COLD_STEPS ?? 400);
/**
 * G = 1's budget: with one completion per group every advantage is 0, the loss is 0 and no weight
 * moves (tested), which two minutes show as well as fifteen.
 */
const G1_SECONDS = Math.min(GRPO_SECONDS, 120);

async function grpoRun(
  seed: number,
  G: number,
  beta: number,
  seconds: number,
): Promise<lab.GrpoRun> {
  const m = await lab.coldStart(easy, seed, COLD_STEPS, noView);
  const before = accuracy(m, add22, heldOut);
  console.log(
    `seed ${seed} cold start: greedy accuracy ${f3(accuracy(m, easy[1], easyHeldOut))} on 2+1 digits, ${f3(before)} on the held-out carry level`,
  );
  return lab.grpoRun(m, splits, {
    groupSize: G,
    beta,
    seed,
    before,
    temperature: GRPO_TEMPERATURE,
    seconds,
    evalEverySeconds: EVAL_EVERY_S,
    ...noView,
  });
}

async function sectionGrpo(): Promise<void> {
  console.log(
    `\n## 1. GRPO on 2+2-digit sums whose units carry (49+33; cold start: ${COLD_STEPS} SFT steps on 1+1, 2+1, 1+2 digits and on 2+2 with no carry into the tens)`,
  );
  console.log(
    `held-out: ${heldOut.length} prompts of the level, disjoint from the ${trainPrompts.length} GRPO prompts; greedy accuracy; GRPO budget ${GRPO_SECONDS} s per run (G=1: ${G1_SECONDS} s), ${THREADS} threads`,
  );
  const all: [string, string, number, number][] = [
    ["main", "G=8, β=0.04", 8, 0.04],
    ["beta0", "G=8, β=0", 8, 0],
    ["g1", "G=1, β=0.04 (no group baseline)", 1, 0.04],
  ];
  const arms = all
    .filter(([key]) => (ARMS ? ARMS.has(key) : key === "main" || ABLATIONS))
    .map(([, name, G, beta]) => [name, G, beta] as [string, number, number]);
  const rows: string[] = [];
  for (const [name, G, beta] of arms) {
    const runs: lab.GrpoRun[] = [];
    const seeds = name.startsWith("G=8, β=0.04") ? SEEDS : SEEDS.slice(0, 1);
    for (const s of seeds) {
      const r = await grpoRun(s, G, beta, G === 1 ? G1_SECONDS : GRPO_SECONDS);
      runs.push(r);
      console.log(
        `${name} seed ${s}: accuracy ${f3(r.before)} -> ${f3(r.after)} in ${r.seconds.toFixed(0)} s, ${r.records.length} steps; curve ${r.curve.map((c) => `${c.seconds.toFixed(0)}s:${f3(c.accuracy)}`).join(" ")}`,
      );
      if (runs.length === 1) {
        console.log(`reward per step (${name}, seed ${s}):`);
        console.log("step  reward  acc    format len    KL      clip   entropy");
        const every = Math.max(1, Math.floor(r.records.length / 25));
        r.records.forEach((x, i) => {
          if (i % every === 0 || i === r.records.length - 1)
            console.log(
              `${String(x.step).padStart(4)}  ${f3(x.reward)}   ${f3(x.accuracy)}  ${f3(x.format)}  ${x.length.toFixed(1).padStart(5)}  ${x.kl.toExponential(1)}  ${f3(x.clipFrac)}  ${f3(x.entropy)}`,
            );
        });
        const samp = mean(r.records.map((x) => x.sampleTokensPerSec));
        const train = mean(r.records.map((x) => x.trainTokensPerSec));
        console.log(
          `throughput: sampling ${samp.toFixed(0)} tokens/s (batched, latent KV cache) | training ${train.toFixed(0)} tokens/s (forward + backward)`,
        );
      }
    }
    const b = runs.map((r) => r.before);
    const a = runs.map((r) => r.after);
    const target = name.startsWith("G=8, β=0.04")
      ? `target ≤0.2 → ≥0.6: ${mean(b) <= 0.2 && mean(a) >= 0.6 ? "met" : "MISSED"}`
      : "-";
    rows.push(
      `| ${name} | ${runs.length} | ${pm(b)} | ${pm(a)} | ${mean(runs.map((r) => r.records.length)).toFixed(0)} | ${target} |`,
    );
  }
  console.log("\n| arm | seeds | held-out acc before | after GRPO | steps | target |");
  console.log("|---|---|---|---|---|---|");
  rows.forEach((r) => console.log(r));
}

async function sectionDistill(): Promise<void> {
  // The experiment lives in lib/lab/distill.ts, shared with notebooks/06-distillation.
  console.log(
    `\n## 2a. Logit distillation on Brown text (teacher: the training benchmark's model, ${D_TEACH_STEPS} steps on the whole corpus; student: dim 64, 2 layers, ${D_STEPS} steps on ${D_WINDOWS} windows of ${D_LEN} bytes)`,
  );
  const brown = lab.brownBytes();
  const teacher = await lab.pretrainTeacher(brown, { steps: D_TEACH_STEPS, seqLen: D_LEN });
  const train = lab.textPairs(brown.train.tokens, D_WINDOWS, { length: D_LEN, seed: 1 });
  const valid = lab.textPairs(brown.validation.tokens, D_VALID, { length: D_LEN, seed: 2 });
  const teacherVal = teacher.history.lastEval?.valLoss ?? NaN;
  const tv = new SFTTrainer(teacher.model, train, noView).evaluate(valid);
  console.log(
    `teacher: validation loss ${f3(teacherVal)} (Brown windows), ${f3(tv)} on the student's held-out windows`,
  );
  const alone: number[] = [];
  const dist: number[] = [];
  for (const s of SEEDS) {
    const opts = { steps: D_STEPS, seed: s, alpha: DISTILL_ALPHA, temperature: DISTILL_T };
    alone.push((await lab.logitArm(null, train, valid, opts)).val);
    dist.push((await lab.logitArm(teacher.model, train, valid, opts)).val);
    console.log(
      `seed ${s}: alone ${f3(alone[alone.length - 1])}, distilled ${f3(dist[dist.length - 1])}`,
    );
  }
  console.log(
    `\n| student (${D_STEPS} steps, same ${D_WINDOWS} windows and batches) | held-out CE (nats/byte), seeds ${SEEDS.join(",")} |`,
  );
  console.log("|---|---|");
  console.log(`| teacher (${D_TEACH_STEPS} steps, whole corpus) | ${f3(tv)} |`);
  console.log(`| alone (CE) | ${pm(alone)} |`);
  console.log(`| logit distillation α=${DISTILL_ALPHA}, T=${DISTILL_T} | ${pm(dist)} |`);
  const gap = mean(alone) - mean(dist);
  console.log(
    `distillation lower by ${f3(gap)}; spreads ${f3(spread(alone))} / ${f3(spread(dist))}: ${verdict(gap, alone, dist)}`,
  );

  if (!DISTILL_SEQ) return;
  // Sequence level: a few labelled pairs alone vs the teacher's greedy completions of many prompts.
  const task = data.sorting({ length: 4 });
  const held = task.examples(HELD_OUT, { seed: 999, instruction: false });
  const seen = held.map((e) => e.question);
  console.log(
    `\n## 2b. Sequence-level distillation on sorting 4 digits (teacher: the same model, ${S_TEACH_STEPS} SFT steps on ${S_TEACH_PAIRS} labelled pairs; student: ${S_STEPS} steps, lr ${S_LR})`,
  );
  const taskTeacher = await lab.taskTeacher(
    task.examples(S_TEACH_PAIRS, { seed: 1, exclude: seen, instruction: false }),
    { steps: S_TEACH_STEPS },
  );
  console.log(
    `teacher: held-out accuracy ${f3(lab.taskAccuracy(taskTeacher.model, task, held))} (${held.length} prompts)`,
  );
  const labelled = task.examples(S_LABELLED, { seed: 5, exclude: seen, instruction: false });
  const prompts = task
    .examples(S_PROMPTS, { seed: 77, exclude: seen, instruction: false })
    .map((e) => e.prompt);
  const accAlone: number[] = [];
  const accSeq: number[] = [];
  for (const s of SEEDS) {
    const opts = { steps: S_STEPS, seed: s, lr: S_LR };
    const a = await lab.sequenceArm(null, { labelled }, opts);
    accAlone.push(lab.taskAccuracy(a.trainer.model, task, held));
    const d = await lab.sequenceArm(taskTeacher.model, { prompts }, opts);
    accSeq.push(lab.taskAccuracy(d.trainer.model, task, held));
    console.log(
      `seed ${s}: alone ${f3(accAlone[accAlone.length - 1])}, sequence-level ${f3(accSeq[accSeq.length - 1])} (${d.pairs.length} teacher pairs)`,
    );
  }
  console.log(`\n| student (${S_STEPS} steps) | held-out accuracy |`);
  console.log("|---|---|");
  console.log(`| alone on ${labelled.length} labelled pairs | ${pm(accAlone)} |`);
  console.log(
    `| sequence-level: teacher's completions of ${prompts.length} prompts | ${pm(accSeq)} |`,
  );
  const g2 = mean(accSeq) - mean(accAlone);
  console.log(`sequence-level higher by ${f3(g2)}: ${verdict(g2, accAlone, accSeq)}`);
}

async function sectionRejection(): Promise<void> {
  // A task the base model partly solves: 2+1-digit sums after a short SFT on a few of them.
  const task = easy[1];
  const held = easyHeldOut;
  const BASE = quick ? 20 : 60;
  console.log(
    `\n## 3. Rejection sampling on 2+1-digit addition (base: ${BASE} SFT steps on 100 pairs; one round: k=8 samples per prompt, keep verified, dedupe, SFT)`,
  );
  const before: number[] = [];
  const after: number[] = [];
  for (const s of SEEDS) {
    const { round: r, ...acc } = await lab.rejectionRun({
      task,
      heldOut: held,
      seed: s,
      baseSteps: BASE,
      prompts: quick ? 16 : 300,
      steps: quick ? 5 : 100,
      ...noView,
    });
    before.push(acc.before);
    after.push(acc.after);
    console.log(
      `seed ${s}: sampled ${r.sampled}, correct ${r.correct}, distinct ${r.unique}, kept ${r.kept} (prompts covered ${r.promptsCovered}/${r.prompts}); accuracy ${f3(before[before.length - 1])} -> ${f3(after[after.length - 1])}`,
    );
  }
  console.log(`\n| held-out 2+1 (${held.length} prompts) | greedy accuracy |`);
  console.log("|---|---|");
  console.log(`| before | ${pm(before)} |`);
  console.log(`| after one round | ${pm(after)} |`);
  const g = mean(after) - mean(before);
  console.log(`higher by ${f3(g)}: ${verdict(g, before, after)}`);
}

async function main(): Promise<void> {
  setNumThreads(THREADS);
  console.log(
    `# bench/posttrain${quick ? " (MOELAB_QUICK)" : ""}: seeds ${SEEDS.join(",")}, ${THREADS} threads`,
  );
  const t0 = Date.now();
  if (SECTIONS.has("grpo")) await sectionGrpo();
  if (SECTIONS.has("distill")) await sectionDistill();
  if (SECTIONS.has("rejection")) await sectionRejection();
  console.log(`\ntotal ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
