/** Generation: latent-cache decoding equals recomputation; batching, sampling options, stop tokens. */
import { strict as assert } from "node:assert";
import {
  Transformer,
  generate,
  generateSpeculative,
  sampleToken,
} from "../../../lib/model/index.js";
import { type ConfigFields } from "../../../lib/config/index.js";
import * as T from "../../../lib/tensor/index.js";

const CFG: ConfigFields = {
  max_batch_size: 4,
  max_seq_len: 48,
  original_seq_len: 32,
  vocab_size: 64,
  dim: 32,
  inter_dim: 64,
  moe_inter_dim: 16,
  n_layers: 2,
  n_dense_layers: 1,
  n_heads: 2,
  n_routed_experts: 8,
  n_shared_experts: 1,
  n_activated_experts: 2,
  n_expert_groups: 2,
  n_limited_groups: 1,
  score_func: "sigmoid",
  q_lora_rank: 16,
  kv_lora_rank: 16,
  qk_nope_head_dim: 8,
  qk_rope_head_dim: 4,
  v_head_dim: 8,
  mtp_depth: 0,
};

function model(seed: number): Transformer {
  const m = Transformer.create(CFG, { seed });
  let i = 0;
  T.noGrad(() => {
    for (const [name, p] of m.namedParameters()) {
      const r = T.randn([...p.shape], { seed: seed * 100 + i++ });
      if (name.endsWith("norm.weight")) p.copy_(r.mul(0.1).add(1));
      else if (name.endsWith("gate.bias")) p.copy_(r.mul(0.1));
      else if (name === "embed.weight") p.copy_(r);
      else p.copy_(r.mul(1.5 / Math.sqrt(p.shape[1])));
    }
  });
  return m;
}

describe("model/generate", function () {
  this.timeout(60000);
  const prompts = [
    [3, 17, 9, 40, 2, 8],
    [5, 11],
    [60, 1, 33, 7],
  ];

  it("greedy decoding with the latent cache equals recomputation without it, token for token", () => {
    const m = model(1);
    const a = generate(m, prompts, { maxNewTokens: 10 });
    const b = generate(m, prompts, { maxNewTokens: 10, useCache: false });
    assert.deepEqual(a.tokens, b.tokens);
    assert.equal(a.tokens[0].length, 10);
    // The cache holds kv_lora_rank + rope per token and layer for the 6 + 9 positions fed.
    assert.equal(a.cacheElements, 2 * 3 * 15 * (16 + 4));
    assert.equal(a.cacheSizes.mha, 2 * 2 * 8);
    assert.match(a.cacheReport, /latent KV cache: 1800 elements .* MHA would hold 2880/);
  });

  it("frees its cache: repeated calls hold no more tensors than one call", () => {
    const m = model(1);
    generate(m, prompts, { maxNewTokens: 5 });
    const live = T.memory().liveTensors;
    for (let i = 0; i < 3; i++) generate(m, prompts, { maxNewTokens: 5 });
    assert.equal(T.memory().liveTensors, live);
    // Also when a step fails (a streaming callback that throws).
    assert.throws(
      () =>
        generate(m, prompts, {
          maxNewTokens: 5,
          onToken: () => {
            throw new Error("stop here");
          },
        }),
      /stop here/,
    );
    assert.equal(T.memory().liveTensors, live);
  });

  it("a batched prompt generates what it generates alone", () => {
    const m = model(2);
    const batch = generate(m, prompts, { maxNewTokens: 6 });
    prompts.forEach((p, i) =>
      assert.deepEqual(generate(m, [p], { maxNewTokens: 6 }).tokens[0], batch.tokens[i]),
    );
  });

  it("stop tokens end a row (included); streaming reports each step", () => {
    const m = model(3);
    const free = generate(m, [prompts[0]], { maxNewTokens: 8 }).tokens[0];
    const stopAt = free[3];
    const seen: number[][] = [];
    const r = generate(m, [prompts[0]], {
      maxNewTokens: 8,
      stopTokens: [stopAt],
      onToken: (t) => seen.push(t),
    });
    const first = free.indexOf(stopAt);
    assert.deepEqual(r.tokens[0], free.slice(0, first + 1));
    assert.deepEqual(
      seen.map((s) => s[0]),
      r.tokens[0],
    );
  });

  it("sampling: seeded and reproducible; top-k 1 is greedy; top-p keeps the nucleus", () => {
    const m = model(4);
    const s1 = generate(m, prompts, { maxNewTokens: 8, temperature: 1, seed: 5 });
    const s2 = generate(m, prompts, { maxNewTokens: 8, temperature: 1, seed: 5 });
    assert.deepEqual(s1.tokens, s2.tokens);
    const g = generate(m, prompts, { maxNewTokens: 8 });
    assert.deepEqual(
      generate(m, prompts, { maxNewTokens: 8, temperature: 2, topK: 1, seed: 9 }).tokens,
      g.tokens,
    );
    const logits = Float32Array.from([0, 5, 4.9, -3]);
    const counts = [0, 0, 0, 0];
    let s = 1;
    const rand = (): number => (s = (s * 16807) % 2147483647) / 2147483647;
    for (let i = 0; i < 400; i++)
      counts[sampleToken(logits, { temperature: 1, topP: 0.9 }, rand)]++;
    assert.equal(counts[0] + counts[3], 0, "tokens outside the nucleus are never drawn");
    assert.ok(counts[1] > 100 && counts[2] > 100);
  });

  it("bad padding ids and prompt tokens are refused before anything runs", () => {
    const m = model(1);
    let calls = 0;
    const onToken = (): void => void calls++;
    assert.throws(
      () => generate(m, [[1, 2]], { maxNewTokens: 3, padId: 999, onToken }),
      /padId must be a token id in \[0, 64\), got 999/,
    );
    assert.throws(
      () => generate(m, [[1, 2], [70]], { maxNewTokens: 3, onToken }),
      /prompt 1 token 0 is 70, not a token id in \[0, 64\)/,
    );
    assert.equal(calls, 0);
  });

  it("bad options are clear errors", () => {
    const m = model(5);
    assert.throws(() => generate(m, [[1]], { maxNewTokens: 0 }), /maxNewTokens/);
    assert.throws(() => generate(m, [[1]], { maxNewTokens: 48 }), /exceeds max_seq_len 48/);
    assert.throws(() => generate(m, [[1]], { maxNewTokens: 2, topP: 0 }), /topP/);
    assert.throws(() => generate(m, [[99]], { maxNewTokens: 2 }), /token 0 is 99, not a token id/);
    assert.throws(() => generate(m, [], { maxNewTokens: 2 }), /prompts/);
  });
});

describe("model/generateSpeculative", function () {
  this.timeout(60000);
  const mtpModel = (seed: number): Transformer => {
    const m = Transformer.create({ ...CFG, mtp_depth: 1 }, { seed });
    let i = 0;
    T.noGrad(() => {
      for (const [name, p] of m.namedParameters()) {
        const r = T.randn([...p.shape], { seed: seed * 100 + i++ });
        if (name.endsWith("norm.weight")) p.copy_(r.mul(0.1).add(1));
        else if (name === "embed.weight") p.copy_(r);
        else if (!name.endsWith("gate.bias")) p.copy_(r.mul(1.5 / Math.sqrt(p.shape[1])));
      }
    });
    return m;
  };

  it("equals plain greedy decoding token for token, and reports acceptance", () => {
    const m = mtpModel(6);
    for (const p of [[3, 17, 9, 40, 2, 8], [5, 11], [60]]) {
      const plain = generate(m, [p], { maxNewTokens: 20 }).tokens[0];
      const spec = generateSpeculative(m, p, { maxNewTokens: 20 });
      assert.deepEqual(spec.tokens, plain);
      assert.ok(spec.acceptanceRate >= 0 && spec.acceptanceRate <= 1);
      assert.equal(spec.tokens.length, 20);
      assert.ok(spec.mainCalls <= 20 && spec.mainCalls >= 10);
      assert.equal(spec.mainCalls, 1 + spec.drafted);
    }
  });

  it("accepts every draft when the MTP module agrees with the main model", () => {
    // A zero head makes every logit 0, so main model and draft both pick token 0 (ties go low).
    const m = mtpModel(7);
    T.noGrad(() => m.head.weight.zero_());
    const spec = generateSpeculative(m, [1, 2, 3], { maxNewTokens: 11 });
    assert.deepEqual(spec.tokens, new Array(11).fill(0));
    assert.equal(spec.acceptanceRate, 1);
    assert.equal(spec.mainCalls, 6); // the prefill, then two tokens per verification
    assert.ok(spec.tokensPerCall > 1.8);
  });

  it("stop tokens end speculative decoding (included), streaming each token", () => {
    const m = mtpModel(8);
    const plain = generate(m, [[1, 2, 3]], { maxNewTokens: 12 }).tokens[0];
    const seen: number[] = [];
    const spec = generateSpeculative(m, [1, 2, 3], {
      maxNewTokens: 12,
      stopTokens: [plain[5]],
      onToken: (t) => seen.push(t),
    });
    const cut = plain.indexOf(plain[5]);
    assert.deepEqual(spec.tokens, plain.slice(0, cut + 1));
    assert.deepEqual(seen, spec.tokens);
  });

  it("runs up to max_seq_len exactly, as plain decoding does", () => {
    const prompt = [1, 2, 3];
    const n = 48 - prompt.length;
    const agree = mtpModel(7);
    T.noGrad(() => agree.head.weight.zero_()); // every draft accepted, up to the last position
    for (const m of [mtpModel(3), agree]) {
      const spec = generateSpeculative(m, prompt, { maxNewTokens: n });
      assert.deepEqual(spec.tokens, generate(m, [prompt], { maxNewTokens: n }).tokens[0]);
      const live = T.memory().liveTensors; // after the model's RoPE tables exist
      generateSpeculative(m, prompt, { maxNewTokens: n });
      assert.equal(T.memory().liveTensors, live, "its caches are freed");
      assert.throws(
        () => generateSpeculative(m, prompt, { maxNewTokens: n + 1 }),
        /exceeds max_seq_len 48/,
      );
    }
  });

  it("needs an MTP module", () => {
    assert.throws(() => generateSpeculative(model(1), [1], { maxNewTokens: 2 }), /no MTP module/);
  });
});
