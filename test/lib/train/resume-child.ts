/**
 * A training process for the resume test: `straight DIR N` trains N steps; `first DIR N` trains
 * N/2, checkpoints and is killed (SIGKILL, nothing flushed after); `resume DIR N` continues to N.
 * Prints "LOSSES [..]" with the losses of the steps it ran.
 */
import { Transformer } from "../../../lib/model/index.js";
import { Trainer } from "../../../lib/train/index.js";
import { SMALL, datasets } from "./fixtures.js";

async function main(): Promise<void> {
  const [mode, dir, nText] = process.argv.slice(2);
  const n = Number(nText);
  const opts = { batchSize: 4, seqLen: 32, view: null, lr: 3e-3 } as const;
  if (mode === "resume") {
    const tr = await Trainer.resume(dir, datasets(), { view: null });
    const from = tr.step;
    await tr.fit();
    console.log("LOSSES " + JSON.stringify(tr.history.steps.slice(from).map((r) => r.loss)));
    return;
  }
  const tr = new Trainer(Transformer.create(SMALL, { seed: 1 }), datasets(), opts);
  if (mode === "straight") {
    await tr.fit({ steps: n });
    console.log("LOSSES " + JSON.stringify(tr.history.steps.map((r) => r.loss)));
    return;
  }
  // first: half the run toward the full target, a checkpoint, then killed.
  tr.on("step", (r: { step: number }) => {
    if (r.step === n / 2) {
      tr.save(dir);
      console.log("LOSSES " + JSON.stringify(tr.history.steps.map((s) => s.loss)));
      process.kill(process.pid, "SIGKILL");
    }
  });
  await tr.fit({ steps: n });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
