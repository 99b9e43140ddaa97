/** moelab's model configs: DeepSeek ModelArgs, moelab settings, presets and parameter counts. */
export {
  ConfigError,
  MODEL_ARGS_DEFAULTS,
  MODEL_ARGS_FIELDS,
  MOELAB_SETTINGS_DEFAULTS,
  MOELAB_SETTINGS_FIELDS,
  isDenseLayer,
  modelArgs,
  modelArgsToJSON,
  moelabSettingsToJSON,
  parseModelArgs,
  parseMoelabSettings,
  settingsForDeepSeek,
  softmaxScale,
  validateConfig,
  validateModelArgs,
  validateMoelabSettings,
  yarnActive,
} from "./config.js";
export type { ModelArgs, MoelabSettings, ParseOptions, UnknownKeys } from "./config.js";
export { countParams, humanCount, kvCacheSizes, paramTable } from "./params.js";
export type { KvCacheSizes, ParamCounts, ParamRow } from "./params.js";
export { ModelConfig, PRESET_NAMES, preset, presets, resolveConfig } from "./presets.js";
export type { ConfigFields, PresetName } from "./presets.js";
export { ActivationCache, Transformer } from "./transformer.js";
export type { CreateOptions, ForwardOptions, LossOptions, Tokens } from "./transformer.js";
export { generate, generateSpeculative, sampleToken } from "./generate.js";
export type {
  GenerateOptions,
  GenerateResult,
  SpeculativeOptions,
  SpeculativeResult,
} from "./generate.js";
