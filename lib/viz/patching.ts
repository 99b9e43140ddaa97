/** Activation patching as a heatmap: rows layers, columns positions / heads / experts. */
import type { PatchingResult } from "../inspect/index.js";
import { Figure } from "./figure.js";
import { heatmap } from "./panels.js";

const COLUMN_AXIS = { layer_pos: "position", layer_head: "head", layer_expert: "expert" } as const;

/**
 * The patched metric per cell, coloured around the corrupted baseline (white), symmetric, so
 * cells that move the metric toward the clean run and away from it read at a glance.
 */
export function patchingFigure(r: PatchingResult): Figure {
  const rows = r.toRows();
  let span = Math.abs(r.clean - r.corrupted);
  for (const row of rows)
    for (const v of row) if (Number.isFinite(v)) span = Math.max(span, Math.abs(v - r.corrupted));
  if (span === 0) span = 1;
  const text = rows.map((row) => row.map((v) => v.toPrecision(3)));
  return new Figure(
    {
      data: [
        heatmap({
          z: rows,
          x: r.columns,
          y: r.rows,
          colorscale: "RdBu",
          zmin: r.corrupted - span,
          zmax: r.corrupted + span,
          text,
        }),
      ],
      layout: {
        title: { text: `Activation patching: ${r.hook}` },
        xaxis: { title: { text: COLUMN_AXIS[r.grid] }, type: "category" },
        yaxis: { title: { text: "layer" }, autorange: "reversed", type: "category" },
      },
    },
    r.toString(),
  );
}
