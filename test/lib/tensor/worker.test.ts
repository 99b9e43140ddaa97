/** The runtime (and its addon) loads and computes in worker threads, where the kernel runs cells. */
import * as assert from "node:assert/strict";
import * as path from "node:path";
import { Worker } from "node:worker_threads";
import * as T from "../../../lib/tensor/index.js";

describe("tensor runtime in a worker thread", () => {
  it("computes the same values in a worker as on the main thread (native paths included)", async () => {
    const lib = path.join(__dirname, "..", "..", "..", "lib", "tensor", "index.js");
    const code = `
      const { parentPort } = require("node:worker_threads");
      const T = require(${JSON.stringify(lib)});
      const x = T.randn([64, 128], { seed: 5, requiresGrad: true });
      const loss = T.rmsNorm(x, null).softmax(-1).matmul(x.transpose()).square().mean();
      loss.backward();
      parentPort.postMessage({ loss: loss.item(), g: Array.from(x.grad.toArray().slice(0, 16)) });
    `;
    const res = await new Promise<{ loss: number; g: number[] }>((resolve, reject) => {
      const w = new Worker(code, { eval: true });
      w.once("message", resolve);
      w.once("error", reject);
    });
    const x = T.randn([64, 128], { seed: 5, requiresGrad: true });
    const loss = T.rmsNorm(x, null).softmax(-1).matmul(x.transpose()).square().mean();
    loss.backward();
    assert.equal(res.loss, loss.item());
    assert.deepEqual(res.g, Array.from(x.grad!.toArray().slice(0, 16)));
  });
});
