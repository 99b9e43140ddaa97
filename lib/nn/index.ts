/** moelab's layers: Module base, Linear, RMSNorm, Embedding, MLP, RoPE/YaRN, MLA, Gate, MoE, Block, MTP. */
export { Module, ModelContext, ModuleList } from "./module.js";
export type { GradHookFn, HookFn, ParameterInfo, RouteEvent } from "./module.js";
export { Init, Linear, RMSNorm, Embedding, MLP } from "./layers.js";
export { RopeTables, ropeFrequencies } from "./rope.js";
export { MLA } from "./attention.js";
export type { AttnInputs } from "./attention.js";
export { LatentKV } from "./latent-kv.js";
export { Gate, MoE } from "./moe.js";
export { routeTokens, routeTokensJs, topkRow } from "./router.js";
export type { RouteArgs } from "./router.js";
export { Block, MTPModule, SharedHead } from "./block.js";
