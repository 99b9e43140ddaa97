/**
 * The Transformer: shapes, errors, hooks and cache, gradients, save/load bit-exactness, and the
 * equivalence with the PyTorch oracle of DeepSeek's reference (test/oracle/deepseek_ref.py).
 */
import { strict as assert } from "node:assert";
import { relErr } from "../../helpers/numeric.js";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as T from "../../../lib/tensor/index.js";
import { readSafetensors, type TensorEntry } from "../../../lib/io/index.js";
import { LatentKV } from "../../../lib/nn/index.js";
import { Transformer } from "../../../lib/model/index.js";
import { type ConfigFields } from "../../../lib/config/index.js";
import { DEBIAN_PYTHON, needs } from "../../helpers/env.js";

const ORACLE = resolve(__dirname, "..", "..", "..", "..", "test", "oracle", "deepseek_ref.py");

/** Runs the oracle on checkpoint dir `ck` with ck/tokens.json; returns what it wrote to `out`. */
async function runOracle(
  ck: string,
  out: string,
  extra: string[] = [],
): Promise<Map<string, TensorEntry>> {
  const r = spawnSync(
    DEBIAN_PYTHON,
    [ORACLE, "--ckpt", ck, "--tokens", join(ck, "tokens.json"), "--out", out, ...extra],
    { encoding: "utf8" },
  );
  assert.equal(r.status, 0, `oracle failed: ${r.stderr}`);
  return (await readSafetensors(out)).tensors;
}

/** A small config with YaRN active, one dense layer and MTP. */
const BASE: ConfigFields = {
  max_batch_size: 4,
  max_seq_len: 64,
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
  kv_lora_rank: 16,
  qk_nope_head_dim: 8,
  qk_rope_head_dim: 4,
  v_head_dim: 8,
  rope_factor: 4,
  mscale: 0.707,
  mtp_depth: 1,
};

const VARIANTS: Record<string, ConfigFields> = {
  "softmax, no bias, q_lora_rank 0": {
    ...BASE,
    score_func: "softmax",
    routing: "plain",
    q_lora_rank: 0,
  },
  "sigmoid + bias + groups, q_lora_rank > 0": {
    ...BASE,
    score_func: "sigmoid",
    routing: "noaux_tc",
    n_expert_groups: 4,
    n_limited_groups: 2,
    route_scale: 2.5,
    q_lora_rank: 24,
  },
  "softmax, groups by max, shared 2, q_lora_rank > 0": {
    ...BASE,
    score_func: "softmax",
    routing: "plain",
    n_expert_groups: 2,
    n_limited_groups: 1,
    n_shared_experts: 2,
    q_lora_rank: 12,
    route_scale: 16,
  },
};

/** Re-draws every weight at a scale that makes routing and attention non-trivial. */
export function randomize(m: Transformer, seed: number): void {
  let i = 0;
  T.noGrad(() => {
    for (const [name, p] of m.namedParameters()) {
      const r = T.randn([...p.shape], { seed: seed * 1000 + i++ });
      if (name.endsWith("norm.weight")) p.copy_(r.mul(0.2).add(1));
      else if (name.endsWith("gate.bias")) p.copy_(r.mul(0.3));
      else if (name === "embed.weight") p.copy_(r);
      else p.copy_(r.mul(1 / Math.sqrt(p.shape[1])));
    }
  });
}

function randomTokens(B: number, Tn: number, V: number, seed: number): number[][] {
  const d = T.randint(0, V, [B, Tn], { seed }).toArray();
  return Array.from({ length: B }, (_, b) => Array.from(d.subarray(b * Tn, (b + 1) * Tn)));
}

/** Worst norm-wise relative error over positions of [B, T, V] logits. */
function worstPositionErr(a: Float32Array, b: Float32Array, V: number): number {
  let worst = 0;
  for (let p = 0; p < a.length / V; p++)
    worst = Math.max(worst, relErr(a.subarray(p * V, (p + 1) * V), b.subarray(p * V, (p + 1) * V)));
  return worst;
}

describe("model/transformer: equivalence with DeepSeek's reference (PyTorch oracle)", function () {
  this.timeout(120000);
  let dir = "";
  before(function () {
    needs(this, "torch");
    dir = mkdtempSync(join(tmpdir(), "moelab-transformer-"));
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  Object.entries(VARIANTS).forEach(([label, cfg], vi) => {
    it(`logits agree at every position, main and MTP (${label})`, async () => {
      const m = Transformer.create(cfg, { seed: vi });
      randomize(m, 10 + vi);
      const ck = join(dir, `v${vi}`);
      await m.save(ck);
      const toks = randomTokens(2, 12, cfg.vocab_size!, 100 + vi);
      writeFileSync(join(ck, "tokens.json"), JSON.stringify(toks));
      const V = cfg.vocab_size!;
      for (const impl of ["naive", "absorb"] as const) {
        m.attnImpl = impl;
        const { logits, mtpLogits } = T.noGrad(() => m.run(toks, { withMtp: true }));
        const out = join(ck, `out-${impl}.safetensors`);
        const ref = await runOracle(ck, out, ["--attn", impl, "--threads", "1"]);
        const want = ref.get("logits")!;
        assert.deepEqual(want.shape, [2, 12, V]);
        const err = worstPositionErr(
          logits.toArray() as Float32Array,
          want.data as Float32Array,
          V,
        );
        assert.ok(err <= 1e-4, `${impl}: main logits relative error ${err}`);
        assert.equal(mtpLogits.length, 1);
        const wm = ref.get("mtp_logits.1")!;
        assert.deepEqual(wm.shape, [2, 11, V]);
        const em = worstPositionErr(
          mtpLogits[0].toArray() as Float32Array,
          wm.data as Float32Array,
          V,
        );
        assert.ok(em <= 1e-4, `${impl}: MTP logits relative error ${em}`);
      }
    });
  });
  // The training path: moelab's loss and every parameter's gradient against torch's autograd
  // through the same model. (This is how a gradient lost in x + f(x) was found.)
  (
    [
      ["sigmoid + bias + groups, q_lora_rank > 0", "naive"],
      ["softmax, no bias, q_lora_rank 0", "absorb"],
    ] as const
  ).forEach(([label, impl], vi) => {
    it(`loss and the gradient of every parameter agree with torch's autograd (${label}, ${impl})`, async () => {
      const cfg = VARIANTS[label];
      const m = Transformer.create(cfg, { seed: 20 + vi });
      randomize(m, 30 + vi);
      m.attnImpl = impl;
      const ck = join(dir, `grad${vi}`);
      await m.save(ck);
      const toks = randomTokens(2, 10, cfg.vocab_size!, 40 + vi);
      const targets = randomTokens(2, 10, cfg.vocab_size!, 50 + vi);
      targets[1][3] = -100; // an ignored position
      writeFileSync(join(ck, "tokens.json"), JSON.stringify(toks));
      writeFileSync(join(ck, "targets.json"), JSON.stringify(targets));
      const out = join(ck, "grad.safetensors");
      const ref = await runOracle(ck, out, [
        "--attn",
        impl,
        "--threads",
        "1",
        "--grad",
        join(ck, "targets.json"),
      ]);
      const loss = m.loss(toks, targets);
      const want = (ref.get("loss")!.data as Float32Array)[0];
      assert.ok(
        Math.abs(loss.item() - want) <= 1e-5 * Math.abs(want),
        `loss ${loss.item()} vs ${want}`,
      );
      loss.backward();
      let checked = 0;
      for (const [name, p] of m.namedParameters()) {
        if (name.endsWith("gate.bias")) {
          assert.equal(p.grad, null, "the gate bias gets no gradient");
          continue;
        }
        const g = ref.get(`grad.${name}`);
        assert.ok(g, `the oracle has a gradient for ${name}`);
        const want = g.data as Float32Array;
        if (p.grad === null) {
          // No token reached this expert: no gradient, as in torch (where it is zero).
          assert.ok(
            want.every((v) => v === 0),
            `${name} has no gradient, the oracle's is not zero`,
          );
        } else {
          const mine = p.grad.toArray() as Float32Array;
          const e = want.every((v) => v === 0)
            ? mine.every((v) => v === 0)
              ? 0
              : Infinity
            : relErr(mine, want);
          assert.ok(
            e <= 1e-4,
            `${name}: gradient relative error ${e} (norms ${Math.hypot(...mine)} vs ${Math.hypot(...want)})`,
          );
        }
        checked++;
      }
      assert.equal(checked, [...ref.keys()].filter((k) => k.startsWith("grad.")).length);
    });
  });

  it("FP8 checkpoints (E4M3 + 128x128 block scales): the loaded model agrees with the oracle", async () => {
    const cfg: ConfigFields = {
      ...VARIANTS["sigmoid + bias + groups, q_lora_rank > 0"],
      dtype: "fp8",
      dim: 128,
      inter_dim: 128,
      moe_inter_dim: 128,
      q_lora_rank: 0,
      kv_lora_rank: 128,
      n_heads: 2,
      v_head_dim: 64,
    };
    const m = Transformer.create(cfg, { seed: 3 });
    randomize(m, 3);
    const ck = join(dir, "fp8");
    await m.save(ck);
    const st = (await readSafetensors(join(ck, "model0-mp1.safetensors"))).tensors;
    assert.equal(st.get("layers.1.ffn.experts.0.w1.weight")!.dtype, "F8_E4M3");
    assert.deepEqual(st.get("layers.1.ffn.experts.0.w1.scale")!.shape, [1, 1]);
    assert.equal(st.get("layers.1.ffn.gate.weight")!.dtype, "F32");
    const l = await Transformer.load(ck);
    const w0 = m.namedParameters().get("layers.0.attn.wkv_b.weight")!.toArray();
    const w1 = l.namedParameters().get("layers.0.attn.wkv_b.weight")!.toArray() as Float32Array;
    const e = relErr(w1, w0 as Float32Array);
    assert.ok(e > 0 && e < 0.05, `quantisation error ${e}`);
    const toks = randomTokens(2, 8, 64, 9);
    writeFileSync(join(ck, "tokens.json"), JSON.stringify(toks));
    const out = join(ck, "out.safetensors");
    const want = (await runOracle(ck, out)).get("logits")!;
    const got = T.noGrad(() => l.forward(toks)).toArray() as Float32Array;
    const err = worstPositionErr(got, want.data as Float32Array, 64);
    assert.ok(err <= 1e-4, `relative error ${err}`);
  });
});

describe("model/transformer", function () {
  this.timeout(60000);
  const cfg = VARIANTS["sigmoid + bias + groups, q_lora_rank > 0"];

  it("forward gives [B, T, V] logits from number[][] and from an int32 Tensor, equal", () => {
    const m = Transformer.create(cfg, { seed: 3 });
    const toks = randomTokens(3, 5, 64, 1);
    const a = m.forward(toks);
    assert.deepEqual(a.shape, [3, 5, 64]);
    const b = m.forward(T.tensor(Int32Array.from(toks.flat()), { shape: [3, 5] }));
    assert.deepEqual(Array.from(a.toArray()), Array.from(b.toArray()));
  });

  it("create is deterministic for a seed and differs between seeds", () => {
    const w = (s: number): Float32Array =>
      Transformer.create(cfg, { seed: s })
        .namedParameters()
        .get("layers.1.ffn.experts.3.w2.weight")!
        .toArray() as Float32Array;
    assert.deepEqual(Array.from(w(5)), Array.from(w(5)));
    assert.notDeepEqual(Array.from(w(5)), Array.from(w(6)));
  });

  it("parameter names and shapes are exactly those of the DeepSeek layout", async () => {
    const { expectedTensors } = await import("../../../lib/io/index.js");
    const m = Transformer.create(cfg, { seed: 0 });
    const want = expectedTensors(m.config.args, m.config.settings).map(
      (t) => `${t.name} ${t.shape.join("x")}`,
    );
    const got = [...m.namedParameters()].map(([n, t]) => `${n} ${t.shape.join("x")}`);
    assert.deepEqual([...got].sort(), [...want].sort());
    let n = 0;
    for (const t of m.namedParameters().values()) n += t.size;
    assert.equal(m.numParams(), n);
  });

  it("naive and absorb attention give equal logits", () => {
    const m = Transformer.create(cfg, { seed: 4 });
    randomize(m, 4);
    const toks = randomTokens(2, 9, 64, 2);
    m.attnImpl = "naive";
    const a = m.forward(toks).toArray() as Float32Array;
    m.attnImpl = "absorb";
    const b = m.forward(toks).toArray() as Float32Array;
    assert.ok(relErr(a, b) < 1e-5, `relative error ${relErr(a, b)}`);
  });

  it("an empty batch (int32 [0, T]) gives empty logits [0, T, V]", () => {
    const m = Transformer.create(cfg, { seed: 0 });
    const logits = m.forward(T.zeros([0, 3], { dtype: "int32" }));
    assert.deepEqual(logits.shape, [0, 3, 64]);
    assert.equal(logits.toArray().length, 0);
  });

  it("clear errors for out-of-range ids, too-long sequences, ragged rows, bad targets", () => {
    const m = Transformer.create(cfg, { seed: 0 });
    assert.throws(() => m.forward([[1, 64]]), /token id 64 at \[0, 1\] is out of range \[0, 64\)/);
    assert.throws(() => m.forward([[-1]]), /token id -1/);
    // Checked before the int32 store: 2^31 once read back as -2147483648.
    assert.throws(
      () => m.forward([[1, 2 ** 31]]),
      /token id 2147483648 at \[0, 1\] is out of range/,
    );
    assert.throws(() => m.forward([[2 ** 32]]), /token id 4294967296 at \[0, 0\]/);
    assert.throws(
      () => m.forward([new Array(65).fill(1)]),
      /sequence length 65 exceeds max_seq_len 64/,
    );
    assert.throws(() => m.forward([[1, 2], [3]]), /row 1 has length 1/);
    assert.throws(() => m.forward([[1.5]]), /not an integer/);
    assert.throws(() => m.forward(T.tensor([[1, 2]])), /int32/);
    assert.throws(() => m.loss([[1, 2]], [[1]]), /targets shape/);
    assert.throws(() => m.loss([[1, 2]], [[1, 99]]), /targets: id 99/);
    assert.throws(
      () => Transformer.create({ ...cfg, n_activated_experts: 9 }),
      /n_activated_experts/,
    );
  });

  it("loss adds the weighted MTP loss; backward gives finite gradients for every parameter", () => {
    const m = Transformer.create(cfg, { seed: 7 });
    randomize(m, 7);
    const toks = randomTokens(4, 24, 64, 3);
    const inputs = toks.map((r) => r.slice(0, 23));
    const targets = toks.map((r) => r.slice(1));
    const main = T.noGrad(() => m.loss(inputs, targets, { mtpWeight: 0 })).item();
    const logits = T.noGrad(() => m.forward(inputs));
    const ce = T.crossEntropy(
      logits,
      T.tensor(Int32Array.from(targets.flat()), { shape: [4, 23] }),
    ).item();
    assert.ok(Math.abs(main - ce) < 1e-5);
    const loss = m.loss(inputs, targets, { mtpWeight: 0.3 });
    assert.ok(loss.item() > main + 0.1, "MTP loss adds to the main loss");
    loss.backward();
    const used = new Set<string>();
    const { cache } = m.runWithCache(inputs);
    for (const n of cache.names.filter((x) => x.endsWith("hook_expert_indices"))) {
      const layer = n.startsWith("mtp.") ? 2 + Number(n.split(".")[1]) : Number(n.split(".")[1]);
      for (const e of cache.get(n).toArray()) used.add(`layers.${layer}.ffn.experts.${e}.`);
    }
    let checked = 0;
    for (const [name, p] of m.trainableParameters()) {
      const expert = name.match(/^(layers\.\d+\.ffn\.experts\.\d+\.)/);
      if (expert && !used.has(expert[1])) continue;
      assert.ok(p.grad, `no gradient for ${name}`);
      const g = p.grad.toArray();
      assert.ok(
        g.every((v) => Number.isFinite(v)),
        `non-finite gradient in ${name}`,
      );
      assert.ok(
        g.some((v) => v !== 0),
        `zero gradient for ${name}`,
      );
      checked++;
    }
    assert.ok(checked > 40);
    const bias = m.namedParameters().get("layers.1.ffn.gate.bias")!;
    assert.equal(bias.grad ?? null, null, "the gate bias is not trained by gradients");
  });

  it("save/load round-trips bit-exactly (DeepSeek layout, config.json with exactly ModelArgs)", async () => {
    const m = Transformer.create(cfg, { seed: 8 });
    randomize(m, 8);
    const dir = mkdtempSync(join(tmpdir(), "moelab-save-"));
    try {
      await m.save(dir);
      const cj = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
      assert.ok(!("mtp_depth" in cj) && cj.dim === 32 && "mscale" in cj);
      const ml = JSON.parse(readFileSync(join(dir, "moelab.json"), "utf8"));
      assert.equal(ml.mtp_depth, 1);
      const l = await Transformer.load(dir);
      const a = m.namedParameters();
      const b = l.namedParameters();
      assert.deepEqual([...a.keys()], [...b.keys()]);
      for (const [n, t] of a)
        assert.deepEqual(
          new Uint32Array((t.toArray() as Float32Array).buffer),
          new Uint32Array((b.get(n)!.toArray() as Float32Array).buffer),
          n,
        );
      const toks = randomTokens(1, 6, 64, 4);
      assert.deepEqual(
        Array.from(m.forward(toks).toArray()),
        Array.from(l.forward(toks).toArray()),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("save/load in Hugging Face's layout round-trips bit-exactly", async () => {
    const m = Transformer.create(cfg, { seed: 9 });
    const dir = mkdtempSync(join(tmpdir(), "moelab-save-hf-"));
    try {
      await m.save(dir, { layout: "hf" });
      const cj = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
      assert.equal(cj.hidden_size, 32);
      const l = await Transformer.load(dir);
      for (const [n, t] of m.namedParameters())
        assert.deepEqual(
          Array.from(t.toArray()),
          Array.from(l.namedParameters().get(n)!.toArray()),
          n,
        );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses to allocate DeepSeek's full-size presets, naming the size", () => {
    assert.throws(
      () => Transformer.create("671B"),
      /"671B" has .*B parameters, more than maxParams/,
    );
  });

  it("runWithCache records the asked activations with documented shapes; unknown names are errors", () => {
    const m = Transformer.create(cfg, { seed: 1 });
    const toks = randomTokens(2, 6, 64, 5);
    const names = [
      "hook_embed",
      "blocks.0.hook_resid_pre",
      "blocks.0.attn.hook_q",
      "blocks.0.attn.hook_kv_latent",
      "blocks.0.attn.hook_k_pe",
      "blocks.0.attn.hook_attn_scores",
      "blocks.0.attn.hook_pattern",
      "blocks.0.attn.hook_z",
      "blocks.0.hook_resid_mid",
      "blocks.0.mlp.hook_post",
      "blocks.1.moe.hook_router_scores",
      "blocks.1.moe.hook_router_biased_scores",
      "blocks.1.moe.hook_expert_indices",
      "blocks.1.moe.hook_expert_weights",
      "blocks.1.hook_resid_post",
      "mtp.0.hook_in",
      "mtp.0.attn.hook_pattern",
      "mtp.0.hook_logits",
      "hook_logits",
    ];
    const { logits, cache } = m.runWithCache(toks, { names });
    assert.deepEqual(cache.names.sort(), [...names].sort());
    const shape = (n: string): number[] => [...cache.get(n).shape];
    assert.deepEqual(shape("blocks.0.attn.hook_q"), [2, 6, 2, 12]);
    assert.deepEqual(shape("blocks.0.attn.hook_kv_latent"), [2, 6, 16]);
    assert.deepEqual(shape("blocks.0.attn.hook_k_pe"), [2, 6, 4]);
    assert.deepEqual(shape("blocks.0.attn.hook_pattern"), [2, 2, 6, 6]);
    assert.deepEqual(shape("blocks.0.attn.hook_z"), [2, 6, 2, 8]);
    assert.deepEqual(shape("blocks.0.mlp.hook_post"), [2, 6, 64]);
    assert.deepEqual(shape("blocks.1.moe.hook_router_scores"), [2, 6, 8]);
    assert.deepEqual(shape("blocks.1.moe.hook_expert_indices"), [2, 6, 2]);
    assert.equal(cache.get("blocks.1.moe.hook_expert_indices").dtype, "int32");
    assert.deepEqual(shape("mtp.0.hook_logits"), [2, 5, 64]);
    assert.deepEqual(Array.from(cache.get("hook_logits").toArray()), Array.from(logits.toArray()));
    // Causal pattern: rows sum to 1, nothing above the diagonal.
    const p = cache.get("blocks.0.attn.hook_pattern").toArray();
    for (let t = 0; t < 6; t++) {
      let s = 0;
      for (let u = 0; u < 6; u++) {
        s += p[t * 6 + u];
        if (u > t) assert.equal(p[t * 6 + u], 0);
      }
      assert.ok(Math.abs(s - 1) < 1e-5);
    }
    assert.throws(
      () => m.runWithCache(toks, { names: ["blocks.0.attn.hook_patern"] }),
      /unknown hook point/,
    );
    for (const n of names) assert.ok(m.hookPoints().includes(n), n);
  });

  it("a hook can replace an activation (zeroing the attention output changes the logits)", () => {
    const m = Transformer.create(cfg, { seed: 2 });
    randomize(m, 2);
    const toks = randomTokens(1, 5, 64, 6);
    const base = m.forward(toks).toArray();
    let seen = 0;
    const off = m.addHook("blocks.1.hook_attn_out", (t) => {
      seen++;
      return T.zerosLike(t);
    });
    const changed = m.forward(toks).toArray();
    off();
    assert.equal(seen, 1);
    assert.notDeepEqual(Array.from(changed), Array.from(base));
    assert.deepEqual(Array.from(m.forward(toks).toArray()), Array.from(base));
    assert.throws(() => m.addHook("blocks.9.hook_attn_out", () => undefined), /unknown hook point/);
  });

  it("padded batches: a left-padded prompt gives the same logits as alone", () => {
    const m = Transformer.create(cfg, { seed: 5 });
    randomize(m, 5);
    const long = randomTokens(1, 7, 64, 7)[0];
    const short = [5, 9, 11, 2];
    const batch = [long, [0, 0, 0, ...short]];
    const mask = [
      [1, 1, 1, 1, 1, 1, 1],
      [0, 0, 0, 1, 1, 1, 1],
    ];
    const both = m.forward(batch, { attentionMask: mask }).toArray() as Float32Array;
    const alone = m.forward([short]).toArray() as Float32Array;
    const V = 64;
    assert.ok(relErr(both.subarray((7 + 3) * V, 14 * V), alone) < 1e-5);
    const first = m.forward([long]).toArray() as Float32Array;
    assert.ok(relErr(both.subarray(0, 7 * V), first) < 1e-6);
    assert.ok(both.every((v) => Number.isFinite(v)));
  });

  it("a training step inside tidy() keeps the weights and RoPE tables alive", () => {
    const m = T.tidy(() => Transformer.create(cfg, { seed: 6 }));
    const toks = randomTokens(2, 6, 64, 8);
    const l1 = T.tidy(() => {
      const l = m.loss(toks, toks);
      l.backward();
      return l.item();
    });
    const l2 = T.tidy(() => m.loss(toks, toks).item());
    assert.ok(Number.isFinite(l1) && Math.abs(l1 - l2) < 1e-6);
    assert.ok(m.namedParameters().get("head.weight")!.grad);
  });

  it("cached steps: startPos must follow the cache; a failing step leaves the cache as it was", () => {
    const m = Transformer.create(cfg, { seed: 4 });
    const cache = m.layers.map(() => new LatentKV());
    const toks = randomTokens(1, 6, 64, 3);
    T.noGrad(() => m.forward([toks[0].slice(0, 4)], { cache }));
    assert.deepEqual(
      cache.map((c) => c.length),
      [4, 4],
    );
    assert.throws(
      () => T.noGrad(() => m.forward([[toks[0][4]]], { cache, startPos: 0 })),
      /startPos 0 must equal the positions the cache holds \(4\)/,
    );
    assert.throws(
      () => m.forward([[1]], { startPos: 3 }),
      /startPos 3 needs a cache holding the 3 earlier positions/,
    );
    assert.throws(
      () => m.forward([[1]], { cache: [{ kv: null, pe: null }] as never, startPos: 0 }),
      /one entry per layer/,
    );
    // A hook that throws in the last layer: the first layer's cache is rolled back.
    const off = m.addHook("blocks.1.attn.hook_q", () => {
      throw new Error("hook failed");
    });
    assert.throws(
      () => T.noGrad(() => m.forward([[toks[0][4]]], { cache, startPos: 4 })),
      /hook failed/,
    );
    off();
    assert.deepEqual(
      cache.map((c) => c.length),
      [4, 4],
    );
    // Then the step runs, and equals the full pass at that position.
    const step = T.noGrad(() => m.forward([[toks[0][4]]], { cache, startPos: 4 })).toArray();
    const full = T.noGrad(() => m.forward([toks[0].slice(0, 5)])).toArray();
    const last = full.subarray(4 * 64);
    for (let i = 0; i < 64; i++) assert.ok(Math.abs(step[i] - last[i]) < 1e-4, `${i}`);
    // runWithCache on a model with MTP also takes a cache (the MTP modules do not run).
    const r = m.runWithCache([[toks[0][5]]], {
      cache,
      startPos: 5,
      names: ["blocks.0.attn.hook_kv_latent"],
    });
    assert.deepEqual(r.cache.get("blocks.0.attn.hook_kv_latent").shape, [1, 1, 16]);
    assert.equal(cache[0].length, 6);
    cache.forEach((c) => c.dispose());
  });

  it("loss: a depth whose MTP targets are all ignored adds nothing (not NaN)", () => {
    const m = Transformer.create(cfg, { seed: 5 });
    const toks = randomTokens(2, 5, 64, 4);
    const tg = randomTokens(2, 5, 64, 5);
    // MTP module 0 reads targets from position 1 on: ignore all of them.
    const tgIgnored = tg.map((r) => r.map((t, i) => (i >= 1 ? -100 : t)));
    const a = T.noGrad(() => m.loss(toks, tgIgnored).item());
    const main = T.noGrad(() => m.loss(toks, tgIgnored, { mtpWeight: 0 }).item());
    assert.ok(Number.isFinite(a));
    assert.equal(a, main);
    assert.throws(() => m.loss(toks, tg, { cache: [] }), /loss needs a full sequence/);
  });

  it("loadStateDict checks every tensor before changing any weight", () => {
    const m = Transformer.create(cfg, { seed: 6 });
    const src = Transformer.create(cfg, { seed: 7 }).stateDict();
    const before = m.namedParameters().get("embed.weight")!.toArray();
    const bad = new Map(src);
    bad.set("head.weight", { dtype: "F32", shape: [1, 2, 3], data: new Float32Array(6) });
    assert.throws(() => m.loadStateDict(bad), /tensor "head.weight": expected \[64, 32\]/);
    assert.deepEqual(m.namedParameters().get("embed.weight")!.toArray(), before);
    const raw = new Map(src);
    const e = src.get("norm.weight")!;
    raw.set("norm.weight", { ...e, data: new Uint8Array((e.data as Float32Array).buffer) });
    assert.throws(
      () => m.loadStateDict(raw),
      /tensor "norm.weight": F32 data must be a Float32Array of 32 values, got Uint8Array of 128/,
    );
    // F16 weights decode (0x3c00 = 1, 0xc000 = -2, 0x0001 = 2^-24).
    const half = new Map(src);
    const h = new Uint16Array(32);
    h[0] = 0x3c00;
    h[1] = 0xc000;
    h[2] = 0x0001;
    half.set("norm.weight", { dtype: "F16", shape: [32], data: h });
    m.loadStateDict(half);
    const w = m.namedParameters().get("norm.weight")!.toArray();
    assert.deepEqual([w[0], w[1], w[2], w[3]], [1, -2, Math.fround(2 ** -24), 0]);
  });

  it("FP8 weights need an F32 .scale of one multiplier per 128x128 block", () => {
    const m = Transformer.create(cfg, { seed: 6 });
    const sd = m.stateDict();
    const w = sd.get("layers.0.attn.wo.weight")!;
    const fp8 = (scale: TensorEntry): Map<string, TensorEntry> =>
      new Map([
        ...sd,
        [
          "layers.0.attn.wo.weight",
          { dtype: "F8_E4M3", shape: w.shape, data: new Uint8Array(w.shape[0] * w.shape[1]) },
        ],
        ["layers.0.attn.wo.scale", scale],
      ]);
    assert.throws(
      () => m.loadStateDict(fp8({ dtype: "BF16", shape: [1, 1], data: Uint16Array.of(0x3f00) })),
      /"layers.0.attn.wo.scale" must be F32 \[1, 1\].*found BF16 \[1, 1\]/,
    );
    assert.throws(
      () => m.loadStateDict(fp8({ dtype: "F32", shape: [0, 1], data: new Float32Array(0) })),
      /must be F32 \[1, 1\]/,
    );
    m.loadStateDict(fp8({ dtype: "F32", shape: [1, 1], data: Float32Array.of(0.5) }));
  });

  // Measured (seed 9, deterministic): bf16 1.06e-3, fp8 1.42e-2. The bounds allow about 3x either
  // way: a rounding step that stops happening (too low) or grows (too high) fails.
  for (const [precision, lo, tol] of [
    ["bf16", 3e-4, 3e-3],
    ["fp8", 5e-3, 4e-2],
  ] as const)
    it(`trains in ${precision}: logits near fp32's, finite gradients, the loss falls`, () => {
      const ref = Transformer.create(cfg, { seed: 9 });
      const m = Transformer.create(cfg, { seed: 9, precision });
      assert.equal(m.precision, precision);
      const toks = randomTokens(2, 12, 64, 8);
      const tg = toks.map((r) => [...r.slice(1), r[0]]);
      const a = T.noGrad(() => m.forward(toks)).toArray() as Float32Array;
      const b = T.noGrad(() => ref.forward(toks)).toArray() as Float32Array;
      const e = relErr(a, b);
      assert.ok(e > lo && e < tol, `${precision} logits vs fp32: relative error ${e}`);
      const losses: number[] = [];
      for (let step = 0; step < 6; step++) {
        const loss = m.loss(toks, tg);
        loss.backward();
        losses.push(loss.item());
        T.noGrad(() => {
          for (const p of m.parameters()) {
            if (!p.grad) continue;
            assert.ok(p.grad.toArray().every(Number.isFinite), "finite gradients");
            p.sub_(p.grad.mul(0.5));
            p.grad = null;
          }
        });
      }
      assert.ok(losses[5] < losses[0] - 0.1, `${precision} losses ${losses.join(", ")}`);
    });

  it("displays itself as a module tree with shapes and counts", () => {
    const m = Transformer.create("tiny", { seed: 0 });
    const show = (m as unknown as Record<symbol, () => Record<string, string>>)[
      Symbol.for("Jupyter.display")
    ];
    const d = show.call(m);
    assert.match(d["text/plain"], /layers\.1: Block 1 \(MoE\)/);
    assert.match(d["text/plain"], /wkv_a: Linear\(128 -> 48\)/);
    assert.match(d["text/html"], /<details/);
    assert.match(d["text/plain"], /gate\.bias|bias \[8\] \(not trained\)/);
  });
});
