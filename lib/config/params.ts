/**
 * Parameter counts from a config alone (no weights allocated): total, activated per token, and a
 * per-module breakdown, with and without the MTP modules.
 *
 * "Activated" counts the parameters a token's forward pass multiplies by: every dense weight, the
 * shared experts, n_activated_experts routed experts, the gate, norms and the output head, but not
 * the embedding table (a lookup): so V3 gives 36.63B, or 37.55B with the embedding. DeepSeek quotes
 * 37B (the paper) and 36.7B (README_WEIGHTS, whose accounting of embedding and head differs from
 * this one). The gate bias counts when routing is "noaux_tc".
 */
import { isDenseLayer, type ModelArgs } from "./args.js";
import type { MoelabSettings } from "./settings.js";

/** One row of the breakdown: a module kind, its count per instance and how many instances. */
export interface ParamRow {
  /** e.g. "embed", "attn (MLA)", "moe.experts (routed)". */
  module: string;
  /** Parameter tensors of one instance, e.g. "wq_a [1536, 7168]". */
  detail: string;
  /** Parameters of one instance. */
  each: number;
  /** Number of instances (layers). */
  count: number;
  /** each * count. */
  total: number;
  /** Parameters a token uses, all instances together. */
  activated: number;
  /** Part of the MTP modules. */
  mtp: boolean;
}

export interface ParamCounts {
  /** Main model (embedding, layers, norm, head), without MTP. */
  total: number;
  /** Main model's activated parameters per token (embedding excluded). */
  activated: number;
  /** As `activated` but counting the embedding row too. */
  activatedWithEmbedding: number;
  /** Unique parameters of the MTP modules (their embedding and head are shared, so not counted). */
  mtpTotal: number;
  /** Activated parameters per token of the MTP modules, plus the shared head once per module. */
  mtpActivated: number;
  totalWithMtp: number;
  activatedWithMtp: number;
  embedding: number;
  head: number;
  rows: ParamRow[];
}

function shape(...dims: number[]): string {
  return `[${dims.join(", ")}]`;
}

interface Part {
  name: string;
  n: number;
  detail: string;
}

function linear(name: string, out: number, inp: number): Part {
  return { name, n: out * inp, detail: `${name} ${shape(out, inp)}` };
}

function norm(name: string, d: number): Part {
  return { name, n: d, detail: `${name} ${shape(d)}` };
}

function sum(parts: Part[]): { n: number; detail: string } {
  return { n: parts.reduce((s, p) => s + p.n, 0), detail: parts.map((p) => p.detail).join(", ") };
}

/** Parameters of one MLA attention (with its attn_norm). */
export function attentionParts(a: ModelArgs): Part[] {
  const qk = a.qk_nope_head_dim + a.qk_rope_head_dim;
  const parts: Part[] = [norm("attn_norm", a.dim)];
  if (a.q_lora_rank === 0) parts.push(linear("wq", a.n_heads * qk, a.dim));
  else
    parts.push(
      linear("wq_a", a.q_lora_rank, a.dim),
      norm("q_norm", a.q_lora_rank),
      linear("wq_b", a.n_heads * qk, a.q_lora_rank),
    );
  parts.push(
    linear("wkv_a", a.kv_lora_rank + a.qk_rope_head_dim, a.dim),
    norm("kv_norm", a.kv_lora_rank),
    linear("wkv_b", a.n_heads * (a.qk_nope_head_dim + a.v_head_dim), a.kv_lora_rank),
    linear("wo", a.dim, a.n_heads * a.v_head_dim),
  );
  return parts;
}

function swiglu(d: number, inter: number): Part[] {
  return [linear("w1", inter, d), linear("w2", d, inter), linear("w3", inter, d)];
}

/** Counts parameters of a config without allocating anything. */
export function countParams(
  a: ModelArgs,
  s: Pick<MoelabSettings, "mtp_depth" | "routing">,
): ParamCounts {
  const rows: ParamRow[] = [];
  const add = (
    module: string,
    parts: Part[],
    count: number,
    activeFraction: number,
    mtp = false,
  ): void => {
    if (count === 0) return;
    const { n, detail } = sum(parts);
    rows.push({
      module,
      detail,
      each: n,
      count,
      total: n * count,
      activated: n * count * activeFraction,
      mtp,
    });
  };
  let nMoe = 0;
  for (let l = 0; l < a.n_layers; l++) if (!isDenseLayer(a, l)) nMoe++;
  const biased = s.routing === "noaux_tc";
  const blockRows = (prefix: string, dense: number, moe: number, mtp: boolean): void => {
    add(`${prefix}attn (MLA)`, attentionParts(a), dense + moe, 1, mtp);
    add(
      `${prefix}ffn (dense MLP)`,
      [norm("ffn_norm", a.dim), ...swiglu(a.dim, a.inter_dim)],
      dense,
      1,
      mtp,
    );
    if (moe > 0) {
      add(`${prefix}moe.ffn_norm`, [norm("ffn_norm", a.dim)], moe, 1, mtp);
      const gate = [linear("gate.weight", a.n_routed_experts, a.dim)];
      if (biased) gate.push(norm("gate.bias", a.n_routed_experts));
      add(`${prefix}moe.gate`, gate, moe, 1, mtp);
      if (a.n_shared_experts > 0)
        add(
          `${prefix}moe.shared_experts`,
          swiglu(a.dim, a.n_shared_experts * a.moe_inter_dim),
          moe,
          1,
          mtp,
        );
      const expert = sum(swiglu(a.dim, a.moe_inter_dim));
      add(
        `${prefix}moe.experts (routed)`,
        [
          {
            name: "experts",
            n: expert.n * a.n_routed_experts,
            detail: `${a.n_routed_experts} x (${expert.detail})`,
          },
        ],
        moe,
        a.n_activated_experts / a.n_routed_experts,
        mtp,
      );
    }
  };
  add("embed", [linear("embed", a.vocab_size, a.dim)], 1, 0);
  blockRows("", a.n_layers - nMoe, nMoe, false);
  add("norm", [norm("norm", a.dim)], 1, 1);
  add("head", [linear("head", a.vocab_size, a.dim)], 1, 1);
  const D = s.mtp_depth;
  if (D > 0) {
    add(
      "mtp.proj",
      [
        norm("enorm", a.dim),
        norm("hnorm", a.dim),
        linear("eh_proj", a.dim, 2 * a.dim),
        norm("shared_head.norm", a.dim),
      ],
      D,
      1,
      true,
    );
    let dense = 0;
    for (let k = 0; k < D; k++) if (isDenseLayer(a, a.n_layers + k)) dense++;
    blockRows("mtp.", dense, D - dense, true);
  }
  const main = rows.filter((r) => !r.mtp);
  const mtp = rows.filter((r) => r.mtp);
  const total = main.reduce((t, r) => t + r.total, 0);
  const activated = Math.round(main.reduce((t, r) => t + r.activated, 0));
  const embedding = a.vocab_size * a.dim;
  const head = a.vocab_size * a.dim;
  const mtpTotal = mtp.reduce((t, r) => t + r.total, 0);
  const mtpActivated = Math.round(mtp.reduce((t, r) => t + r.activated, 0)) + D * head;
  return {
    total,
    activated,
    activatedWithEmbedding: activated + embedding,
    mtpTotal,
    mtpActivated,
    totalWithMtp: total + mtpTotal,
    activatedWithMtp: activated + mtpActivated,
    embedding,
    head,
    rows,
  };
}

/** 671026522112 -> "671.03B"; 1234567 -> "1.23M". */
export function humanCount(n: number): string {
  const units: [number, string][] = [
    [1e12, "T"],
    [1e9, "B"],
    [1e6, "M"],
    [1e3, "K"],
  ];
  for (const [v, u] of units) if (Math.abs(n) >= v) return `${(n / v).toFixed(2)}${u}`;
  return String(n);
}

function pad(s: string, w: number, right = false): string {
  return right ? s.padStart(w) : s.padEnd(w);
}

/** The breakdown as a plain-text table. */
export function paramTable(c: ParamCounts): string {
  const head = ["module", "each", "x", "total", "activated"];
  const body = c.rows.map((r) => [
    r.module,
    humanCount(r.each),
    String(r.count),
    humanCount(r.total),
    humanCount(r.activated),
  ]);
  body.push(["total (main)", "", "", humanCount(c.total), humanCount(c.activated)]);
  if (c.mtpTotal > 0) {
    body.push([
      "MTP (unique; + shared head)",
      "",
      "",
      humanCount(c.mtpTotal),
      humanCount(c.mtpActivated),
    ]);
    body.push([
      "total with MTP",
      "",
      "",
      humanCount(c.totalWithMtp),
      humanCount(c.activatedWithMtp),
    ]);
  }
  const w = head.map((_, i) => Math.max(head[i].length, ...body.map((r) => r[i].length)));
  const line = (r: string[]): string => r.map((x, i) => pad(x, w[i], i > 0)).join("  ");
  return [line(head), w.map((x) => "-".repeat(x)).join("  "), ...body.map(line)].join("\n");
}

/** KV-cache elements per token and layer: MLA's latent cache against what other attentions store. */
export interface KvCacheSizes {
  /** MLA (absorb path): kv_norm(c_kv) and the rotated k_pe, kv_lora_rank + qk_rope_head_dim. */
  mla: number;
  /** MLA's naive path: full keys and values per head, n_heads * (qk_nope + qk_rope + v_head_dim). */
  naive: number;
  /** Multi-head attention with head size d_h = v_head_dim: 2 * n_heads * d_h (DeepSeek-V2, Table 1). */
  mha: number;
  /** Grouped-query attention with `groups` KV heads: 2 * groups * d_h. */
  gqa: number;
  /** Multi-query attention: 2 * d_h. */
  mqa: number;
  /** The KV groups used for `gqa`. */
  groups: number;
}

/** KV-cache sizes per token and layer (multiply by layers, tokens and bytes per element). */
export function kvCacheSizes(a: ModelArgs, groups = 8): KvCacheSizes {
  const g = Math.max(1, Math.min(groups, a.n_heads));
  const dh = a.v_head_dim;
  return {
    mla: a.kv_lora_rank + a.qk_rope_head_dim,
    naive: a.n_heads * (a.qk_nope_head_dim + a.qk_rope_head_dim + a.v_head_dim),
    mha: 2 * a.n_heads * dh,
    gqa: 2 * g * dh,
    mqa: 2 * dh,
    groups: g,
  };
}
