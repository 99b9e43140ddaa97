/**
 * The logit lens as a layers x positions heatmap (each cell: the probability the residual read
 * there gives the actual next token; its text: the read's top token), and direct logit
 * attribution as bars per component.
 */
import { tokenLabel, type Attribution, type LogitLens } from "../inspect/index.js";
import { Figure } from "./figure.js";
import { heatmap, num } from "./panels.js";

export function logitLensFigure(lens: LogitLens, opts: { batch?: number } = {}): Figure {
  const b = opts.batch ?? 0;
  const Tq = lens.tokens.shape[1];
  const ids = lens.tokens.toArray().subarray(b * Tq, (b + 1) * Tq);
  const positions = [...Array(Tq - 1).keys()];
  const text = (id: number): string =>
    lens.tokenizer ? tokenLabel(lens.tokenizer, id) : String(id);
  // p(actual next token) per read and position; the last position has no next token to score.
  const z = lens.labels.map((_, l) =>
    positions.map((p) => Math.exp(lens.logProbs(ids[p + 1], b, p)[l])),
  );
  const tops = positions.map((p) => lens.top(1, b, p));
  const marks = lens.labels.map((_, l) => positions.map((p) => tops[p][l][0].text));
  const x = positions.map((p) => `${p}: ${text(ids[p])} → ${text(ids[p + 1])}`);
  const mean = z.map((r) => r.reduce((s, v) => s + Math.log(Math.max(v, 1e-30)), 0) / r.length);
  return new Figure(
    {
      data: [heatmap({ z, x, y: lens.labels, zmin: 0, zmax: 1, text: marks })],
      layout: {
        title: { text: "Logit lens: p(next token) after each layer (text: the top token)" },
        xaxis: { title: { text: "position: token → next" }, type: "category" },
        yaxis: { title: { text: "residual read" }, autorange: "reversed", type: "category" },
      },
    },
    [
      `Logit lens over ${positions.length} positions of row ${b}: mean log p(next token) per read`,
      ...lens.labels.map((l, i) => `  ${l.padEnd(6)} ${num(mean[i])}`),
    ].join("\n"),
  );
}

export function attributionFigure(a: Attribution): Figure {
  return new Figure(
    {
      data: [{ type: "bar", x: a.labels, y: a.values }],
      layout: {
        title: { text: `Direct logit attribution: ${a.what}` },
        xaxis: { title: { text: "component" }, type: "category" },
        yaxis: { title: { text: "contribution" } },
      },
    },
    a.toString(),
  );
}
