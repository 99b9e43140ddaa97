/**
 * What the trainer learns from every Gate while a batch runs (the model's route observer): each
 * MoE layer's expert load, and, when asked, the balance-loss terms of the batch's scores.
 */
import * as T from "../tensor/index.js";
import type { Module, RouteEvent } from "../nn/index.js";
import { balanceLoss, countLoad, topkOfScores, type BalanceMode } from "./balance.js";

export interface LayerStats {
  /** The MoE layer's hook path ("blocks.3.moe", "mtp.0.moe"). */
  name: string;
  gate: Module;
  bias: T.Tensor | null;
  /** Tokens routed to each expert since the last reset. */
  counts: Float64Array;
}

export class RouterStats {
  readonly layers: LayerStats[] = [];
  private readonly byGate = new Map<Module, LayerStats>();
  /** Balance-loss terms of the current micro-batch (summed into the loss by the trainer). */
  private terms: T.Tensor[] = [];
  /** Whether the observed pass should build balance losses (training) or only count (evaluation). */
  withLoss = false;

  constructor(
    readonly mode: BalanceMode,
    /** α of DeepSeek-V3's sequence-wise loss (0: off). */
    readonly seqAlpha: number,
    /** α of the expert-level auxiliary loss ("aux" mode). */
    readonly auxAlpha: number,
    readonly k: number,
  ) {}

  /** Registers the MoE layers in model order (their gates), so every array has a fixed order. */
  addLayer(name: string, gate: Module, bias: T.Tensor | null, experts: number): void {
    const l: LayerStats = { name, gate, bias, counts: new Float64Array(experts) };
    this.layers.push(l);
    this.byGate.set(gate, l);
  }

  readonly observe = (e: RouteEvent): void => {
    const l = this.byGate.get(e.gate);
    if (!l) return;
    const idx = e.indices.dtype === "int32" ? (e.indices._contiguousData() as Int32Array) : null;
    if (idx) countLoad(idx, l.counts);
    if (!this.withLoss || !idx) return;
    const E = l.counts.length;
    const s = e.scores.reshape(-1, E);
    const groupSize = e.scores.ndim === 3 ? e.scores.shape[1] : s.shape[0];
    if (this.seqAlpha > 0) {
      const sd = s.contiguous()._contiguousData() as Float32Array;
      const top = topkOfScores(sd, s.shape[0], E, this.k);
      this.terms.push(balanceLoss(s, top, this.k, groupSize, this.seqAlpha));
    }
    if (this.mode === "aux" && this.auxAlpha > 0)
      this.terms.push(balanceLoss(s, idx, this.k, s.shape[0], this.auxAlpha));
  };

  /** The sum of the balance-loss terms built since the last call, or null; clears them. */
  takeLoss(): T.Tensor | null {
    const t = this.terms;
    this.terms = [];
    if (t.length === 0) return null;
    return t.reduce((a, b) => a.add(b));
  }

  reset(): void {
    for (const l of this.layers) l.counts.fill(0);
    this.terms = [];
  }
}
