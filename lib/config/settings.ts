/**
 * moelab's own settings, which DeepSeek's ModelArgs has no field for (saved as moelab.json beside
 * config.json): MTP depth, initialisation, routing, balancing speed, precision, seed.
 */
import type { ModelArgs } from "./args.js";

/** moelab's own settings, which DeepSeek's ModelArgs has no field for (saved as moelab.json). */
export interface MoelabSettings {
  /** Number of MTP modules D (0: none). DeepSeek-V3 uses 1. */
  mtp_depth: number;
  /** Standard deviation of the normal initialisation of Linear and embedding weights. */
  init_std: number;
  /**
   * "noaux_tc": auxiliary-loss-free balancing (a per-expert bias added to the scores for selection
   * only, updated after each step; group score = sum of the top-2 biased scores), as V3.
   * "plain": no bias (group score = max score), as DeepSeek-V2.
   */
  routing: "noaux_tc" | "plain";
  /** Bias update speed u (gamma) of auxiliary-loss-free balancing: b_i += u * sign(mean load - load_i). */
  bias_update_speed: number;
  /** GEMM precision of the Linear layers in moelab: fp32 (reference), bf16 inputs, or the FP8 recipe. */
  precision: "fp32" | "bf16" | "fp8";
  /** Seed of weight initialisation. */
  seed: number;
}

export const MOELAB_SETTINGS_DEFAULTS: Readonly<MoelabSettings> = Object.freeze({
  mtp_depth: 1,
  init_std: 0.02,
  routing: "noaux_tc",
  bias_update_speed: 0.001,
  precision: "fp32",
  seed: 0,
} as MoelabSettings);

export const MOELAB_SETTINGS_FIELDS: readonly (keyof MoelabSettings)[] = Object.freeze(
  Object.keys(MOELAB_SETTINGS_DEFAULTS) as (keyof MoelabSettings)[],
);

/** Settings for a DeepSeek config read without a moelab.json: what DeepSeek's reference would do. */
export function settingsForDeepSeek(a: ModelArgs): MoelabSettings {
  // The reference creates the gate bias only for dim 7168 (V3), and has no MTP module.
  return {
    ...MOELAB_SETTINGS_DEFAULTS,
    mtp_depth: 0,
    init_std: 0.006,
    routing: a.dim === 7168 ? "noaux_tc" : "plain",
    precision: "fp32",
  };
}
