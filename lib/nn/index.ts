/** moelab's layers: Module base, Linear, RMSNorm, Embedding, MLP, RoPE/YaRN, MLA, Gate, MoE, Block, MTP. */
export { Module, ModelContext } from "./module.js";
export type { HookFn, ParameterInfo } from "./module.js";
export { Init, Linear, RMSNorm, Embedding, MLP } from "./layers.js";
export { RopeTables, ropeFrequencies } from "./rope.js";
export { MLA } from "./attention.js";
export type { AttnInputs } from "./attention.js";
export { LatentKV } from "./attention.js";
export { Gate, MoE, ModuleList, routeTokens } from "./moe.js";
export { Block, MTPModule, SharedHead } from "./block.js";
