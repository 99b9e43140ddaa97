/**
 * Activation patching (TransformerLens's `patching`): run the corrupted input with one activation
 * taken from the clean run, and read a metric of the logits. One cell per patch:
 *   "layer_pos"    blocks.{L}.<hook> at position p (default hook_resid_pre), every batch row
 *   "layer_head"   blocks.{L}.attn.hook_z of head h, every position
 *   "layer_expert" blocks.{L}.moe.hook_router_scores of expert e, every position: the corrupted
 *                  run routes to e where, and with the score, the clean run did
 * The result is a [rows, columns] tensor with its labels; it displays as a heatmap (lib/viz).
 */
import * as T from "../tensor/index.js";
import type { Tokens, Transformer } from "../model/index.js";
import { checkIndex, f32, moeLayers, moeOf, tokenLabel } from "./common.js";
import { displayBundle } from "./display.js";

export type PatchGrid = "layer_pos" | "layer_head" | "layer_expert";

export interface PatchingOptions {
  clean: Tokens;
  corrupted: Tokens;
  /** A number from the logits [B, T, V] (e.g. logitDiff(correct, wrong)); higher = more "clean". */
  metric: (logits: T.Tensor) => number;
  grid: PatchGrid;
  /** layer_pos: the block hook patched (default "hook_resid_pre"; any blocks.{L}.* hook whose dim 1 is the position). */
  hook?: string;
  /** Rows: main layers (default all; MoE layers for layer_expert). */
  layers?: readonly number[];
  /** layer_pos columns: positions (negative: from the end; default all). */
  positions?: readonly number[];
}

/** The metric over a grid of patches, with labels; displays as a heatmap. */
export class PatchingResult {
  constructor(
    readonly grid: PatchGrid,
    /** The metric of each patched run [rows, columns]. */
    readonly values: T.Tensor,
    /** Row labels ("L0", ...). */
    readonly rows: string[],
    /** Column labels (positions as "3: tok", heads "H0", experts "E0"). */
    readonly columns: string[],
    /** The metric of the clean run and of the corrupted run (the baselines). */
    readonly clean: number,
    readonly corrupted: number,
    /** What was patched, e.g. "blocks.{L}.hook_resid_pre". */
    readonly hook: string,
  ) {}

  /** (patched - corrupted) / (clean - corrupted): 1 where a patch restores the clean metric. */
  normalised(): T.Tensor {
    const d = this.clean - this.corrupted;
    const v = f32(this.values).map((x) => (d === 0 ? NaN : (x - this.corrupted) / d));
    return T.tensor(v, { shape: [...this.values.shape] });
  }

  /** Row-major values as nested arrays. */
  toRows(): number[][] {
    const v = f32(this.values);
    const C = this.columns.length;
    return this.rows.map((_, r) => Array.from(v.subarray(r * C, (r + 1) * C)));
  }

  /** The cell with the largest |normalised| effect. */
  strongest(): { row: string; column: string; value: number } {
    const v = f32(this.values);
    let best = 0;
    for (let i = 1; i < v.length; i++)
      if (Math.abs(v[i] - this.corrupted) > Math.abs(v[best] - this.corrupted)) best = i;
    const C = this.columns.length;
    return { row: this.rows[Math.floor(best / C)], column: this.columns[best % C], value: v[best] };
  }

  toString(): string {
    const s = this.strongest();
    const rows = this.toRows();
    const w = Math.max(8, ...this.columns.map((c) => c.length));
    const lw = Math.max(...this.rows.map((r) => r.length));
    return [
      `Activation patching (${this.grid}, ${this.hook}): clean ${fmt(this.clean)}, corrupted ${fmt(this.corrupted)}; strongest ${s.row} x ${s.column} = ${fmt(s.value)}`,
      " ".repeat(lw) + "  " + this.columns.map((c) => c.padStart(w)).join(" "),
      ...rows.map(
        (r, i) => this.rows[i].padEnd(lw) + "  " + r.map((x) => fmt(x).padStart(w)).join(" "),
      ),
    ].join("\n");
  }

  [Symbol.for("Jupyter.display")](): Record<string, unknown> {
    return displayBundle("patching", this, this.toString());
  }
}

const fmt = (x: number): string => (Number.isFinite(x) ? x.toFixed(4) : String(x));

/**
 * A metric for patching: the mean over batch rows of logits[b, position, correct] -
 * logits[b, position, wrong] (ids per row, or one for all rows).
 */
export function logitDiff(
  correct: number | readonly number[],
  wrong: number | readonly number[],
  position = -1,
): (logits: T.Tensor) => number {
  return (logits) => {
    const [B, Tq, V] = logits.shape;
    const p = position < 0 ? Tq + position : position;
    checkIndex(p, Tq, "logitDiff: position");
    const v = f32(logits);
    let s = 0;
    for (let b = 0; b < B; b++) {
      const c = typeof correct === "number" ? correct : correct[b];
      const w = typeof wrong === "number" ? wrong : wrong[b];
      checkIndex(c, V, "logitDiff: correct id");
      checkIndex(w, V, "logitDiff: wrong id");
      s += v[(b * Tq + p) * V + c] - v[(b * Tq + p) * V + w];
    }
    return s / B;
  };
}

/** Runs the patching grid; see the file comment. */
export function activationPatching(model: Transformer, opts: PatchingOptions): PatchingResult {
  const grid = opts.grid;
  if (grid !== "layer_pos" && grid !== "layer_head" && grid !== "layer_expert")
    throw new TypeError(
      `activationPatching: grid must be "layer_pos", "layer_head" or "layer_expert", got ${JSON.stringify(grid)}`,
    );
  if (typeof opts.metric !== "function")
    throw new TypeError("activationPatching: metric must be a function (logits) => number");
  const clean = model.tokensToTensor(opts.clean, "clean");
  const corrupted = model.tokensToTensor(opts.corrupted, "corrupted");
  if (clean.shape[0] !== corrupted.shape[0] || clean.shape[1] !== corrupted.shape[1])
    throw new RangeError(
      `activationPatching: clean [${clean.shape.join(", ")}] and corrupted [${corrupted.shape.join(", ")}] tokens must have the same shape (activations are swapped position by position)`,
    );
  const Tq = clean.shape[1];
  const nL = model.blocks.length;
  const layers = [
    ...(opts.layers ?? (grid === "layer_expert" ? moeLayers(model) : [...Array(nL).keys()])),
  ];
  for (const L of layers)
    if (grid === "layer_expert") moeOf(model, L, "activationPatching (layer_expert)");
    else checkIndex(L, nL, "activationPatching: layer");
  if (layers.length === 0) throw new RangeError("activationPatching: no layers to patch");
  const local =
    grid === "layer_pos"
      ? (opts.hook ?? "hook_resid_pre")
      : grid === "layer_head"
        ? "attn.hook_z"
        : "moe.hook_router_scores";
  if (grid !== "layer_pos" && opts.hook !== undefined)
    throw new TypeError(
      `activationPatching: hook is for the layer_pos grid (${grid} patches ${local})`,
    );
  if (grid !== "layer_pos" && opts.positions !== undefined)
    throw new TypeError(
      `activationPatching: positions are the columns of the layer_pos grid, not of ${grid}`,
    );
  const names = layers.map((L) => `blocks.${L}.${local}`);
  // Unknown names fail here with the model's closest-name error, before anything runs.
  for (const n of names) model.addHook(n, () => undefined)();
  let columns: string[];
  let cols: number[];
  if (grid === "layer_pos") {
    cols = (opts.positions ?? [...Array(Tq).keys()]).map((p) => {
      if (!Number.isInteger(p) || p >= Tq || p < -Tq)
        throw new RangeError(
          `activationPatching: the grid does not fit the input: position ${p} is outside the ${Tq} tokens`,
        );
      return p < 0 ? Tq + p : p;
    });
    const tok = model.tokenizer;
    const ids = f32(clean);
    columns = cols.map((p) => (tok ? `${p}: ${tokenLabel(tok, ids[p])}` : String(p)));
  } else if (grid === "layer_head") {
    cols = [...Array(model.args.n_heads).keys()];
    columns = cols.map((h) => `H${h}`);
  } else {
    cols = [...Array(model.args.n_routed_experts).keys()];
    columns = cols.map((e) => `E${e}`);
  }
  const metric = (logits: T.Tensor, what: string): number => {
    const v = opts.metric(logits);
    if (typeof v !== "number")
      throw new TypeError(
        `activationPatching: metric returned ${typeof v} on ${what}, expected a number`,
      );
    return v;
  };
  const { logits: cleanLogits, cache } = model.runWithCache(clean, { names });
  const base = {
    clean: metric(cleanLogits, "the clean run"),
    corrupted: T.tidy(() =>
      metric(
        T.noGrad(() => model.forward(corrupted)),
        "the corrupted run",
      ),
    ),
  };
  const out = new Float32Array(layers.length * cols.length);
  layers.forEach((_, r) => {
    const src = f32(cache.get(names[r]));
    cols.forEach((col, c) => {
      const patch = (act: T.Tensor, name: string): T.Tensor => {
        const shape = act.shape;
        if (grid === "layer_pos" && (act.ndim < 2 || shape[1] !== Tq))
          throw new RangeError(
            `activationPatching: ${name} has shape [${shape.join(", ")}]; the layer_pos grid patches activations [B, T, ...] whose dimension 1 is the ${Tq} positions`,
          );
        const d = Float32Array.from(f32(act));
        if (d.length !== src.length)
          throw new RangeError(`activationPatching: ${name} differs in size between the runs`);
        if (grid === "layer_pos") {
          const inner = d.length / (shape[0] * Tq);
          for (let b = 0; b < shape[0]; b++) {
            const o = (b * Tq + col) * inner;
            d.set(src.subarray(o, o + inner), o);
          }
        } else {
          // hook_z [B, T, H, dv] (a head is dv wide) or router scores [B, T, E] (an expert is 1).
          const width = grid === "layer_head" ? shape[3] : 1;
          const stride = grid === "layer_head" ? shape[2] * width : shape[2];
          for (let o = col * width; o < d.length; o += stride) d.set(src.subarray(o, o + width), o);
        }
        return T.tensor(d, { shape: [...shape] });
      };
      out[r * cols.length + c] = T.tidy(() =>
        metric(
          T.noGrad(() => model.runWithHooks(corrupted, { fwd: [[names[r], patch]] })),
          `the patch ${names[r]} x ${columns[c]}`,
        ),
      );
    });
  });
  for (const n of names) cache.get(n).dispose();
  return new PatchingResult(
    grid,
    T.tensor(out, { shape: [layers.length, cols.length] }),
    layers.map((L) => `L${L}`),
    columns,
    base.clean,
    base.corrupted,
    `blocks.{L}.${local}`,
  );
}
