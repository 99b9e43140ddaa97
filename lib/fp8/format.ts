/**
 * FP8 formats for users and teaching: validated encode/decode of arrays, the table of all 256
 * codes. The codec itself (bit-exact with CUDA's conversions) is lib/tensor/fp8codec.ts, shared
 * with the tensor dtypes.
 */
import {
  E4M3,
  E5M2,
  decodeTable,
  encodeBits,
  spec,
  valueOfCode,
  type Fp8Format,
  type Fp8Spec,
} from "../tensor/fp8codec.js";

export { E4M3, E5M2, decodeTable, encodeBits, spec, type Fp8Format, type Fp8Spec };

/** The Jupyter display protocol's method key (DESIGN.md), typed so classes and tests can index it. */
export const DISPLAY: unique symbol = Symbol.for("Jupyter.display") as never;

/** What a code means, for teaching tables. */
export type Fp8Kind = "zero" | "subnormal" | "normal" | "inf" | "nan";

/** Options of {@link encode}. */
export interface EncodeOptions {
  /** Clamp overflow (and ±Inf) to ±max (CUDA __NV_SATFINITE). Default true. */
  saturate?: boolean;
}

/**
 * Encodes float32 values to FP8 codes with round-to-nearest-even.
 * `saturate` defaults to true, as DeepSeek's kernels convert.
 */
export function encode(
  values: Float32Array,
  format: Fp8Format,
  opts: EncodeOptions = {},
): Uint8Array {
  if (!(values instanceof Float32Array)) {
    throw new TypeError(`fp8.encode: values must be a Float32Array, got ${describe(values)}`);
  }
  const saturate = opts.saturate ?? true;
  if (typeof saturate !== "boolean")
    throw new TypeError("fp8.encode: opts.saturate must be a boolean");
  spec(format);
  const out = new Uint8Array(values.length);
  // an Int32Array view keeps every element a small integer in V8 (Uint32 values >= 2^31 are not)
  const bits = new Int32Array(values.buffer, values.byteOffset, values.length);
  encodeBits(bits, 0, values.length, out, 0, format, saturate);
  return out;
}

const f32 = new Float32Array(1);

/** Encodes one number (rounded to float32 first). */
export function encodeOne(x: number, format: Fp8Format, opts: EncodeOptions = {}): number {
  f32[0] = x;
  return encode(f32, format, opts)[0];
}

/** Decodes FP8 codes exactly (every FP8 value is a float32). */
export function decode(codes: Uint8Array, format: Fp8Format): Float32Array {
  if (!(codes instanceof Uint8Array)) {
    throw new TypeError(`fp8.decode: codes must be a Uint8Array, got ${describe(codes)}`);
  }
  const t = decodeTable(format);
  const out = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = t[codes[i]];
  return out;
}

/** One row of the teaching table. */
export interface Fp8Code {
  code: number;
  /** "S.EEEE.MMM" */
  bits: string;
  sign: 0 | 1;
  /** Raw exponent field. */
  exponent: number;
  /** Raw mantissa field. */
  mantissa: number;
  value: number;
  kind: Fp8Kind;
}

function kindOf(code: number, s: Fp8Spec): Fp8Kind {
  const v = valueOfCode(code, s);
  if (Number.isNaN(v)) return "nan";
  if (!Number.isFinite(v)) return "inf";
  if (v === 0) return "zero";
  return ((code >> s.manBits) & ((1 << s.expBits) - 1)) === 0 ? "subnormal" : "normal";
}

/** All 256 codes of a format, for teaching; displays as a table in Jupyter. */
export class Fp8Table {
  readonly format: Fp8Format;
  readonly rows: readonly Fp8Code[];

  constructor(format: Fp8Format) {
    const s = spec(format);
    this.format = format;
    const rows: Fp8Code[] = [];
    for (let c = 0; c < 256; c++) {
      const e = (c >> s.manBits) & ((1 << s.expBits) - 1);
      const m = c & ((1 << s.manBits) - 1);
      rows.push({
        code: c,
        bits: `${c >> 7}.${e.toString(2).padStart(s.expBits, "0")}.${m.toString(2).padStart(s.manBits, "0")}`,
        sign: (c >> 7) as 0 | 1,
        exponent: e,
        mantissa: m,
        value: valueOfCode(c, s),
        kind: kindOf(c, s),
      });
    }
    this.rows = rows;
  }

  /** Counts of each kind (e4m3: 2 zeros, 14 subnormals, 238 normals, 2 NaNs). */
  counts(): Record<Fp8Kind, number> {
    const k: Record<Fp8Kind, number> = { zero: 0, subnormal: 0, normal: 0, inf: 0, nan: 0 };
    for (const r of this.rows) k[r.kind]++;
    return k;
  }

  toString(): string {
    const s = spec(this.format);
    const head = `${this.format}: ${s.expBits} exponent bits (bias ${s.bias}), ${s.manBits} mantissa bits, max ${s.max}`;
    const lines = this.rows.map(
      (r) => `0x${hex(r.code)}  ${r.bits}  ${r.kind.padEnd(9)}  ${fmt(r.value)}`,
    );
    return [head, "code  bits        kind       value", ...lines].join("\n");
  }

  [DISPLAY](): Record<string, string> {
    const s = spec(this.format);
    const colour: Record<Fp8Kind, string> = {
      zero: "#eee",
      subnormal: "#fde9c8",
      normal: "#fff",
      inf: "#f8c8c8",
      nan: "#f4a6a6",
    };
    const cells = this.rows
      .map(
        (r) =>
          `<tr style="background:${colour[r.kind]}"><td>0x${hex(r.code)}</td><td><code>${r.bits}</code></td>` +
          `<td>${r.sign}</td><td>${r.exponent}</td><td>${r.mantissa}</td><td>${fmt(r.value)}</td><td>${r.kind}</td></tr>`,
      )
      .join("");
    const html =
      `<details open><summary><b>${this.format}</b>: ${s.expBits} exponent bits (bias ${s.bias}), ` +
      `${s.manBits} mantissa bits, max ${s.max}, min normal 2^${Math.log2(s.minNormal)}, ` +
      `min subnormal 2^${Math.log2(s.minSubnormal)}</summary>` +
      `<div style="max-height:400px;overflow:auto"><table><thead><tr><th>code</th><th>bits S.E.M</th>` +
      `<th>sign</th><th>exponent</th><th>mantissa</th><th>value</th><th>kind</th></tr></thead>` +
      `<tbody>${cells}</tbody></table></div></details>`;
    return { "text/plain": this.toString(), "text/html": html };
  }
}

/** The teaching table of all 256 codes of a format. */
export function table(format: Fp8Format): Fp8Table {
  return new Fp8Table(format);
}

function hex(c: number): string {
  return c.toString(16).toUpperCase().padStart(2, "0");
}

function fmt(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "+Inf" : "-Inf";
  if (Object.is(v, -0)) return "-0";
  return String(v);
}

/** Short description of a wrong-typed argument for error messages. */
export function describe(v: unknown): string {
  if (v === null) return "null";
  if (typeof v !== "object") return typeof v;
  return (v as object).constructor?.name ?? "object";
}
