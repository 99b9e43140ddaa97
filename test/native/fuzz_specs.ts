/**
 * Hostile calls for every export of the native addon: each export gets a small valid call (its
 * baseline, which must succeed) described argument by argument, from which the fuzz test derives
 * hostile variants: sizes near 2^31, 2^32 and 2^53, pairs of sizes whose int64 product wraps,
 * negative and fractional counts, wrong types, short and detached buffers, missing arguments.
 * The test in fuzz.test.ts runs them in child processes (fuzz_child.ts) and expects a named error
 * (or, for a variant that is still valid, a normal return), never a crash or a hang.
 */

/** How one argument is described, and so how it is mutated. */
export type ArgSpec =
  /** An element count or offset: every hostile value must be rejected. */
  | { kind: "size"; value: number; optional?: boolean }
  /** An integer parameter (op code, format, tile size): bad types, negatives, fractions rejected. */
  | { kind: "int"; value: number; optional?: boolean }
  /** A signed integer (ignoreIndex): bad types and fractions rejected, any integer allowed. */
  | { kind: "sint"; value: number }
  /** A float parameter (eps, lr, alpha): bad types rejected, any number allowed. */
  | { kind: "num"; value: number }
  | { kind: "bool"; value: boolean; optional?: boolean }
  | { kind: "str"; value: string }
  /** A typed array of exactly the length the call needs; `fill` gives its contents. */
  | { kind: TypedKind; length: number; fill?: number[]; optional?: boolean; anyLength?: boolean }
  /** moeCombine's chunks: an array of Float32Arrays of the given lengths. */
  | { kind: "chunks"; lengths: number[] };

export type TypedKind = "f32" | "i32" | "u8" | "u16";

export interface ExportSpec {
  args: ArgSpec[];
  /** Arguments a call needs (later ones are optional); default: all. */
  required?: number;
  /** Extra hostile calls with a label, each expected to throw a named error. */
  extra?: { label: string; args: (base: unknown[]) => unknown[] }[];
  /** The start of every error message this export throws (default: its name). */
  prefix?: string;
}

const size = (value: number, optional = false): ArgSpec => ({ kind: "size", value, optional });
const int = (value: number, optional = false): ArgSpec => ({ kind: "int", value, optional });
const num = (value: number): ArgSpec => ({ kind: "num", value });
const bool = (value: boolean, optional = false): ArgSpec => ({ kind: "bool", value, optional });
const f32 = (length: number, optional = false): ArgSpec => ({ kind: "f32", length, optional });
const i32 = (length: number, fill?: number[]): ArgSpec => ({ kind: "i32", length, fill });
const u8 = (length: number, optional = false): ArgSpec => ({ kind: "u8", length, optional });

/** Every function the addon exports, by name. Non-function exports are in DATA_EXPORTS. */
export const SPECS: Record<string, ExportSpec> = {
  // sgemm(transA, transB, M, N, K, alpha, A, aOff, lda, B, bOff, ldb, beta, C, cOff, ldc, batch, sA, sB, sC)
  sgemm: {
    args: [
      bool(false),
      bool(false),
      size(2),
      size(2),
      size(2),
      num(1),
      f32(4),
      size(0),
      size(2),
      f32(4),
      size(0),
      size(2),
      num(0),
      f32(4),
      size(0),
      size(2),
      size(1, true),
      int(0, true),
      int(0, true),
      int(0, true),
    ],
    required: 16,
    extra: [
      {
        label: "strideC whose (M-1) x ldc wraps in int64",
        args: (b) => {
          const a = [...b];
          a[2] = 2 ** 31;
          a[15] = 2 ** 33;
          a[16] = 2;
          a[19] = 1;
          return a;
        },
      },
    ],
  },
  sgemmInfo: { args: [] },
  sgemmSetKernel: { args: [{ kind: "str", value: "auto" }], prefix: "sgemmSetKernel(name)" },
  opsBinary2d: {
    args: [
      int(0),
      f32(4),
      size(0),
      size(2),
      size(1),
      f32(4),
      size(0),
      size(2),
      size(1),
      f32(4),
      size(0),
      size(2),
      size(2),
    ],
  },
  opsBinaryNd: {
    args: [
      int(0),
      int(2),
      { kind: "i32", length: 2, fill: [2, 2] },
      f32(4),
      size(0),
      { kind: "i32", length: 2, fill: [2, 1] },
      f32(4),
      size(0),
      { kind: "i32", length: 2, fill: [1, 2] },
      f32(4),
      size(0),
      { kind: "i32", length: 2, fill: [2, 1] },
    ],
    extra: [
      {
        label: "a negative stride",
        args: (b) => b.map((x, i) => (i === 5 ? new Int32Array([2, -1]) : x)),
      },
      {
        label: "a shape larger than the output spans (strides of 0)",
        args: (b) =>
          b.map((x, i) =>
            i === 2
              ? new Int32Array([2 ** 30, 2 ** 30])
              : i === 5 || i === 8 || i === 11
                ? new Int32Array([0, 0])
                : x,
          ),
      },
      { label: "nd 9", args: (b) => b.map((x, i) => (i === 1 ? 9 : x)) },
    ],
  },
  opsUnary: { args: [int(0), f32(4), f32(4), size(4), num(0), num(0)] },
  opsUnaryGrad: { args: [int(0), f32(4), f32(4), f32(4), f32(4), size(4), num(0), num(0)] },
  opsReduce: { args: [int(0), f32(6), f32(2), size(2), size(3), size(1)] },
  opsArgReduce: {
    args: [int(0), f32(6), i32(2), size(2), size(3), size(1)],
    extra: [{ label: "r of 2^31 (int32 indices)", args: (b) => [0, b[1], b[2], 0, 2 ** 31, 1] }],
  },
  opsSoftmax: { args: [f32(6), f32(6), size(2), size(3), bool(false)] },
  opsSoftmaxGrad: { args: [f32(6), f32(6), f32(6), size(2), size(3), bool(false)] },
  opsCrossEntropy: {
    args: [f32(6), i32(2), f32(2), f32(2), size(2), size(3), { kind: "sint", value: -100 }],
    extra: [
      {
        label: "a target of 2^31 - 1",
        args: (b) => [b[0], new Int32Array([0, 2 ** 31 - 1]), ...b.slice(2)],
      },
    ],
  },
  opsCrossEntropyGrad: {
    args: [f32(6), i32(2), f32(2), f32(2), f32(6), size(2), size(3), { kind: "sint", value: -100 }],
  },
  opsRmsNorm: { args: [f32(6), f32(3), f32(6), f32(2), size(2), size(3), num(1e-6)] },
  opsRmsNormGrad: { args: [f32(6), f32(3), f32(2), f32(6), f32(6), f32(3), size(2), size(3)] },
  opsRope: {
    args: [f32(16), f32(4), f32(4), f32(16), size(1), size(2), size(2), size(4), bool(false)],
  },
  opsSwiglu: { args: [f32(4), f32(4), f32(4), size(4)] },
  opsSwigluGrad: { args: [f32(4), f32(4), f32(4), f32(4), f32(4), size(4)] },
  opsGatherRows: {
    args: [f32(6), i32(2, [0, 2]), f32(4), size(1), size(3), size(2), size(2)],
    extra: [
      {
        label: "an index of -1",
        args: (b) => [b[0], new Int32Array([0, -1]), ...b.slice(2)],
      },
    ],
  },
  opsScatterAddRows: {
    args: [f32(4), i32(2, [2, 0]), f32(6), size(1), size(3), size(2), size(2)],
    extra: [
      {
        label: "an index of 2^31 - 1",
        args: (b) => [b[0], new Int32Array([0, 2 ** 31 - 1]), ...b.slice(2)],
      },
    ],
  },
  moeRoute: {
    args: [f32(8), f32(4, true), size(2), size(4), size(2), size(2), size(2), i32(4), f32(8, true)],
  },
  moeCombine: {
    args: [
      f32(6),
      f32(6),
      size(2),
      size(2),
      size(3),
      { kind: "chunks", lengths: [6, 6] },
      i32(3, [0, 2, 4]),
      i32(4, [0, 1, 2, 3]),
      f32(4),
    ],
    extra: [
      {
        label: "starts that decrease below zero",
        args: (b) => [...b.slice(0, 6), new Int32Array([0, -4, 4]), ...b.slice(7)],
      },
      {
        label: "starts past n x k in the middle",
        args: (b) => [...b.slice(0, 6), new Int32Array([0, 9, 4]), ...b.slice(7)],
      },
      {
        label: "a grouped row out of range",
        args: (b) => [...b.slice(0, 7), new Int32Array([0, 1, 2, 4]), b[8]],
      },
      {
        label: "a chunk that is not a Float32Array",
        args: (b) => [...b.slice(0, 5), [new Float32Array(6), [1, 2]], ...b.slice(6)],
      },
    ],
  },
  moeCombineGrad: {
    args: [
      f32(6),
      size(3),
      f32(6),
      size(2),
      i32(2, [0, 1]),
      i32(2, [0, 1]),
      f32(2),
      f32(6),
      f32(2),
    ],
    extra: [
      {
        label: "a token of 2^31 - 1",
        args: (b) => [...b.slice(0, 4), new Int32Array([0, 2 ** 31 - 1]), ...b.slice(5)],
      },
    ],
  },
  adamwStep: {
    args: [
      f32(4),
      f32(4),
      f32(4),
      f32(4),
      size(4),
      int(1),
      num(0.1),
      num(0.9),
      num(0.999),
      num(1e-8),
      num(0),
      num(1),
    ],
  },
  adamwSetKernel: { args: [{ kind: "str", value: "auto" }], prefix: "adamwSetKernel(name)" },
  sumSquares: { args: [f32(4), size(4)] },
  getNumThreads: { args: [] },
  setNumThreads: { args: [int(1)], prefix: "setNumThreads(n)" },
  // Encodes the whole array: any length (0 too) is valid.
  fp8Encode: { args: [{ kind: "f32", length: 4, anyLength: true }, int(0), bool(true)] },
  fp8Quantize: {
    args: [
      f32(8),
      size(2),
      size(4),
      int(1),
      int(128),
      int(0),
      bool(false),
      num(1e-4),
      u8(8, true),
      f32(2, true),
    ],
    required: 8,
  },
  fp8QuantizeTiles: {
    args: [f32(8), size(2), size(4), int(0), bool(false), num(1e-4), bool(false, true)],
    required: 6,
  },
  fp8QuantizeBlocks: { args: [f32(8), size(2), size(4), int(0), bool(false), num(1e-4)] },
  fp8Dequantize: { args: [u8(8), f32(2), size(2), size(4), int(1), int(128), int(0)] },
  fp8Gemm: {
    args: [
      u8(8),
      f32(2),
      int(1),
      int(128),
      int(0),
      u8(12),
      f32(3),
      int(1),
      int(128),
      int(0),
      size(2),
      size(3),
      size(4),
      int(23),
      int(1),
      bool(false),
      f32(6, true),
    ],
    required: 16,
  },
  fp8QuantizeGemm: {
    args: [
      f32(8),
      size(2),
      size(4),
      int(0),
      bool(false),
      num(1e-4),
      u8(8),
      f32(2),
      u8(12),
      f32(3),
      int(1),
      int(128),
      int(0),
      size(3),
      int(23),
      int(1),
      bool(false),
      f32(6),
    ],
  },
};

/** Exports that are data, not functions (checked to be plain objects or arrays). */
export const DATA_EXPORTS = ["modules", "buildInfo"];

/** One call to make, and whether it must throw ("throw") or may also return ("any"). */
export interface Case {
  label: string;
  args: unknown[];
  expect: "throw" | "any";
}

function typed(kind: TypedKind, length: number, fill?: number[]): ArrayBufferView {
  const a =
    kind === "f32"
      ? new Float32Array(length)
      : kind === "i32"
        ? new Int32Array(length)
        : kind === "u8"
          ? new Uint8Array(length)
          : new Uint16Array(length);
  if (fill) (a as Float32Array).set(fill);
  else if (kind === "f32") (a as Float32Array).fill(0.5);
  return a;
}

function detached(kind: TypedKind): ArrayBufferView {
  const a = typed(kind, 8) as Float32Array;
  structuredClone(a.buffer, { transfer: [a.buffer as ArrayBuffer] });
  return a;
}

/** The baseline's argument values. */
export function baseline(spec: ExportSpec): unknown[] {
  return spec.args.map((a) => {
    switch (a.kind) {
      case "chunks":
        return a.lengths.map((n) => typed("f32", n));
      case "f32":
      case "i32":
      case "u8":
      case "u16":
        return typed(a.kind, a.length, a.fill);
      default:
        return a.value;
    }
  });
}

const BIG = [2 ** 31, 2 ** 32, 2 ** 32 + 1, 2 ** 53, 2 ** 53 + 2, 2 ** 63];
const BAD_INT = [-1, -(2 ** 32), 1.5, NaN, Infinity, -Infinity];
const BAD_TYPE: unknown[] = ["3", undefined, null, {}, 2n, [1]];

/** Every hostile variant of one export's baseline. */
export function cases(spec: ExportSpec): Case[] {
  const base = baseline(spec);
  const out: Case[] = [{ label: "baseline", args: base, expect: "any" }];
  const withArg = (i: number, v: unknown) => base.map((b, j) => (j === i ? v : b));
  const fmt = (v: unknown) =>
    typeof v === "bigint"
      ? `${v}n`
      : v === undefined
        ? "undefined"
        : (JSON.stringify(v) ?? String(v));
  spec.args.forEach((a, i) => {
    const at = (what: string) => `arg ${i} (${a.kind}) = ${what}`;
    switch (a.kind) {
      case "size":
      case "int":
      case "sint":
        for (const v of BIG)
          out.push({
            label: at(String(v)),
            args: withArg(i, v),
            expect: a.kind === "size" ? "throw" : "any",
          });
        for (const v of BAD_INT)
          out.push({
            label: at(String(v)),
            args: withArg(i, v),
            expect: a.kind === "sint" && Number.isInteger(v) ? "any" : "throw",
          });
        for (const v of BAD_TYPE)
          out.push({
            label: at(fmt(v)),
            args: withArg(i, v),
            expect: a.kind !== "sint" && a.optional && v === undefined ? "any" : "throw",
          });
        break;
      case "num":
        for (const v of [NaN, Infinity, -1e300, 2 ** 64])
          out.push({ label: at(String(v)), args: withArg(i, v), expect: "any" });
        for (const v of BAD_TYPE)
          out.push({ label: at(fmt(v)), args: withArg(i, v), expect: "throw" });
        break;
      case "bool":
        for (const v of [1, "true", null, undefined, {}])
          out.push({
            label: at(fmt(v)),
            args: withArg(i, v),
            expect: a.optional && v === undefined ? "any" : "throw",
          });
        break;
      case "str":
        for (const v of ["bogus", "", 3, null, undefined, {}])
          out.push({ label: at(fmt(v)), args: withArg(i, v), expect: "throw" });
        break;
      case "chunks":
        for (const v of [
          null,
          3,
          "x",
          {},
          [null, null],
          [new Float32Array(1), new Float32Array(6)],
        ])
          out.push({ label: at(fmt(v)), args: withArg(i, v), expect: "throw" });
        break;
      default: {
        const other: TypedKind = a.kind === "f32" ? "i32" : "f32";
        const variants: [string, unknown][] = [
          [`${other} array`, typed(other, Math.max(a.length, 1))],
          ["Float64Array", new Float64Array(Math.max(a.length, 1))],
          ["plain array", new Array(a.length).fill(0)],
          ["number", 3],
          ["DataView", new DataView(new ArrayBuffer(4 * a.length))],
        ];
        if (!a.optional) variants.push(["null", null], ["undefined", undefined]);
        if (a.length > 0) {
          variants.push([`length ${a.length - 1}`, typed(a.kind, a.length - 1)]);
          variants.push(["empty", typed(a.kind, 0)]);
          variants.push(["detached", detached(a.kind)]);
        }
        for (const [what, v] of variants)
          out.push({
            label: at(what),
            args: withArg(i, v),
            expect: a.anyLength && /length|empty|detached/.test(what) ? "any" : "throw",
          });
      }
    }
  });
  // Pairs of sizes: both near 2^32 (the int64 product wraps to a small number without checks),
  // and one zero with the other huge (a loop over the huge one must not run).
  const sizes = spec.args.flatMap((a, i) => (a.kind === "size" ? [i] : []));
  for (const i of sizes)
    for (const j of sizes) {
      if (i === j) continue;
      const both = (vi: number, vj: number) =>
        base.map((b, k) => (k === i ? vi : k === j ? vj : b));
      if (i < j) {
        out.push({
          label: `args ${i}, ${j} = 2^32, 2^32`,
          args: both(2 ** 32, 2 ** 32),
          expect: "throw",
        });
        out.push({
          label: `args ${i}, ${j} = 2^31, 2^33`,
          args: both(2 ** 31, 2 ** 33),
          expect: "throw",
        });
        out.push({
          label: `args ${i}, ${j} = 2^53, 2^53`,
          args: both(2 ** 53 - 1, 2 ** 53 - 1),
          expect: "throw",
        });
      }
      out.push({ label: `args ${i}, ${j} = 0, 2^40`, args: both(0, 2 ** 40), expect: "any" });
    }
  if (sizes.length > 2)
    out.push({
      label: `all sizes = 2^32`,
      args: base.map((b, k) => (sizes.includes(k) ? 2 ** 32 : b)),
      expect: "throw",
    });
  const required = spec.required ?? spec.args.length;
  if (required > 0) {
    out.push({
      label: `${required - 1} arguments`,
      args: base.slice(0, required - 1),
      expect: "throw",
    });
    out.push({ label: "no arguments", args: [], expect: "throw" });
  }
  out.push({ label: "extra arguments", args: [...base, 2 ** 32, "x", null], expect: "any" });
  for (const e of spec.extra ?? [])
    out.push({ label: e.label, args: e.args(base), expect: "throw" });
  return out;
}
