/**
 * The CI oracle (test/oracle/deepseek_ref.py, torch 1.13) reads checkpoints that moelab's own
 * safetensors writer and naming produce, in DeepSeek's layout, and computes finite logits at every
 * position; its naive and absorb attention paths agree; BF16 and FP8 (E4M3 + block scales) storage
 * decode to the same model as the equivalent F32 checkpoint.
 */
import { Rng } from "../../lib/tensor/index.js";
import { strict as assert } from "node:assert";
import { relErr as relErrOf } from "../helpers/numeric.js";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DEBIAN_PYTHON, needs } from "../helpers/env.js";
import {
  expectedTensors,
  readSafetensors,
  writeSafetensors,
  type TensorEntry,
} from "../../lib/io/index.js";
import { ModelConfig, presets } from "../../lib/config/index.js";

const ORACLE = resolve(__dirname, "..", "..", "..", "test", "oracle", "deepseek_ref.py");

/** Seeded normal samples (mulberry32 + Box-Muller). */
function normals(n: number, seed: number): Float32Array {
  const r = Rng.fromState(seed >>> 0);
  const u = (): number => (r.nextUint32() + 0.5) / 4294967296;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

/** Random F32 weights for every tensor the config expects: norms near 1, Linear ~ 1/sqrt(fan_in). */
function randomWeights(c: ModelConfig, seed: number): Map<string, Float32Array> {
  const w = new Map<string, Float32Array>();
  expectedTensors(c.args, c.settings).forEach((t, i) => {
    if (t.kind === "scale") return;
    const n = t.shape.reduce((x, y) => x * y, 1);
    const z = normals(n, seed * 1000 + i);
    const std =
      t.kind === "norm"
        ? 0.2
        : t.kind === "bias"
          ? 0.3
          : t.name === "embed.weight"
            ? 1
            : 1.5 / Math.sqrt(t.shape[1]);
    for (let j = 0; j < n; j++) z[j] = (t.kind === "norm" ? 1 : 0) + std * z[j];
    w.set(t.name, z);
  });
  return w;
}

function shapes(c: ModelConfig): Map<string, number[]> {
  return new Map(expectedTensors(c.args, c.settings).map((t) => [t.name, t.shape]));
}

async function writeCheckpoint(
  dir: string,
  c: ModelConfig,
  tensors: Map<string, TensorEntry>,
): Promise<void> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), c.configJson());
  writeFileSync(join(dir, "moelab.json"), c.moelabJson());
  await writeSafetensors(join(dir, "model0-mp1.safetensors"), tensors);
}

function f32Tensors(c: ModelConfig, w: Map<string, Float32Array>): Map<string, TensorEntry> {
  const s = shapes(c);
  return new Map([...w].map(([n, d]) => [n, { dtype: "F32" as const, shape: s.get(n)!, data: d }]));
}

function runOracle(
  dir: string,
  tokens: number[][],
  attn: "naive" | "absorb",
  extra: string[] = [],
): { status: number | null; stderr: string; out: string } {
  const tok = join(dir, "tokens.json");
  writeFileSync(tok, JSON.stringify(tokens));
  const out = join(dir, `out-${attn}.safetensors`);
  const args = [
    ORACLE,
    "--ckpt",
    dir,
    "--tokens",
    tok,
    "--out",
    out,
    "--attn",
    attn,
    "--threads",
    "1",
  ];
  const r = spawnSync(DEBIAN_PYTHON, [...args, ...extra], { encoding: "utf8" });
  return { status: r.status, stderr: r.stderr, out };
}

async function logits(
  dir: string,
  tokens: number[][],
  attn: "naive" | "absorb" = "absorb",
): Promise<Map<string, TensorEntry>> {
  const r = runOracle(dir, tokens, attn);
  assert.equal(r.status, 0, r.stderr);
  return (await readSafetensors(r.out)).tensors;
}

/** float32 -> bfloat16 bits, round to nearest even. */
/** relErr of two checkpoint tensors' values. */
function relErr(a: TensorEntry, b: TensorEntry): number {
  return relErrOf(a.data as Float32Array, b.data as Float32Array);
}

function toBF16(x: Float32Array): Uint16Array {
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = (u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16;
  return out;
}

function fromBF16(b: Uint16Array): Float32Array {
  const u = new Uint32Array(b.length);
  for (let i = 0; i < b.length; i++) u[i] = b[i] << 16;
  return new Float32Array(u.buffer);
}

/** E4M3 (fn) code -> value. */
function e4m3(code: number): number {
  const s = code & 0x80 ? -1 : 1;
  const e = (code >> 3) & 0xf;
  const m = code & 7;
  if (e === 0) return s * (m / 8) * 2 ** -6;
  return s * (1 + m / 8) * 2 ** (e - 7);
}

describe("oracle: deepseek_ref.py on checkpoints written by moelab", function () {
  this.timeout(120000);
  let dir: string;
  const tokens = (c: ModelConfig, B: number, T: number, seed: number): number[][] => {
    const z = normals(B * T, seed);
    return Array.from({ length: B }, (_, b) =>
      Array.from(
        { length: T },
        (_, t) => Math.floor(Math.abs(z[b * T + t]) * 1e6) % c.args.vocab_size,
      ),
    );
  };
  before(function () {
    needs(this, "torch");
    dir = mkdtempSync(join(tmpdir(), "moelab-oracle-"));
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("gives finite logits at every position and MTP logits; naive and absorb agree", async () => {
    const c = presets.tiny.with({ mtp_depth: 2 });
    const d = join(dir, "tiny");
    await writeCheckpoint(d, c, f32Tensors(c, randomWeights(c, 1)));
    const toks = tokens(c, 2, 12, 7);
    const a = await logits(d, toks, "absorb");
    const n = await logits(d, toks, "naive");
    const l = a.get("logits")!;
    assert.deepEqual(l.shape, [2, 12, 512]);
    assert.ok((l.data as Float32Array).every(Number.isFinite));
    assert.deepEqual(a.get("mtp_logits.1")!.shape, [2, 11, 512]);
    assert.deepEqual(a.get("mtp_logits.2")!.shape, [2, 10, 512]);
    assert.ok((a.get("mtp_logits.2")!.data as Float32Array).every(Number.isFinite));
    const e = relErr(l, n.get("logits")!);
    assert.ok(e <= 1e-5, `naive vs absorb ${e}`);
    assert.ok(relErr(a.get("mtp_logits.1")!, n.get("mtp_logits.1")!) <= 1e-5);
    // Causality: a later token does not change earlier logits (up to float reassociation when the
    // experts' token groups change), but changes its own position's.
    const toks2 = toks.map((r) => [...r.slice(0, 11), (r[11] + 1) % 512]);
    const b = (await logits(d, toks2)).get("logits")!;
    const V = 512;
    const at = (t: TensorEntry, bi: number, pos: number): TensorEntry => ({
      dtype: "F32",
      shape: [V],
      data: (t.data as Float32Array).subarray((bi * 12 + pos) * V, (bi * 12 + pos + 1) * V),
    });
    for (let bi = 0; bi < 2; bi++) {
      for (let t = 0; t < 11; t++)
        assert.ok(relErr(at(b, bi, t), at(l, bi, t)) <= 1e-6, `position ${t} changed`);
      assert.ok(
        relErr(at(b, bi, 11), at(l, bi, 11)) > 1e-3,
        "the last position sees the changed token",
      );
    }
  });

  it("traces routing and attention: top-k distinct experts inside the kept groups, causal patterns", async () => {
    const c = presets.small.with({
      mtp_depth: 1,
      n_layers: 2,
      n_activated_experts: 4,
      route_scale: 2.5,
    });
    const d = join(dir, "trace");
    await writeCheckpoint(d, c, f32Tensors(c, randomWeights(c, 9)));
    const r = runOracle(d, tokens(c, 2, 10, 11), "absorb", ["--trace"]);
    assert.equal(r.status, 0, r.stderr);
    const t = (await readSafetensors(r.out)).tensors;
    const a = c.args;
    for (const L of [1, 2]) {
      const idx = t.get(`trace.layers.${L}.ffn.gate.indices`)!;
      assert.equal(idx.dtype, "I32");
      assert.deepEqual(idx.shape, [2, L === 2 ? 9 : 10, a.n_activated_experts]);
      const perGroup = a.n_routed_experts / a.n_expert_groups;
      const ids = idx.data as Int32Array;
      for (let tok = 0; tok < ids.length / a.n_activated_experts; tok++) {
        const sel = [
          ...ids.subarray(tok * a.n_activated_experts, (tok + 1) * a.n_activated_experts),
        ];
        assert.equal(new Set(sel).size, sel.length, "distinct experts");
        assert.ok(sel.every((e) => e >= 0 && e < a.n_routed_experts));
        assert.ok(
          new Set(sel.map((e) => Math.floor(e / perGroup))).size <= a.n_limited_groups,
          "within the kept groups",
        );
      }
      const w = t.get(`trace.layers.${L}.ffn.gate.weights`)!.data as Float32Array;
      // Sigmoid weights are renormalised, then scaled by route_scale.
      for (let tok = 0; tok < w.length / a.n_activated_experts; tok++) {
        const s = w
          .subarray(tok * a.n_activated_experts, (tok + 1) * a.n_activated_experts)
          .reduce((x, y) => x + y, 0);
        assert.ok(Math.abs(s - a.route_scale) < 1e-5);
      }
    }
    assert.deepEqual(t.get("trace.layers.0.attn.kv_norm")!.shape, [2, 10, a.kv_lora_rank]);
    assert.deepEqual(t.get("trace.layers.0.attn.k_pe")!.shape, [2, 10, a.qk_rope_head_dim]);
    const p = t.get("trace.layers.0.attn.pattern")!;
    assert.deepEqual(p.shape, [2, a.n_heads, 10, 10]);
    const pd = p.data as Float32Array;
    for (let q = 0; q < 10; q++)
      for (let k = 0; k < 10; k++) {
        const v = pd[q * 10 + k];
        if (k > q) assert.equal(v, 0, "causal");
      }
  });

  it("reads BF16 storage as the same model as its F32 values", async () => {
    const c = presets.tiny.with({ mtp_depth: 0, n_layers: 2, routing: "plain", q_lora_rank: 0 });
    const w = randomWeights(c, 2);
    const s = shapes(c);
    const bf = new Map<string, TensorEntry>();
    const f32 = new Map<string, TensorEntry>();
    for (const [name, d] of w) {
      const b = toBF16(d);
      bf.set(name, { dtype: "BF16", shape: s.get(name)!, data: b });
      f32.set(name, { dtype: "F32", shape: s.get(name)!, data: fromBF16(b) });
    }
    await writeCheckpoint(join(dir, "bf16"), c, bf);
    await writeCheckpoint(join(dir, "bf16-as-f32"), c, f32);
    const toks = tokens(c, 1, 8, 3);
    const e = relErr(
      (await logits(join(dir, "bf16"), toks)).get("logits")!,
      (await logits(join(dir, "bf16-as-f32"), toks)).get("logits")!,
    );
    assert.ok(e <= 1e-6, `bf16 vs f32 ${e}`);
  });

  it("dequantises FP8 weights with their .scale blocks as the F32 checkpoint of the same values", async () => {
    const c = ModelConfig.from({
      ...presets.tiny.flat(),
      dtype: "fp8",
      vocab_size: 256,
      n_layers: 2,
      q_lora_rank: 128,
      kv_lora_rank: 128,
      inter_dim: 256,
      moe_inter_dim: 128,
      mtp_depth: 0,
    });
    const plain = c.with({ dtype: "bf16" });
    const w = randomWeights(c, 3);
    const q = new Map<string, TensorEntry>();
    const f = new Map<string, TensorEntry>();
    const all = expectedTensors(c.args, c.settings);
    const byName = new Map(all.map((t) => [t.name, t]));
    for (const t of all) {
      if (t.kind === "scale") continue;
      if (!t.fp8) {
        q.set(t.name, { dtype: "F32", shape: t.shape, data: w.get(t.name)! });
        f.set(t.name, { dtype: "F32", shape: t.shape, data: w.get(t.name)! });
        continue;
      }
      const [o, i] = t.shape;
      const codes = new Uint8Array(o * i);
      const z = normals(o * i, o * 7 + i);
      // Any finite code (0x7f and 0xff are NaN).
      for (let k = 0; k < codes.length; k++) {
        let code = Math.floor(Math.abs(z[k]) * 1e4) & 0xff;
        if ((code & 0x7f) === 0x7f) code ^= 1;
        codes[k] = code;
      }
      const sname = t.name.replace(/weight$/, "scale");
      const ss = byName.get(sname)!.shape;
      const scale = new Float32Array(ss[0] * ss[1]).map((_, k) => 0.001 * (1 + (k % 5)));
      const deq = new Float32Array(o * i);
      for (let r = 0; r < o; r++)
        for (let col = 0; col < i; col++)
          deq[r * i + col] = Math.fround(
            e4m3(codes[r * i + col]) * scale[Math.floor(r / 128) * ss[1] + Math.floor(col / 128)],
          );
      q.set(t.name, { dtype: "F8_E4M3", shape: t.shape, data: codes });
      q.set(sname, { dtype: "F32", shape: ss, data: scale });
      f.set(t.name, { dtype: "F32", shape: t.shape, data: deq });
    }
    await writeCheckpoint(join(dir, "fp8"), c, q);
    await writeCheckpoint(join(dir, "fp8-as-f32"), plain, f);
    const toks = tokens(c, 2, 6, 5);
    const a = (await logits(join(dir, "fp8"), toks)).get("logits")!;
    const b = (await logits(join(dir, "fp8-as-f32"), toks)).get("logits")!;
    assert.ok((a.data as Float32Array).every(Number.isFinite));
    const e = relErr(a, b);
    assert.ok(e <= 1e-6, `fp8 vs f32 ${e}`);
  });

  it("fails clearly on a checkpoint missing a tensor and on out-of-range tokens", async () => {
    const c = presets.tiny.with({ mtp_depth: 0, n_layers: 2 });
    const t = f32Tensors(c, randomWeights(c, 4));
    t.delete("layers.1.ffn.experts.5.w3.weight");
    const d = join(dir, "broken");
    await writeCheckpoint(d, c, t);
    const r = runOracle(d, [[1, 2, 3]], "absorb");
    assert.equal(r.status, 2);
    assert.match(r.stderr, /layers\.1\.ffn\.experts\.5\.w3\.weight/);
    const d2 = join(dir, "ok");
    await writeCheckpoint(d2, c, f32Tensors(c, randomWeights(c, 4)));
    const r2 = runOracle(d2, [[1, 2, 9999]], "absorb");
    assert.equal(r2.status, 2);
    assert.match(r2.stderr, /token ids must lie in \[0, 512\)/);
  });
});
