/** The basic layers: RMSNorm. */
import { strict as assert } from "node:assert";
import * as T from "../../../lib/tensor/index.js";
import { ModelContext, RMSNorm } from "../../../lib/nn/index.js";

describe("nn/RMSNorm", () => {
  it("RMSNorm is w * x / sqrt(mean(x^2) + 1e-6)", () => {
    const n = new RMSNorm(new ModelContext(), 2);
    const y = n.forward(T.tensor([[3, 4]])).toArray();
    const r = Math.sqrt(12.5 + 1e-6);
    assert.ok(Math.abs(y[0] - 3 / r) < 1e-6 && Math.abs(y[1] - 4 / r) < 1e-6);
  });
});
