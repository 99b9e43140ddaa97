/**
 * DeepSeek's published numbers that the notebooks set beside their measurements, restated from
 * the V2 and V3 technical reports and the Loss-Free Balancing paper (see each field's source).
 */
export const DEEPSEEK = Object.freeze({
  /** V2 (arXiv 2405.04434), abstract: KV cache cut against DeepSeek 67B (MHA, no FP8 cache). */
  v2KvCacheReduction: 0.933,
  /** V2 Table 1: MLA caches (d_c + d_h^R)·l ≈ 4.5·d_h·l, i.e. GQA with 2.25 groups. */
  v2MlaAsGqaGroups: 2.25,
  /** V3 config: 576 elements per token per layer (kv_lora 512 + rope 64) vs MHA's 2·128·128. */
  v3KvPerTokenLayer: { mla: 576, mha: 32768 },
  /** V3 §5.4.3: second-token acceptance of the MTP draft, and the decoding speed-up. */
  mtpAcceptance: [0.85, 0.9] as readonly [number, number],
  mtpSpeedup: 1.8,
  /** V3 §3.3: FP8 vs BF16 relative training-loss error stays below this (16B and 230B). */
  fp8RelativeLossError: 0.0025,
  /** V3 §3.3: H800 FP8 tensor-core accumulation keeps ~14 bits: up to ~2% relative error at K = 4096. */
  fp8LimitedAccumulationError: { relative: 0.02, k: 4096, bits: 14, promoteEvery: 128 },
  /** V3 §2.1.2 ablation: validation loss at 1B and 3B, sequence aux vs aux-free. */
  v3BalanceAblation: [
    { model: "1B", aux: 2.258, auxFree: 2.253 },
    { model: "3B", aux: 2.085, auxFree: 2.08 },
  ],
  /** R1 §2.2: R1-Zero, RL from DeepSeek-V3-Base with no SFT: AIME 2024 pass@1 and cons@64. */
  r1ZeroAime: { before: 0.156, after: 0.71, cons64: 0.867 },
  /** DeepSeekMath's GRPO settings: β, G samples per question, policy lr, μ updates per batch. */
  grpoDeepSeekMath: { beta: 0.04, G: 64, lr: 1e-6, mu: 1 },
  /** R1 §2.3: rejection sampling keeps ~600k reasoning samples (+ ~200k others, 2 epochs). */
  r1RejectionSamples: 600_000,
  /**
   * R1 §2.4 and Table 5: small dense models fine-tuned (SFT only) on R1's ~800k samples, AIME
   * 2024 pass@1 and MATH-500; and RL alone on Qwen-32B-Base (over 10K steps) for comparison.
   */
  r1Distill: [
    { model: "Qwen-1.5B distilled", aime: 28.9, math500: 83.9 },
    { model: "Qwen-7B distilled", aime: 55.5, math500: 92.8 },
    { model: "Qwen-32B distilled", aime: 72.6, math500: 94.3 },
    { model: "Qwen-32B, RL alone", aime: 47.0, math500: 91.6 },
  ] as readonly { model: string; aime: number; math500: number }[],
});
