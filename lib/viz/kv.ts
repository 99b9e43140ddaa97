/**
 * KV-cache elements per token (all layers) for MLA against MHA, GQA and MQA of the same heads,
 * for a model's own config and DeepSeek's V2-Lite, V2 and V3 (lib/config's kvCacheSizes).
 */
import { kvCacheSizes, presets, type ModelArgs, type ModelConfig } from "../config/index.js";
import { Figure, type PlotlyTrace } from "./figure.js";
import { num } from "./panels.js";

const METHODS = [
  ["mla", "MLA (c_kv + k_pe)"],
  ["mha", "MHA"],
  ["gqa", "GQA"],
  ["mqa", "MQA"],
] as const;

export interface KvRow {
  name: string;
  layers: number;
  /** Elements per token over all layers, per method; `groups` is GQA's KV head count. */
  mla: number;
  mha: number;
  gqa: number;
  mqa: number;
  groups: number;
}

/** The per-token cache sizes of a config (all main layers). */
export function kvRow(name: string, a: ModelArgs, groups = 8): KvRow {
  const s = kvCacheSizes(a, groups);
  const n = a.n_layers;
  return {
    name,
    layers: n,
    mla: s.mla * n,
    mha: s.mha * n,
    gqa: s.gqa * n,
    mqa: s.mqa * n,
    groups: s.groups,
  };
}

/**
 * Grouped bars: configs on x, one bar per attention kind. `model` (a Transformer, ModelConfig or
 * ModelArgs) adds its own config before DeepSeek's.
 */
export function kvCacheFigure(
  model?: { config: ModelConfig } | ModelConfig | ModelArgs,
  opts: { groups?: number } = {},
): Figure {
  const rows: KvRow[] = [];
  if (model) {
    const cfg = "config" in model ? model.config : model;
    const args = "args" in cfg ? cfg.args : (cfg as ModelArgs);
    const name = "args" in cfg && cfg.name ? `this model ("${cfg.name}")` : "this model";
    rows.push(kvRow(name, args, opts.groups));
  }
  for (const [p, label] of [
    ["16B", "DeepSeek-V2-Lite"],
    ["236B", "DeepSeek-V2"],
    ["671B", "DeepSeek-V3"],
  ] as const)
    rows.push(kvRow(label, presets[p].args, opts.groups));
  const data: PlotlyTrace[] = METHODS.map(([k, label]) => ({
    type: "bar",
    name: label,
    x: rows.map((r) => r.name),
    y: rows.map((r) => r[k]),
  }));
  const lines = [
    "KV-cache elements per token (all layers; multiply by bytes per element):",
    ...rows.map(
      (r) =>
        `  ${r.name} (${r.layers} layers): MLA ${r.mla.toLocaleString("en-US")}, MHA ${r.mha.toLocaleString("en-US")}, GQA-${r.groups} ${r.gqa.toLocaleString("en-US")}, MQA ${r.mqa.toLocaleString("en-US")}; MLA is ${num((100 * r.mla) / r.mha, 3)}% of MHA`,
    ),
  ];
  return new Figure(
    {
      data,
      layout: {
        title: { text: "KV cache per token: MLA vs MHA, GQA, MQA" },
        barmode: "group",
        xaxis: { title: { text: "config" }, type: "category" },
        yaxis: { title: { text: "elements per token" } },
      },
    },
    lines.join("\n"),
  );
}
