/**
 * The FP8 entry points of the native addon (native/src/fp8_*.cc), when it is built. Everything
 * here has a TypeScript twin, so moelab works (slower) without the addon.
 */
import { loadAddon } from "../tensor/addon.js";

/** Format ids shared with native/src/fp8_common.h. */
export const FORMAT_ID = { e4m3: 0, e5m2: 1 } as const;

export interface NativeQuantized {
  codes: Uint8Array;
  scales: Float32Array;
  /** Number of NaN/±Inf inputs (encoded without saturation). */
  nonFinite: number;
}

export interface Fp8Native {
  fp8Encode(values: Float32Array, format: number, saturate: boolean): Uint8Array;
  fp8Quantize(
    x: Float32Array,
    rows: number,
    cols: number,
    tileRows: number,
    tileCols: number,
    format: number,
    pow2: boolean,
    amaxFloor: number,
    outCodes?: Uint8Array,
    outScales?: Float32Array,
  ): NativeQuantized;
  fp8Dequantize(
    codes: Uint8Array,
    scales: Float32Array,
    rows: number,
    cols: number,
    tileRows: number,
    tileCols: number,
    format: number,
  ): Float32Array;
  fp8Gemm(
    aCodes: Uint8Array,
    aScales: Float32Array,
    aTileRows: number,
    aTileCols: number,
    aFormat: number,
    bCodes: Uint8Array,
    bScales: Float32Array,
    bTileRows: number,
    bTileCols: number,
    bFormat: number,
    m: number,
    n: number,
    k: number,
    accumBits: number,
    accumChunk: number,
    accumNearest: boolean,
    out?: Float32Array,
  ): Float32Array;
  /** Quantizes x in 1x128 tiles into aCodes/aScales while multiplying; returns the NaN/Inf count. */
  fp8QuantizeGemm?(
    x: Float32Array,
    m: number,
    k: number,
    aFormat: number,
    pow2: boolean,
    amaxFloor: number,
    aCodes: Uint8Array,
    aScales: Float32Array,
    bCodes: Uint8Array,
    bScales: Float32Array,
    bTileRows: number,
    bTileCols: number,
    bFormat: number,
    n: number,
    accumBits: number,
    accumChunk: number,
    accumNearest: boolean,
    out: Float32Array,
  ): number;
  sgemm?: unknown;
}

let cached: Fp8Native | null | undefined;

/** The addon's FP8 functions, or null when the addon is missing or predates them. */
export function fp8Native(): Fp8Native | null {
  if (cached !== undefined) return cached;
  const addon = loadAddon() as Partial<Fp8Native> | null;
  cached =
    addon && typeof addon.fp8Gemm === "function" && typeof addon.fp8Quantize === "function"
      ? (addon as Fp8Native)
      : null;
  return cached;
}

/**
 * Whether the addon's FP8 kernels are loaded (the `backend: "native"` paths work). The public API
 * exposes this boolean only: the raw addon takes sizes on trust from its callers in lib/, so it is
 * never handed to user code.
 */
export function nativeAvailable(): boolean {
  return fp8Native() !== null;
}

/** The whole addon object (for benchmarks that look for `sgemm`), or null. Internal: not exported. */
export function addonObject(): Record<string, unknown> | null {
  return loadAddon();
}
