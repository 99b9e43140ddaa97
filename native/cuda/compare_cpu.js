"use strict";
// Compares what check_fp8 --dump DIR wrote (the GPU's codes, scales and GEMM results) with
// moelab's own CPU path (dist/lib/fp8: the native addon when built, else TypeScript).
// Usage: node native/cuda/compare_cpu.js DIR   Prints JSON lines; exit status 1 on a mismatch.
const fs = require("node:fs");
const path = require("node:path");

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node native/cuda/compare_cpu.js DIR");
  process.exit(2);
}
const fp8 = require(path.join(__dirname, "..", "..", "dist", "lib", "fp8", "index.js"));
const meta = JSON.parse(fs.readFileSync(path.join(dir, "meta.json"), "utf8"));
const read = (name, Type) => {
  const b = fs.readFileSync(path.join(dir, name));
  return new Type(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
let failures = 0;
for (const c of meta) {
  const xa = read(`${c.name}_xa.f32`, Float32Array);
  const xb = read(`${c.name}_xb.f32`, Float32Array);
  const layout = (t) => ({ kind: "tile", tile: [t[0], t[1]] });
  const opts = (f) => ({ format: f, pow2Scale: c.pow2 });
  const qa = fp8.quantize(xa, c.m, c.k, layout(c.a_tile), opts(c.a_format));
  const qb = fp8.quantize(xb, c.n, c.k, layout(c.b_tile), opts(c.b_format));
  const same = (x, y) => x.length === y.length && x.every((v, i) => Object.is(v, y[i]));
  const codesOk = same(qa.codes, read(`${c.name}_qa.u8`, Uint8Array)) && same(qb.codes, read(`${c.name}_qb.u8`, Uint8Array));
  const scalesOk = same(qa.scales, read(`${c.name}_sa.f32`, Float32Array)) && same(qb.scales, read(`${c.name}_sb.f32`, Float32Array));
  // the CPU GEMM on the very codes the GPU multiplied
  const a = new fp8.Fp8Matrix({ codes: read(`${c.name}_qa_gemm.u8`, Uint8Array), scales: qa.scales, rows: c.m, cols: c.k, layout: qa.layout, format: c.a_format });
  const cpu = fp8.gemm(a, qb);
  const gpu = read(`${c.name}_c.f32`, Float32Array);
  let num = 0;
  let den = 0;
  for (let i = 0; i < cpu.length; i++) {
    num += (gpu[i] - cpu[i]) ** 2;
    den += cpu[i] ** 2;
  }
  const rel = Math.sqrt(num / (den || 1));
  // with 14 mantissa bits kept inside each 32-product chunk, the CPU emulation of Hopper
  const cpu14 = fp8.gemm(a, qb, { accumBits: 14 });
  let num14 = 0;
  for (let i = 0; i < cpu.length; i++) num14 += (cpu14[i] - cpu[i]) ** 2;
  const ok = codesOk && scalesOk && rel <= 1e-3;
  if (!ok) failures++;
  console.log(JSON.stringify({ kind: "cpu-compare", case: c.name, shape: [c.m, c.n, c.k], codes_equal: codesOk, scales_equal: scalesOk, gpu_vs_cpu_rel_err: rel, cpu14_vs_cpu_rel_err: Math.sqrt(num14 / (den || 1)), ok }));
}
process.exit(failures ? 1 : 0);
