/**
 * Checkpoint tensor names: DeepSeek's reference layout (what inference/model.py's state dict holds,
 * as written to model0-mp1.safetensors by its convert.py) and Hugging Face's (DeepSeek's released
 * checkpoints), the list of every tensor a config expects with its shape, and the mapping both ways.
 *
 * MTP module k (0-based) is layer n_layers + k in both layouts (README_WEIGHTS). It holds enorm,
 * hnorm, eh_proj [dim, 2*dim] (input [enorm(emb) ; hnorm(h)], embedding first), its own output norm
 * shared_head.norm, and a full block. Its embedding and head are the main model's; the HF layout
 * stores copies (model.layers.{n+k}.embed_tokens.weight, .shared_head.head.weight) as DeepSeek's
 * release does, the reference layout does not.
 *
 * FP8 (ModelArgs.dtype "fp8"): every Linear of attention and FFN (experts included) is stored as
 * F8_E4M3 with an F32 block-scale multiplier [ceil(out/128), ceil(in/128)] named `<module>.scale`
 * in the reference layout and `<module>.weight_scale_inv` in HF's. Embedding, norms, gate, head and
 * eh_proj stay in high precision.
 */
import { isDenseLayer, type ModelArgs, type MoelabSettings } from "../config/index.js";
import type { Dtype } from "./safetensors.js";

export type Layout = "deepseek" | "hf";

/** Thrown for a name that is not part of the layout, or a checkpoint that does not fit a config. */
export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CheckpointError";
  }
}

export interface ExpectedTensor {
  name: string;
  shape: number[];
  /** "weight" (Linear/embedding), "norm" (RMSNorm weight), "bias" (gate bias), "scale" (FP8 block scale). */
  kind: "weight" | "norm" | "bias" | "scale";
  /** Stored as F8_E4M3 with a companion scale tensor. */
  fp8: boolean;
  /** For HF's duplicated MTP embedding/head: the main tensor it must equal. */
  tiedTo?: string;
}

/** The block scale shape of an FP8 weight [out, in]: 128x128 blocks, partial blocks rounded up. */
export function scaleShape(out: number, inp: number, block = 128): [number, number] {
  return [Math.ceil(out / block), Math.ceil(inp / block)];
}

/** Every tensor of a config in the reference (DeepSeek) layout, in model order. */
export function expectedTensorsDeepSeek(
  a: ModelArgs,
  s: Pick<MoelabSettings, "mtp_depth" | "routing">,
): ExpectedTensor[] {
  const out: ExpectedTensor[] = [];
  const fp8 = a.dtype === "fp8";
  const lin = (name: string, o: number, i: number, quantised = true): void => {
    const q = fp8 && quantised;
    out.push({ name: `${name}.weight`, shape: [o, i], kind: "weight", fp8: q });
    if (q) out.push({ name: `${name}.scale`, shape: scaleShape(o, i), kind: "scale", fp8: false });
  };
  const norm = (name: string, d: number): void => {
    out.push({ name: `${name}.weight`, shape: [d], kind: "norm", fp8: false });
  };
  const mlp = (p: string, inter: number): void => {
    lin(`${p}.w1`, inter, a.dim);
    lin(`${p}.w2`, a.dim, inter);
    lin(`${p}.w3`, inter, a.dim);
  };
  const qk = a.qk_nope_head_dim + a.qk_rope_head_dim;
  const block = (L: number): void => {
    const p = `layers.${L}`;
    norm(`${p}.attn_norm`, a.dim);
    if (a.q_lora_rank === 0) lin(`${p}.attn.wq`, a.n_heads * qk, a.dim);
    else {
      lin(`${p}.attn.wq_a`, a.q_lora_rank, a.dim);
      norm(`${p}.attn.q_norm`, a.q_lora_rank);
      lin(`${p}.attn.wq_b`, a.n_heads * qk, a.q_lora_rank);
    }
    lin(`${p}.attn.wkv_a`, a.kv_lora_rank + a.qk_rope_head_dim, a.dim);
    norm(`${p}.attn.kv_norm`, a.kv_lora_rank);
    lin(`${p}.attn.wkv_b`, a.n_heads * (a.qk_nope_head_dim + a.v_head_dim), a.kv_lora_rank);
    lin(`${p}.attn.wo`, a.dim, a.n_heads * a.v_head_dim);
    norm(`${p}.ffn_norm`, a.dim);
    if (isDenseLayer(a, L)) mlp(`${p}.ffn`, a.inter_dim);
    else {
      lin(`${p}.ffn.gate`, a.n_routed_experts, a.dim, false);
      if (s.routing === "noaux_tc")
        out.push({
          name: `${p}.ffn.gate.bias`,
          shape: [a.n_routed_experts],
          kind: "bias",
          fp8: false,
        });
      for (let e = 0; e < a.n_routed_experts; e++) mlp(`${p}.ffn.experts.${e}`, a.moe_inter_dim);
      mlp(`${p}.ffn.shared_experts`, a.n_shared_experts * a.moe_inter_dim);
    }
  };
  out.push({ name: "embed.weight", shape: [a.vocab_size, a.dim], kind: "weight", fp8: false });
  for (let L = 0; L < a.n_layers; L++) block(L);
  for (let k = 0; k < s.mtp_depth; k++) {
    const L = a.n_layers + k;
    norm(`layers.${L}.enorm`, a.dim);
    norm(`layers.${L}.hnorm`, a.dim);
    lin(`layers.${L}.eh_proj`, a.dim, 2 * a.dim, false);
    block(L);
    norm(`layers.${L}.shared_head.norm`, a.dim);
  }
  norm("norm", a.dim);
  lin("head", a.vocab_size, a.dim, false);
  return out;
}

/** Every tensor of a config in the chosen layout. */
export function expectedTensors(
  a: ModelArgs,
  s: Pick<MoelabSettings, "mtp_depth" | "routing">,
  layout: Layout = "deepseek",
): ExpectedTensor[] {
  const ds = expectedTensorsDeepSeek(a, s);
  if (layout === "deepseek") return ds;
  const out = ds.map((t) => ({ ...t, name: toHFName(t.name, a) }));
  for (let k = 0; k < s.mtp_depth; k++) {
    const L = a.n_layers + k;
    out.push({
      name: `model.layers.${L}.embed_tokens.weight`,
      shape: [a.vocab_size, a.dim],
      kind: "weight",
      fp8: false,
      tiedTo: "model.embed_tokens.weight",
    });
    out.push({
      name: `model.layers.${L}.shared_head.head.weight`,
      shape: [a.vocab_size, a.dim],
      kind: "weight",
      fp8: false,
      tiedTo: "lm_head.weight",
    });
  }
  return out;
}

/** Module renames of convert.py (HF -> reference), and the HF names MTP and MoE add. */
const ATTN: Record<string, string> = {
  wq: "q_proj",
  wq_a: "q_a_proj",
  q_norm: "q_a_layernorm",
  wq_b: "q_b_proj",
  wkv_a: "kv_a_proj_with_mqa",
  kv_norm: "kv_a_layernorm",
  wkv_b: "kv_b_proj",
  wo: "o_proj",
};
const FFN: Record<string, string> = { w1: "gate_proj", w2: "down_proj", w3: "up_proj" };
const PARAM: Record<string, string> = { weight: "weight", scale: "weight_scale_inv" };
const MTP_OWN = new Set([
  "enorm.weight",
  "hnorm.weight",
  "eh_proj.weight",
  "shared_head.norm.weight",
]);

function invert(m: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [v, k]));
}
const ATTN_INV = invert(ATTN);
const FFN_INV = invert(FFN);
const PARAM_INV = invert(PARAM);

function has(m: Record<string, string>, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(m, k);
}

function unknownName(name: string, layout: Layout): never {
  throw new CheckpointError(
    `"${name}" is not a tensor name of the ${layout === "hf" ? "Hugging Face" : "DeepSeek reference"} layout`,
  );
}

/** Maps a layer-local FFN suffix (after "ffn." / "mlp."), with m the module map and p the param map. */
function mapFfn(
  rest: string,
  mod: Record<string, string>,
  par: Record<string, string>,
  toHf: boolean,
): string | null {
  const parts = rest.split(".");
  let prefix = "";
  if (parts[0] === "experts" && parts.length === 4 && /^\d+$/.test(parts[1])) {
    prefix = `experts.${parts[1]}.`;
    parts.splice(0, 2);
  } else if (parts[0] === "shared_experts" && parts.length === 3) {
    prefix = "shared_experts.";
    parts.splice(0, 1);
  } else if (parts[0] === "gate" && parts.length === 2) {
    if (parts[1] === "weight") return "gate.weight";
    if (toHf && parts[1] === "bias") return "gate.e_score_correction_bias";
    if (!toHf && parts[1] === "e_score_correction_bias") return "gate.bias";
    return null;
  }
  if (parts.length !== 2 || !has(mod, parts[0]) || !has(par, parts[1])) return null;
  return `${prefix}${mod[parts[0]]}.${par[parts[1]]}`;
}

/** Reference name -> HF name (the inverse of convert.py's renaming). */
export function toHFName(name: string, a?: Pick<ModelArgs, "n_layers">): string {
  if (name === "embed.weight") return "model.embed_tokens.weight";
  if (name === "norm.weight") return "model.norm.weight";
  if (name === "head.weight") return "lm_head.weight";
  const m = /^layers\.(\d+)\.(.+)$/.exec(name);
  if (!m) unknownName(name, "deepseek");
  const [, L, rest] = m;
  const p = `model.layers.${L}.`;
  if (rest === "attn_norm.weight") return `${p}input_layernorm.weight`;
  if (rest === "ffn_norm.weight") return `${p}post_attention_layernorm.weight`;
  if (MTP_OWN.has(rest)) {
    if (a && Number(L) < a.n_layers) unknownName(name, "deepseek");
    return p + rest;
  }
  const parts = rest.split(".");
  if (parts[0] === "attn" && parts.length === 3 && has(ATTN, parts[1])) {
    const isNorm = parts[1] === "q_norm" || parts[1] === "kv_norm";
    if (isNorm ? parts[2] === "weight" : has(PARAM, parts[2]))
      return `${p}self_attn.${ATTN[parts[1]]}.${PARAM[parts[2]]}`;
  }
  if (parts[0] === "ffn") {
    const r = mapFfn(parts.slice(1).join("."), FFN, PARAM, true);
    if (r) return `${p}mlp.${r}`;
  }
  return unknownName(name, "deepseek");
}

/**
 * HF name -> reference name; null for HF's duplicated MTP embedding/head copies (tied to the main
 * model's), which the reference layout does not store.
 */
export function fromHFName(name: string, a?: Pick<ModelArgs, "n_layers">): string | null {
  if (name === "model.embed_tokens.weight") return "embed.weight";
  if (name === "model.norm.weight") return "norm.weight";
  if (name === "lm_head.weight") return "head.weight";
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
  if (!m) unknownName(name, "hf");
  const [, L, rest] = m;
  const p = `layers.${L}.`;
  const mtpLayer = !a || Number(L) >= a.n_layers;
  if (rest === "input_layernorm.weight") return `${p}attn_norm.weight`;
  if (rest === "post_attention_layernorm.weight") return `${p}ffn_norm.weight`;
  if (mtpLayer && MTP_OWN.has(rest)) return p + rest;
  if (mtpLayer && (rest === "embed_tokens.weight" || rest === "shared_head.head.weight"))
    return null;
  const parts = rest.split(".");
  if (parts[0] === "self_attn" && parts.length === 3 && has(ATTN_INV, parts[1])) {
    const mod = ATTN_INV[parts[1]];
    const isNorm = mod === "q_norm" || mod === "kv_norm";
    if (isNorm ? parts[2] === "weight" : has(PARAM_INV, parts[2]))
      return `${p}attn.${mod}.${PARAM_INV[parts[2]]}`;
  }
  if (parts[0] === "mlp") {
    const r = mapFfn(parts.slice(1).join("."), FFN_INV, PARAM_INV, false);
    if (r) return `${p}ffn.${r}`;
  }
  return unknownName(name, "hf");
}

/** What a checkpoint holds for one tensor. */
export interface FoundTensor {
  dtype: Dtype;
  shape: readonly number[];
}

export interface TensorCheck {
  missing: string[];
  extra: string[];
  misshaped: { name: string; expected: number[]; actual: number[] }[];
  wrongDtype: { name: string; expected: string; actual: Dtype }[];
}

const FLOAT: readonly Dtype[] = ["F32", "BF16", "F16", "F64"];

/** Which dtypes a tensor may be stored in. */
export function allowedDtypes(t: ExpectedTensor): readonly Dtype[] {
  if (t.fp8) return ["F8_E4M3"];
  if (t.kind === "scale") return ["F32"];
  return FLOAT;
}

/** Compares a checkpoint's tensors with those a config expects. */
export function checkTensors(
  expected: readonly ExpectedTensor[],
  found: ReadonlyMap<string, FoundTensor>,
): TensorCheck {
  const want = new Map(expected.map((t) => [t.name, t]));
  const r: TensorCheck = { missing: [], extra: [], misshaped: [], wrongDtype: [] };
  for (const t of expected) {
    const f = found.get(t.name);
    if (!f) {
      r.missing.push(t.name);
      continue;
    }
    if (f.shape.length !== t.shape.length || f.shape.some((d, i) => d !== t.shape[i]))
      r.misshaped.push({ name: t.name, expected: [...t.shape], actual: [...f.shape] });
    const ok = allowedDtypes(t);
    if (!ok.includes(f.dtype))
      r.wrongDtype.push({ name: t.name, expected: ok.join(" | "), actual: f.dtype });
  }
  for (const name of found.keys()) if (!want.has(name)) r.extra.push(name);
  return r;
}

/** Throws one CheckpointError listing every missing, extra, mis-shaped or mis-typed tensor by name. */
export function assertTensors(
  expected: readonly ExpectedTensor[],
  found: ReadonlyMap<string, FoundTensor>,
  where = "checkpoint",
  /** How a tensor is named in the file (e.g. its HF name), for the messages. */
  fileName: (name: string) => string = (n) => n,
): void {
  const r0 = checkTensors(expected, found);
  const r = {
    missing: r0.missing.map(fileName),
    extra: r0.extra.map(fileName),
    misshaped: r0.misshaped.map((m) => ({ ...m, name: fileName(m.name) })),
    wrongDtype: r0.wrongDtype.map((m) => ({ ...m, name: fileName(m.name) })),
  };
  const lines: string[] = [];
  const list = (title: string, items: string[]): void => {
    if (items.length === 0) return;
    const shown = items.slice(0, 20).map((x) => `  ${x}`);
    if (items.length > 20) shown.push(`  ... and ${items.length - 20} more`);
    lines.push(`${title} (${items.length}):`, ...shown);
  };
  list("missing tensors", r.missing);
  list("unexpected tensors", r.extra);
  list(
    "tensors with the wrong shape",
    r.misshaped.map(
      (m) => `${m.name}: expected [${m.expected.join(", ")}], found [${m.actual.join(", ")}]`,
    ),
  );
  list(
    "tensors with the wrong dtype",
    r.wrongDtype.map((m) => `${m.name}: expected ${m.expected}, found ${m.actual}`),
  );
  if (lines.length > 0)
    throw new CheckpointError(`${where} does not match the config:\n${lines.join("\n")}`);
}
