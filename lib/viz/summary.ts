/**
 * The model summary: every module kind with its tensors' shapes and parameter counts, total vs
 * activated per token (a table and a figure), for a Transformer, a config or a preset name.
 */
import {
  ModelConfig,
  countParams,
  humanCount,
  paramTable,
  resolveConfig,
  type ConfigFields,
  type ParamCounts,
  type PresetName,
} from "../config/index.js";
import { Transformer } from "../model/index.js";
import { escapeHtml } from "../tensor/index.js";
import { Figure, type MimeBundle } from "./figure.js";

export class ModelSummary {
  readonly counts: ParamCounts;
  readonly figure: Figure;
  /** Parameters allocated by the model itself (null for a config): checks the count. */
  readonly allocated: number | null;

  constructor(
    readonly config: ModelConfig,
    model: Transformer | null = null,
  ) {
    this.counts = countParams(config.args, config.settings);
    this.allocated = model ? model.numParams() : null;
    const rows = this.counts.rows;
    const names = rows.map((r) => (r.count > 1 ? `${r.module} x${r.count}` : r.module));
    this.figure = new Figure(
      {
        data: [
          { type: "bar", orientation: "h", y: names, x: rows.map((r) => r.total), name: "total" },
          {
            type: "bar",
            orientation: "h",
            y: names,
            x: rows.map((r) => Math.round(r.activated)),
            name: "activated per token",
          },
        ],
        layout: {
          title: `${config.name ?? "model"}: ${humanCount(this.counts.total)} parameters, ${humanCount(this.counts.activated)} activated per token`,
          barmode: "group",
          height: Math.max(300, 90 + rows.length * 34),
          width: 760,
          margin: { l: 190 },
          xaxis: { title: "parameters" },
          yaxis: { autorange: "reversed" },
        },
      },
      this.text(),
    );
  }

  private text(): string {
    const c = this.counts;
    const head =
      `${this.config.name ?? "model"}: ${humanCount(c.total)} parameters (${c.total.toLocaleString("en-US")}), ` +
      `${humanCount(c.activated)} activated per token (${((100 * c.activated) / c.total).toFixed(1)}%)` +
      (c.mtpTotal > 0 ? `; MTP adds ${humanCount(c.mtpTotal)}` : "") +
      (this.allocated !== null
        ? `; the model holds ${this.allocated.toLocaleString("en-US")}`
        : "");
    return `${head}\n${paramTable(c)}`;
  }

  toString(): string {
    return this.text();
  }

  [Symbol.for("Jupyter.display")](): MimeBundle {
    const fig = this.figure.bundle();
    const c = this.counts;
    const tr = c.rows
      .map(
        (r) =>
          `<tr><td>${escapeHtml(r.module)}</td><td style="font-size:11px;color:#555">${escapeHtml(r.detail)}</td>` +
          `<td>${humanCount(r.each)}</td><td>${r.count}</td><td>${humanCount(r.total)}</td><td>${humanCount(Math.round(r.activated))}</td></tr>`,
      )
      .join("");
    const table =
      `<table class="moelab-summary" style="font-variant-numeric:tabular-nums;font-size:12px">` +
      `<thead><tr><th>module</th><th>tensors (one instance)</th><th>each</th><th>x</th><th>total</th><th>activated</th></tr></thead>` +
      `<tbody>${tr}<tr><th colspan="4">total (main)</th><th>${humanCount(c.total)}</th><th>${humanCount(c.activated)}</th></tr></tbody></table>`;
    return {
      ...fig,
      "text/plain": this.text(),
      "text/html": `<div><b>${escapeHtml(this.text().split("\n")[0])}</b>${table}${fig["text/html"]}</div>`,
    };
  }
}

/** The summary of a model, a config or a preset name ("tiny", "671B", ...). */
export function modelSummary(
  model: Transformer | ModelConfig | PresetName | ConfigFields,
): ModelSummary {
  if (model instanceof Transformer) return new ModelSummary(model.config, model);
  if (model === null || (typeof model !== "object" && typeof model !== "string"))
    throw new TypeError(
      `modelSummary: expected a Transformer, a ModelConfig, a preset name or config fields, got ${model === null ? "null" : typeof model}`,
    );
  return new ModelSummary(resolveConfig(model));
}
