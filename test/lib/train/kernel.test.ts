/**
 * The Trainer inside the kernel's executor, as a notebook runs it: the Interrupt button stops
 * fit() at a step boundary even when a step outlasts the kernel's default grace, the variables
 * stay, and the next fit() continues.
 */
import { strict as assert } from "node:assert";
import * as os from "node:os";
import { createExecutor } from "../../../kernel/executor/index.js";
import type { Executor, ExecutorEvent } from "../../../kernel/contracts.js";
import { run, sleep, until, value } from "../../kernel/executor/helpers.js";

describe("train/Trainer in the kernel", function () {
  this.timeout(180000);
  let ex: Executor;
  before(async () => {
    ex = await createExecutor({ cwd: os.tmpdir() });
  });
  after(async () => {
    await ex.dispose();
  });

  it("Interrupt stops fit() at a step boundary; the run is consistent and continues", async () => {
    await value(
      ex,
      [
        "import { Transformer, Trainer, Corpus, ByteTokenizer, TokenDataset } from 'moelab';",
        "const docs = Array.from({ length: 8 }, (_, i) => 'the router sends token ' + i + ' to two experts; '.repeat(60));",
        "const data = TokenDataset.fromCorpus(Corpus.fromTexts(docs), new ByteTokenizer());",
        "const model = Transformer.create('tiny', { seed: 1 });",
        // Steps of a few hundred ms: longer than the kernel's 200 ms interrupt grace.
        "const trainer = new Trainer(model, data, { batchSize: 16, seqLen: 128 });",
        "trainer.on('step', (r: { step: number }) => { if (r.step === 2) console.log('started'); });",
        "trainer.options.batchSize",
      ].join("\n"),
    );
    let out = "";
    const shown: string[] = [];
    const p = run(ex, "await trainer.fit({ steps: 100000 });", {
      onEvent: (e: ExecutorEvent) => {
        if (e.type === "stream") out += e.text;
        if (e.type === "display_data" || e.type === "update_display_data")
          shown.push(String(e.data["text/plain"]));
      },
    });
    await until(() => out.includes("started"), 120000);
    await sleep(50);
    await ex.interrupt();
    const r = await p;
    assert.equal(r.outcome.status, "interrupted", JSON.stringify(r.outcome));
    assert.match(
      shown[shown.length - 1],
      /interrupted at step \d+: the model, optimizer, biases and data position are consistent/,
    );
    const step = Number(await value(ex, "trainer.step"));
    assert.ok(step >= 2);
    assert.equal(
      await value(
        ex,
        "trainer.optimizer.stepCount === trainer.step && trainer.history.steps.length === trainer.step",
      ),
      "true",
    );
    assert.equal(
      await value(ex, `await trainer.fit({ steps: ${step + 2} }); trainer.step`),
      String(step + 2),
    );
  });
});
