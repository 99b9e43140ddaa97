/**
 * The loop without tidy(): a model call's activations go with its graph and are freed by
 * backward() (or when its outputs are disposed), so memory stays flat; what reaches user code
 * (hooks, the route observer) stays valid.
 */
import { strict as assert } from "node:assert";
import * as T from "../../../lib/tensor/index.js";
import { Transformer } from "../../../lib/model/index.js";
import { AdamW } from "../../../lib/train/index.js";

const CFG = {
  vocab_size: 64,
  dim: 32,
  inter_dim: 64,
  moe_inter_dim: 16,
  n_layers: 2,
  n_dense_layers: 1,
  n_heads: 2,
  n_routed_experts: 4,
  n_activated_experts: 2,
  kv_lora_rank: 16,
  qk_nope_head_dim: 8,
  qk_rope_head_dim: 8,
  v_head_dim: 8,
  max_seq_len: 32,
  mtp_depth: 1,
};

/** Token batches [2, 16] drawn from a seeded stream. */
function batch(i: number): { x: number[][]; y: number[][] } {
  const row = (b: number, off: number): number[] =>
    Array.from({ length: 16 }, (_, t) => (i * 7 + b * 13 + (t + off) * 5) % 64);
  return { x: [row(0, 0), row(1, 0)], y: [row(0, 1), row(1, 1)] };
}

/** A model whose lazily built tables (RoPE) exist already, so memory() counts only a call's. */
function warmModel(seed: number): Transformer {
  const m = Transformer.create(CFG, { seed });
  T.noGrad(() => m.forward(batch(0).x)).dispose();
  return m;
}

describe("model memory without tidy()", () => {
  it("the natural loop stays flat over 1,000 steps: backward frees the activations", () => {
    const model = Transformer.create(CFG, { seed: 1 });
    const opt = new AdamW(model.trainableParameters(), { lr: 1e-3 });
    const steps = 1000;
    const bytesAt: number[] = [];
    let first = NaN;
    let last = NaN;
    for (let s = 0; s < steps; s++) {
      const { x, y } = batch(s);
      const loss = model.loss(x, y, { mtpWeight: 0.3 });
      loss.backward();
      opt.step();
      model.zeroGrad();
      if (s === 0) first = loss.item();
      if (s === steps - 1) last = loss.item();
      if (s % 100 === 99) bytesAt.push(T.memory().liveBytes);
    }
    assert.ok(last < first, `the loop trains: loss ${first} -> ${last}`);
    // What stays between steps: the losses themselves (4 bytes each) until the collector takes
    // them. Before graph scopes every step left all of its activations (~1 MB here) behind.
    const growth = bytesAt[bytesAt.length - 1] - bytesAt[0];
    assert.ok(
      growth <= 900 * 64,
      `live bytes grew by ${growth} over 900 steps (${bytesAt.join(", ")})`,
    );
  });

  it("backward frees a forward's intermediates; the outputs and the weights' grads stay", () => {
    const model = warmModel(2);
    const { x, y } = batch(0);
    model.zeroGrad();
    const base = T.memory().liveBytes;
    const logits = model.forward(x);
    const held = T.memory().liveBytes - base;
    const l = T.crossEntropy(logits, T.tensor(y, { dtype: "int32" }));
    l.backward();
    const after = T.memory().liveBytes - base;
    assert.ok(!logits.isDisposed, "the returned logits stay valid");
    assert.equal(logits.shape.join(","), "2,16,64");
    const gradBytes = [...model.trainableParameters().values()].reduce(
      (n, p) => n + (p.grad ? p.grad.nbytes : 0),
      0,
    );
    // Left: the logits, the loss and its inputs' small tensors, and the grads.
    assert.ok(
      after <= logits.nbytes * 3 + gradBytes + 4096,
      `after backward ${after} bytes are live (forward held ${held}; logits ${logits.nbytes}, grads ${gradBytes})`,
    );
    assert.ok(held > after - gradBytes, "the forward's activations were live before backward");
    model.zeroGrad();
  });

  it("disposing the outputs of a forward with grad frees its intermediates (tidy does it)", () => {
    const model = warmModel(3);
    const { x } = batch(1);
    const base = T.memory();
    T.tidy(() => void model.forward(x).argmax(-1));
    assert.equal(T.memory().liveBytes, base.liveBytes);
    assert.equal(T.memory().liveTensors, base.liveTensors);
    const logits = model.forward(x);
    assert.ok(T.memory().liveBytes > base.liveBytes + logits.nbytes, "activations are held");
    logits.dispose();
    assert.equal(T.memory().liveBytes, base.liveBytes);
  });

  it("without grad the leftovers go when the call returns", () => {
    const model = warmModel(4);
    const { x } = batch(2);
    const base = T.memory().liveBytes;
    const logits = T.noGrad(() => model.forward(x));
    assert.equal(T.memory().liveBytes - base, logits.nbytes);
    logits.dispose();
  });

  it("activations handed to a hook stay valid after backward; retainGraph keeps the graph", () => {
    const model = warmModel(5);
    const { x, y } = batch(3);
    const seen: T.Tensor[] = [];
    const rm = model.addHook("blocks.1.hook_resid_post", (t) => void seen.push(t));
    try {
      const loss = model.loss(x, y);
      loss.backward(undefined, { retainGraph: true });
      const g1 = model.trainableParameters().get("embed.weight")!.grad!.toArray();
      loss.backward();
      const g2 = model.trainableParameters().get("embed.weight")!.grad!.toArray();
      for (let i = 0; i < g1.length; i += 97)
        assert.ok(Math.abs(g2[i] - 2 * g1[i]) <= 1e-5 * (1 + Math.abs(g1[i])), "second pass adds");
      assert.throws(() => loss.backward(), /second time/);
      assert.equal(seen.length, 1);
      assert.ok(!seen[0].isDisposed, "the hook's activation is the user's");
      assert.equal(seen[0].shape.join(","), "2,16,32");
      assert.ok(Number.isFinite(seen[0].sum().item()));
    } finally {
      rm();
      model.zeroGrad();
    }
  });
});
