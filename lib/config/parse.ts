/**
 * Parsing and validation of ModelArgs and moelab settings, with errors that name the offending
 * field, and their JSON forms (config.json, moelab.json).
 */
import { MODEL_ARGS_DEFAULTS, MODEL_ARGS_FIELDS, type ModelArgs } from "./args.js";
import {
  MOELAB_SETTINGS_DEFAULTS,
  MOELAB_SETTINGS_FIELDS,
  type MoelabSettings,
} from "./settings.js";

/** Thrown for an invalid or inconsistent config; `field` names the offending field. */
export class ConfigError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`config field "${field}": ${message}`);
    this.name = "ConfigError";
  }
}

type FieldKind = "int" | "number" | { oneOf: readonly (string | null)[] };

const ARG_KINDS: Record<keyof ModelArgs, FieldKind> = {
  max_batch_size: "int",
  max_seq_len: "int",
  dtype: { oneOf: ["bf16", "fp8"] },
  scale_fmt: { oneOf: [null, "ue8m0"] },
  vocab_size: "int",
  dim: "int",
  inter_dim: "int",
  moe_inter_dim: "int",
  n_layers: "int",
  n_dense_layers: "int",
  n_heads: "int",
  n_routed_experts: "int",
  n_shared_experts: "int",
  n_activated_experts: "int",
  n_expert_groups: "int",
  n_limited_groups: "int",
  score_func: { oneOf: ["softmax", "sigmoid"] },
  route_scale: "number",
  q_lora_rank: "int",
  kv_lora_rank: "int",
  qk_nope_head_dim: "int",
  qk_rope_head_dim: "int",
  v_head_dim: "int",
  original_seq_len: "int",
  rope_theta: "number",
  rope_factor: "number",
  beta_fast: "number",
  beta_slow: "number",
  mscale: "number",
};

const SETTING_KINDS: Record<keyof MoelabSettings, FieldKind> = {
  mtp_depth: "int",
  init_std: "number",
  routing: { oneOf: ["noaux_tc", "plain"] },
  bias_update_speed: "number",
  precision: { oneOf: ["fp32", "bf16", "fp8"] },
  seed: "int",
};

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "object") return "an object";
  return `${typeof v} ${String(v)}`;
}

function checkKind(field: string, kind: FieldKind, v: unknown): void {
  if (kind === "int" || kind === "number") {
    if (typeof v !== "number" || !Number.isFinite(v))
      throw new ConfigError(
        field,
        `expected ${kind === "int" ? "an integer" : "a finite number"}, got ${describe(v)}`,
      );
    if (kind === "int" && !Number.isSafeInteger(v))
      throw new ConfigError(field, `expected an integer, got ${v}`);
    return;
  }
  if (!kind.oneOf.includes(v as string | null))
    throw new ConfigError(
      field,
      `expected one of ${kind.oneOf.map((x) => JSON.stringify(x)).join(", ")}, got ${describe(v)}`,
    );
}

/** What to do with keys that are not fields: DeepSeek's `ModelArgs(**json)` raises on them. */
export type UnknownKeys = "error" | "warn" | "ignore";

export interface ParseOptions {
  /** Default "error". */
  unknownKeys?: UnknownKeys;
  /** Receives warnings (default: console.warn). */
  onWarning?: (message: string) => void;
}

function asObject(input: unknown, what: string): Record<string, unknown> {
  let v = input;
  if (typeof v === "string") {
    try {
      v = JSON.parse(v);
    } catch (e) {
      throw new ConfigError("(json)", `${what} is not valid JSON: ${(e as Error).message}`);
    }
  }
  if (v === null || typeof v !== "object" || Array.isArray(v))
    throw new ConfigError("(json)", `${what} must be a JSON object, got ${describe(v)}`);
  return v as Record<string, unknown>;
}

function reportUnknown(
  unknown: string[],
  what: string,
  opts: ParseOptions | undefined,
  known: readonly string[],
): void {
  if (unknown.length === 0) return;
  const mode = opts?.unknownKeys ?? "error";
  if (mode === "ignore") return;
  const msg = `unknown ${what} key${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => JSON.stringify(k)).join(", ")} (known: ${known.join(", ")})`;
  if (mode === "error") throw new ConfigError(unknown[0], msg);
  (opts?.onWarning ?? console.warn)(msg);
}

/** ModelArgs from defaults and the given fields; type-checks each field and validates the whole. */
export function modelArgs(fields: Partial<ModelArgs> = {}, opts?: ParseOptions): ModelArgs {
  return parseModelArgs(fields, opts);
}

/**
 * Reads DeepSeek's config JSON (text or parsed object) as `ModelArgs(**json.load(f))` does: absent
 * fields take their defaults; unknown keys are an error (or a warning, per `opts`); each present
 * field is type-checked, and the whole validated.
 */
export function parseModelArgs(input: unknown, opts?: ParseOptions): ModelArgs {
  const obj = asObject(input, "ModelArgs config");
  const args: ModelArgs = { ...MODEL_ARGS_DEFAULTS };
  const unknown: string[] = [];
  for (const [k, v] of Object.entries(obj)) {
    if (!Object.prototype.hasOwnProperty.call(ARG_KINDS, k)) {
      unknown.push(k);
      continue;
    }
    if (v === undefined) continue;
    checkKind(k, ARG_KINDS[k as keyof ModelArgs], v);
    (args as unknown as Record<string, unknown>)[k] = v;
  }
  reportUnknown(unknown, "ModelArgs", opts, MODEL_ARGS_FIELDS);
  validateModelArgs(args);
  return args;
}

/** moelab.json's settings; absent fields take their defaults. */
export function parseMoelabSettings(input: unknown, opts?: ParseOptions): MoelabSettings {
  const obj = asObject(input, "moelab settings");
  const s: MoelabSettings = { ...MOELAB_SETTINGS_DEFAULTS };
  const unknown: string[] = [];
  for (const [k, v] of Object.entries(obj)) {
    if (!Object.prototype.hasOwnProperty.call(SETTING_KINDS, k)) {
      unknown.push(k);
      continue;
    }
    if (v === undefined) continue;
    checkKind(k, SETTING_KINDS[k as keyof MoelabSettings], v);
    (s as unknown as Record<string, unknown>)[k] = v;
  }
  reportUnknown(unknown, "moelab settings", opts, MOELAB_SETTINGS_FIELDS);
  validateMoelabSettings(s);
  return s;
}

function positive(args: Record<string, unknown>, field: string): void {
  const v = args[field] as number;
  if (!(v > 0)) throw new ConfigError(field, `must be positive, got ${v}`);
}

function nonNegative(args: Record<string, unknown>, field: string): void {
  const v = args[field] as number;
  if (!(v >= 0)) throw new ConfigError(field, `must be >= 0, got ${v}`);
}

/** Throws a ConfigError naming the first field that is out of range or inconsistent. */
export function validateModelArgs(a: ModelArgs): void {
  for (const f of MODEL_ARGS_FIELDS) checkKind(f, ARG_KINDS[f], a[f]);
  const r = a as unknown as Record<string, unknown>;
  for (const f of [
    "max_batch_size",
    "max_seq_len",
    "vocab_size",
    "dim",
    "n_layers",
    "n_heads",
    "kv_lora_rank",
    "qk_nope_head_dim",
    "qk_rope_head_dim",
    "v_head_dim",
    "original_seq_len",
    "n_expert_groups",
    "n_limited_groups",
    "rope_theta",
    "route_scale",
  ])
    positive(r, f);
  for (const f of [
    "n_dense_layers",
    "n_shared_experts",
    "q_lora_rank",
    "inter_dim",
    "moe_inter_dim",
    "n_routed_experts",
    "mscale",
  ])
    nonNegative(r, f);
  if (a.n_dense_layers > a.n_layers)
    throw new ConfigError("n_dense_layers", `${a.n_dense_layers} exceeds n_layers ${a.n_layers}`);
  if (a.n_dense_layers > 0 && a.inter_dim === 0)
    throw new ConfigError(
      "inter_dim",
      `must be positive when there are dense layers (n_dense_layers ${a.n_dense_layers})`,
    );
  if (a.qk_rope_head_dim % 2 !== 0)
    throw new ConfigError(
      "qk_rope_head_dim",
      `must be even (RoPE rotates adjacent pairs), got ${a.qk_rope_head_dim}`,
    );
  if (a.rope_theta <= 1) throw new ConfigError("rope_theta", `must exceed 1, got ${a.rope_theta}`);
  if (a.rope_factor < 1) throw new ConfigError("rope_factor", `must be >= 1, got ${a.rope_factor}`);
  if (!(a.beta_slow > 0))
    throw new ConfigError("beta_slow", `must be positive, got ${a.beta_slow}`);
  if (!(a.beta_fast > a.beta_slow))
    throw new ConfigError(
      "beta_fast",
      `must exceed beta_slow (${a.beta_slow}), got ${a.beta_fast}`,
    );
  if (a.scale_fmt !== null && a.dtype !== "fp8")
    throw new ConfigError(
      "scale_fmt",
      `${JSON.stringify(a.scale_fmt)} only applies with dtype "fp8", got dtype "${a.dtype}"`,
    );
  const moeLayers = a.n_layers - a.n_dense_layers;
  if (moeLayers > 0) {
    if (a.moe_inter_dim === 0)
      throw new ConfigError(
        "moe_inter_dim",
        `must be positive when there are MoE layers (n_layers - n_dense_layers = ${moeLayers})`,
      );
    if (a.n_routed_experts === 0)
      throw new ConfigError(
        "n_routed_experts",
        `must be positive when there are MoE layers (n_layers - n_dense_layers = ${moeLayers})`,
      );
  }
  if (a.n_routed_experts > 0) {
    if (a.n_activated_experts < 1 || a.n_activated_experts > a.n_routed_experts)
      throw new ConfigError(
        "n_activated_experts",
        `must be between 1 and n_routed_experts (${a.n_routed_experts}), got ${a.n_activated_experts}`,
      );
    if (a.n_routed_experts % a.n_expert_groups !== 0)
      throw new ConfigError(
        "n_expert_groups",
        `${a.n_expert_groups} groups do not divide n_routed_experts ${a.n_routed_experts}`,
      );
  }
  if (a.n_limited_groups > a.n_expert_groups)
    throw new ConfigError(
      "n_limited_groups",
      `${a.n_limited_groups} exceeds n_expert_groups ${a.n_expert_groups}`,
    );
  if (a.n_expert_groups > 1 && a.n_routed_experts > 0) {
    const reachable = a.n_limited_groups * (a.n_routed_experts / a.n_expert_groups);
    if (a.n_activated_experts > reachable)
      throw new ConfigError(
        "n_activated_experts",
        `${a.n_activated_experts} exceeds the ${reachable} experts in the n_limited_groups (${a.n_limited_groups}) kept groups of ${a.n_routed_experts / a.n_expert_groups}`,
      );
  }
  if (a.dtype === "fp8") {
    // The reference quantises each FP8 Linear's input in 1x128 tiles and asserts the width divides.
    const inputs: [string, number][] = [
      ["dim", a.dim],
      ["kv_lora_rank", a.kv_lora_rank],
      ["n_heads * v_head_dim", a.n_heads * a.v_head_dim],
    ];
    if (a.q_lora_rank > 0) inputs.push(["q_lora_rank", a.q_lora_rank]);
    if (a.n_dense_layers > 0) inputs.push(["inter_dim", a.inter_dim]);
    if (moeLayers > 0) inputs.push(["moe_inter_dim", a.moe_inter_dim]);
    for (const [f, v] of inputs)
      if (v % 128 !== 0)
        throw new ConfigError(
          f === "n_heads * v_head_dim" ? "v_head_dim" : f,
          `${f} = ${v} must be a multiple of 128 with dtype "fp8" (1x128 activation tiles)`,
        );
  }
  const sizes: [string, number][] = [
    ["n_heads", a.n_heads * (a.qk_nope_head_dim + a.qk_rope_head_dim)],
    ["vocab_size", a.vocab_size * a.dim],
    ["n_routed_experts", a.n_routed_experts * a.moe_inter_dim * a.dim],
  ];
  for (const [f, n] of sizes)
    if (!Number.isSafeInteger(n)) throw new ConfigError(f, `size ${n} is too large to index`);
}

export function validateMoelabSettings(s: MoelabSettings): void {
  for (const f of MOELAB_SETTINGS_FIELDS) checkKind(f, SETTING_KINDS[f], s[f]);
  if (s.mtp_depth < 0) throw new ConfigError("mtp_depth", `must be >= 0, got ${s.mtp_depth}`);
  if (!(s.init_std > 0)) throw new ConfigError("init_std", `must be positive, got ${s.init_std}`);
  if (!(s.bias_update_speed >= 0))
    throw new ConfigError("bias_update_speed", `must be >= 0, got ${s.bias_update_speed}`);
}

/** Checks that ModelArgs and moelab settings fit together. */
export function validateConfig(a: ModelArgs, s: MoelabSettings): void {
  validateModelArgs(a);
  validateMoelabSettings(s);
  if (
    s.routing === "noaux_tc" &&
    a.n_expert_groups > 1 &&
    a.n_routed_experts / a.n_expert_groups < 2
  )
    throw new ConfigError(
      "n_expert_groups",
      `with routing "noaux_tc" a group's score sums its top-2 experts, so each group needs at least 2 experts (${a.n_routed_experts} / ${a.n_expert_groups})`,
    );
  if (s.mtp_depth >= a.max_seq_len)
    throw new ConfigError(
      "mtp_depth",
      `${s.mtp_depth} must be less than max_seq_len ${a.max_seq_len}`,
    );
  // The MTP modules' blocks come after every main layer: MoE whenever there are routed experts,
  // even when all the main layers are dense.
  if (s.mtp_depth > 0 && a.n_routed_experts > 0) {
    if (a.moe_inter_dim === 0)
      throw new ConfigError(
        "moe_inter_dim",
        `must be positive: the ${s.mtp_depth} MTP module(s) have MoE blocks (n_routed_experts ${a.n_routed_experts})`,
      );
    if (a.dtype === "fp8" && a.moe_inter_dim % 128 !== 0)
      throw new ConfigError(
        "moe_inter_dim",
        `moe_inter_dim = ${a.moe_inter_dim} must be a multiple of 128 with dtype "fp8" (the MTP modules' experts; 1x128 activation tiles)`,
      );
  }
  if (s.mtp_depth > 0 && a.n_routed_experts === 0 && a.inter_dim === 0)
    throw new ConfigError(
      "inter_dim",
      `must be positive: the ${s.mtp_depth} MTP module(s) have dense blocks (n_routed_experts 0)`,
    );
}

/** config.json text: exactly the ModelArgs fields, in the reference's order. */
export function modelArgsToJSON(a: ModelArgs): string {
  const o: Record<string, unknown> = {};
  for (const f of MODEL_ARGS_FIELDS) o[f] = a[f];
  return JSON.stringify(o, null, 2) + "\n";
}

export function moelabSettingsToJSON(s: MoelabSettings): string {
  const o: Record<string, unknown> = {};
  for (const f of MOELAB_SETTINGS_FIELDS) o[f] = s[f];
  return JSON.stringify(o, null, 2) + "\n";
}
