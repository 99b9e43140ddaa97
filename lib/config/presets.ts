/**
 * Named model configs: moelab's `tiny` and `small`, and DeepSeek's 16B (V2-Lite), 236B (V2),
 * 671B (V3) and V3.1 exactly as its inference/configs/*.json. A ModelConfig pairs DeepSeek's
 * ModelArgs with moelab's settings, counts parameters without allocating, and displays itself.
 */
import {
  MODEL_ARGS_DEFAULTS,
  MODEL_ARGS_FIELDS,
  softmaxScale,
  yarnActive,
  type ModelArgs,
} from "./args.js";
import {
  ConfigError,
  modelArgsToJSON,
  moelabSettingsToJSON,
  parseModelArgs,
  parseMoelabSettings,
  validateConfig,
  type ParseOptions,
} from "./parse.js";
import { MOELAB_SETTINGS_FIELDS, settingsForDeepSeek, type MoelabSettings } from "./settings.js";
import { countParams, humanCount, kvCacheSizes, paramTable, type ParamCounts } from "./params.js";

/** A flat object of ModelArgs fields and moelab settings (the names do not overlap). */
export type ConfigFields = Partial<ModelArgs> & Partial<MoelabSettings>;

export type PresetName = "tiny" | "small" | "16B" | "236B" | "671B" | "v3.1";

/** DeepSeek ModelArgs + moelab settings, validated together. Immutable. */
export class ModelConfig {
  readonly args: Readonly<ModelArgs>;
  readonly settings: Readonly<MoelabSettings>;

  constructor(
    args: ModelArgs,
    settings: MoelabSettings,
    readonly name?: string,
  ) {
    validateConfig(args, settings);
    this.args = Object.freeze({ ...args });
    this.settings = Object.freeze({ ...settings });
  }

  /** From a flat object mixing ModelArgs and moelab fields; unknown keys are an error. */
  static from(fields: ConfigFields, opts?: ParseOptions, name?: string): ModelConfig {
    const argPart: Record<string, unknown> = {};
    const setPart: Record<string, unknown> = {};
    const unknown: string[] = [];
    for (const [k, v] of Object.entries(fields)) {
      if ((MODEL_ARGS_FIELDS as readonly string[]).includes(k)) argPart[k] = v;
      else if ((MOELAB_SETTINGS_FIELDS as readonly string[]).includes(k)) setPart[k] = v;
      else unknown.push(k);
    }
    if (unknown.length > 0 && (opts?.unknownKeys ?? "error") === "error")
      throw new ConfigError(
        unknown[0],
        `unknown config key${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => JSON.stringify(k)).join(", ")}; known: ${[...MODEL_ARGS_FIELDS, ...MOELAB_SETTINGS_FIELDS].join(", ")}`,
      );
    if (unknown.length > 0 && opts?.unknownKeys === "warn")
      (opts.onWarning ?? console.warn)(`ignoring unknown config keys ${unknown.join(", ")}`);
    return new ModelConfig(parseModelArgs(argPart), parseMoelabSettings(setPart), name);
  }

  /** From config.json text (DeepSeek's ModelArgs) and optionally moelab.json text. */
  static fromJSON(
    configJson: string | object,
    moelabJson?: string | object,
    opts?: ParseOptions,
  ): ModelConfig {
    const args = parseModelArgs(configJson, opts);
    // Without moelab.json the config is DeepSeek's own: settings as its reference uses them.
    const settings =
      moelabJson === undefined ? settingsForDeepSeek(args) : parseMoelabSettings(moelabJson, opts);
    return new ModelConfig(args, settings);
  }

  /** A copy with some fields changed (ModelArgs or moelab settings). */
  with(fields: ConfigFields): ModelConfig {
    return ModelConfig.from({ ...this.flat(), ...fields }, undefined, this.name);
  }

  /** All fields in one object. */
  flat(): ModelArgs & MoelabSettings {
    return { ...this.args, ...this.settings };
  }

  /** config.json text: exactly DeepSeek's ModelArgs fields. */
  configJson(): string {
    return modelArgsToJSON(this.args);
  }

  /** moelab.json text. */
  moelabJson(): string {
    return moelabSettingsToJSON(this.settings);
  }

  params(): ParamCounts {
    return countParams(this.args, this.settings);
  }

  /** Per-module parameter breakdown as text. */
  paramTable(): string {
    return paramTable(this.params());
  }

  toString(): string {
    const p = this.params();
    const a = this.args;
    const s = this.settings;
    return [
      `ModelConfig${this.name ? ` "${this.name}"` : ""}: ${humanCount(p.total)} params (${humanCount(p.activated)} activated per token)` +
        (s.mtp_depth > 0 ? `, + ${humanCount(p.mtpTotal)} in ${s.mtp_depth} MTP module(s)` : ""),
      `  layers ${a.n_layers} (${a.n_dense_layers} dense), dim ${a.dim}, heads ${a.n_heads}, vocab ${a.vocab_size}, max_seq_len ${a.max_seq_len}`,
      `  MLA: q_lora_rank ${a.q_lora_rank}, kv_lora_rank ${a.kv_lora_rank}, qk nope/rope ${a.qk_nope_head_dim}/${a.qk_rope_head_dim}, v ${a.v_head_dim}` +
        `, softmax scale ${softmaxScale(a).toFixed(6)}${yarnActive(a) ? " (YaRN)" : ""}`,
      `  MoE: ${a.n_routed_experts} routed (${a.n_activated_experts} active) + ${a.n_shared_experts} shared, width ${a.moe_inter_dim}` +
        `, groups ${a.n_expert_groups} (keep ${a.n_limited_groups}), ${a.score_func}, route_scale ${a.route_scale}, routing ${s.routing}`,
      this.kvCacheLine(),
      `  moelab: mtp_depth ${s.mtp_depth}, init_std ${s.init_std}, precision ${s.precision}, seed ${s.seed}, bias_update_speed ${s.bias_update_speed}`,
      "",
      this.paramTable(),
    ].join("\n");
  }

  /** One line comparing MLA's KV cache per token and layer with MHA's and GQA's. */
  kvCacheLine(): string {
    const k = kvCacheSizes(this.args);
    const pct = (x: number): string => `${((100 * k.mla) / x).toFixed(2)}%`;
    return (
      `  KV cache per token and layer: MLA ${k.mla} elements (${pct(k.mha)} of MHA's ${k.mha}, ` +
      `${pct(k.gqa)} of GQA-${k.groups}'s ${k.gqa}; the naive path caches ${k.naive})`
    );
  }

  /** Jupyter display: text/plain and an HTML table of fields and parameter counts. */
  [Symbol.for("Jupyter.display")](): Record<string, unknown> {
    return { "text/plain": this.toString(), "text/html": this.toHTML() };
  }

  toHTML(): string {
    const esc = (x: unknown): string =>
      String(x)
        .replace(/&/g, "&amp;")
        .replace(/</g, "&lt;")
        .replace(/>/g, "&gt;")
        .replace(/"/g, "&quot;");
    const p = this.params();
    const fieldRows = [
      ...MODEL_ARGS_FIELDS.map((f) => [
        f,
        this.args[f],
        this.args[f] === MODEL_ARGS_DEFAULTS[f] ? "" : "set",
        "ModelArgs",
      ]),
      ...MOELAB_SETTINGS_FIELDS.map((f) => [f, this.settings[f], "", "moelab"]),
    ];
    const fields = fieldRows
      .map(
        ([f, v, set, src]) =>
          `<tr><td><code>${esc(f)}</code></td><td${set ? ' style="font-weight:bold"' : ""}>${esc(JSON.stringify(v))}</td><td>${esc(src)}</td></tr>`,
      )
      .join("");
    const rows = p.rows
      .map(
        (r) =>
          `<tr><td>${esc(r.module)}</td><td title="${esc(r.detail)}">${esc(humanCount(r.each))}</td><td>${r.count}</td><td>${esc(humanCount(r.total))}</td><td>${esc(humanCount(r.activated))}</td></tr>`,
      )
      .join("");
    const totals =
      `<tr style="font-weight:bold"><td>total (main)</td><td></td><td></td><td>${esc(humanCount(p.total))}</td><td>${esc(humanCount(p.activated))}</td></tr>` +
      (p.mtpTotal > 0
        ? `<tr><td>MTP (unique; + shared head)</td><td></td><td></td><td>${esc(humanCount(p.mtpTotal))}</td><td>${esc(humanCount(p.mtpActivated))}</td></tr>` +
          `<tr style="font-weight:bold"><td>total with MTP</td><td></td><td></td><td>${esc(humanCount(p.totalWithMtp))}</td><td>${esc(humanCount(p.activatedWithMtp))}</td></tr>`
        : "");
    return (
      `<div class="moelab-config"><b>ModelConfig${this.name ? ` ${esc(this.name)}` : ""}</b>: ${esc(humanCount(p.total))} parameters, ${esc(humanCount(p.activated))} activated per token` +
      `<br><small>${esc(this.kvCacheLine().trim())}</small>` +
      `<div style="display:flex;gap:2em;align-items:flex-start">` +
      `<table><thead><tr><th>field</th><th>value</th><th>from</th></tr></thead><tbody>${fields}</tbody></table>` +
      `<table><thead><tr><th>module</th><th>each</th><th>x</th><th>total</th><th>activated</th></tr></thead><tbody>${rows}${totals}</tbody></table>` +
      `</div></div>`
    );
  }
}

/** DeepSeek-V3's inference/configs/config_16B.json (DeepSeek-V2-Lite). */
const CONFIG_16B: Partial<ModelArgs> = {
  vocab_size: 102400,
  dim: 2048,
  inter_dim: 10944,
  moe_inter_dim: 1408,
  n_layers: 27,
  n_dense_layers: 1,
  n_heads: 16,
  n_routed_experts: 64,
  n_shared_experts: 2,
  n_activated_experts: 6,
  route_scale: 1.0,
  q_lora_rank: 0,
  kv_lora_rank: 512,
  qk_nope_head_dim: 128,
  qk_rope_head_dim: 64,
  v_head_dim: 128,
  mscale: 0.707,
};

/** config_236B.json (DeepSeek-V2). */
const CONFIG_236B: Partial<ModelArgs> = {
  vocab_size: 102400,
  dim: 5120,
  inter_dim: 12288,
  moe_inter_dim: 1536,
  n_layers: 60,
  n_dense_layers: 1,
  n_heads: 128,
  n_routed_experts: 160,
  n_shared_experts: 2,
  n_activated_experts: 6,
  n_expert_groups: 8,
  n_limited_groups: 3,
  route_scale: 16.0,
  q_lora_rank: 1536,
  kv_lora_rank: 512,
  qk_nope_head_dim: 128,
  qk_rope_head_dim: 64,
  v_head_dim: 128,
};

/** config_671B.json (DeepSeek-V3). */
const CONFIG_671B: Partial<ModelArgs> = {
  vocab_size: 129280,
  dim: 7168,
  inter_dim: 18432,
  moe_inter_dim: 2048,
  n_layers: 61,
  n_dense_layers: 3,
  n_heads: 128,
  n_routed_experts: 256,
  n_shared_experts: 1,
  n_activated_experts: 8,
  n_expert_groups: 8,
  n_limited_groups: 4,
  route_scale: 2.5,
  score_func: "sigmoid",
  q_lora_rank: 1536,
  kv_lora_rank: 512,
  qk_nope_head_dim: 128,
  qk_rope_head_dim: 64,
  v_head_dim: 128,
  dtype: "fp8",
};

/**
 * tiny: byte-level vocabulary (256 bytes + room for special tokens), width 128, 4 layers (1 dense),
 * every V3 mechanism present at toy size (query compression, latent KV, decoupled RoPE, 8 routed
 * experts in 2 groups with 1 kept, top-2 sigmoid routing with bias, a shared expert, one MTP
 * module). About 1.8M parameters, 0.9M activated: a few minutes of training on 2 CPU cores.
 * max_seq_len equals original_seq_len, so YaRN stays off.
 */
const TINY: ConfigFields = {
  max_batch_size: 16,
  max_seq_len: 256,
  vocab_size: 512,
  dim: 128,
  inter_dim: 384,
  moe_inter_dim: 128,
  n_layers: 4,
  n_dense_layers: 1,
  n_heads: 4,
  n_routed_experts: 8,
  n_shared_experts: 1,
  n_activated_experts: 2,
  n_expert_groups: 2,
  n_limited_groups: 1,
  score_func: "sigmoid",
  route_scale: 1.0,
  q_lora_rank: 64,
  kv_lora_rank: 32,
  qk_nope_head_dim: 32,
  qk_rope_head_dim: 16,
  v_head_dim: 32,
  original_seq_len: 256,
  mtp_depth: 1,
  init_std: 0.02,
  routing: "noaux_tc",
  bias_update_speed: 0.001,
  precision: "fp32",
  seed: 0,
};

/** small: width 256, 4 layers, 16 routed experts (top-2 of 4 groups keeping 2); ~6.7M params, ~2.5M activated. */
const SMALL: ConfigFields = {
  max_batch_size: 16,
  max_seq_len: 512,
  vocab_size: 512,
  dim: 256,
  inter_dim: 768,
  moe_inter_dim: 128,
  n_layers: 4,
  n_dense_layers: 1,
  n_heads: 8,
  n_routed_experts: 16,
  n_shared_experts: 1,
  n_activated_experts: 2,
  n_expert_groups: 4,
  n_limited_groups: 2,
  score_func: "sigmoid",
  route_scale: 1.0,
  q_lora_rank: 128,
  kv_lora_rank: 64,
  qk_nope_head_dim: 32,
  qk_rope_head_dim: 16,
  v_head_dim: 32,
  original_seq_len: 512,
  mtp_depth: 1,
  init_std: 0.02,
  routing: "noaux_tc",
  bias_update_speed: 0.001,
  precision: "fp32",
  seed: 0,
};

/**
 * moelab's settings for DeepSeek's own configs (whose ModelArgs are exactly its JSON files).
 * moelab's presets use V3's auxiliary-loss-free routing (the gate bias) at every size, V2 and
 * V2-Lite included, although DeepSeek's reference creates that bias only for its 671B config;
 * configs read from DeepSeek's own JSON files (settingsForDeepSeek) keep the reference's choice.
 */
const DEEPSEEK_SETTINGS: Record<"16B" | "236B" | "671B" | "v3.1", Partial<MoelabSettings>> = {
  "16B": { mtp_depth: 0, init_std: 0.006, routing: "noaux_tc", precision: "bf16" },
  "236B": { mtp_depth: 0, init_std: 0.006, routing: "noaux_tc", precision: "bf16" },
  "671B": { mtp_depth: 1, init_std: 0.006, routing: "noaux_tc", precision: "fp8" },
  "v3.1": { mtp_depth: 1, init_std: 0.006, routing: "noaux_tc", precision: "fp8" },
};

const PRESET_FIELDS: Record<PresetName, ConfigFields> = {
  tiny: TINY,
  small: SMALL,
  "16B": { ...CONFIG_16B, ...DEEPSEEK_SETTINGS["16B"] },
  "236B": { ...CONFIG_236B, ...DEEPSEEK_SETTINGS["236B"] },
  "671B": { ...CONFIG_671B, ...DEEPSEEK_SETTINGS["671B"] },
  "v3.1": { ...CONFIG_671B, scale_fmt: "ue8m0", ...DEEPSEEK_SETTINGS["v3.1"] },
};

export const PRESET_NAMES: readonly PresetName[] = Object.freeze(
  Object.keys(PRESET_FIELDS) as PresetName[],
);

/** The named configs. Each is immutable; use `.with({...})` or `preset(name, overrides)` to vary one. */
export const presets: Readonly<Record<PresetName, ModelConfig>> = Object.freeze(
  Object.fromEntries(
    PRESET_NAMES.map((n) => [n, ModelConfig.from(PRESET_FIELDS[n], undefined, n)]),
  ) as Record<PresetName, ModelConfig>,
);

/** A preset, optionally with some fields changed. */
export function preset(name: PresetName, overrides: ConfigFields = {}): ModelConfig {
  if (!(PRESET_NAMES as readonly string[]).includes(name))
    throw new ConfigError(
      "preset",
      `unknown preset ${JSON.stringify(name)}; known: ${PRESET_NAMES.join(", ")}`,
    );
  return ModelConfig.from({ ...PRESET_FIELDS[name], ...overrides }, undefined, name);
}

/** What `Transformer.create` accepts: a preset name, a ModelConfig, or flat fields. */
export function resolveConfig(
  config: PresetName | ModelConfig | ConfigFields,
  overrides?: ConfigFields,
): ModelConfig {
  if (typeof config === "string") return preset(config, overrides);
  if (config instanceof ModelConfig) return overrides ? config.with(overrides) : config;
  if (config === null || typeof config !== "object")
    throw new ConfigError(
      "config",
      `expected a preset name, a ModelConfig or an object of fields, got ${String(config)}`,
    );
  return ModelConfig.from({ ...config, ...(overrides ?? {}) });
}
