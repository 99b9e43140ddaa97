/**
 * moelab's model configuration, without tensors: DeepSeek's ModelArgs (its field names and
 * defaults), moelab's own settings, parsing and validation, presets and parameter counts.
 */
export {
  MODEL_ARGS_DEFAULTS,
  MODEL_ARGS_FIELDS,
  isDenseLayer,
  softmaxScale,
  yarnActive,
} from "./args.js";
export type { ModelArgs } from "./args.js";
export {
  MOELAB_SETTINGS_DEFAULTS,
  MOELAB_SETTINGS_FIELDS,
  settingsForDeepSeek,
} from "./settings.js";
export type { MoelabSettings } from "./settings.js";
export {
  ConfigError,
  modelArgs,
  modelArgsToJSON,
  moelabSettingsToJSON,
  parseModelArgs,
  parseMoelabSettings,
  validateConfig,
  validateModelArgs,
  validateMoelabSettings,
} from "./parse.js";
export type { ParseOptions, UnknownKeys } from "./parse.js";
export { countParams, humanCount, kvCacheSizes, paramTable } from "./params.js";
export type { KvCacheSizes, ParamCounts, ParamRow } from "./params.js";
export { ModelConfig, PRESET_NAMES, preset, presets, resolveConfig } from "./presets.js";
export type { ConfigFields, PresetName } from "./presets.js";
