/** Shared by the lib/train tests: seeded data, the PyTorch oracle, bitwise and norm-wise checks. */
import { relErr } from "../../helpers/numeric.js";
import { Rng } from "../../../lib/tensor/index.js";
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { DEBIAN_PYTHON } from "../../helpers/env.js";

export const ORACLE = resolve(__dirname, "..", "..", "..", "..", "test", "oracle", "adamw_ref.py");

/** Seeded normal samples (mulberry32 + Box-Muller), as float32. */
export function normals(n: number, seed: number, scale = 1): Float32Array {
  const r = Rng.fromState(seed >>> 0);
  const u = (): number => (r.nextUint32() + 0.5) / 4294967296;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++)
    out[i] = scale * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

export interface OracleParam {
  name: string;
  shape: number[];
  data: number[];
  decay: boolean;
}
export interface OracleStep {
  grads: (number[] | null)[];
  lr: number;
  clip?: number | null;
}
export interface OracleJob {
  params: OracleParam[];
  steps: OracleStep[];
  betas: [number, number];
  eps: number;
  weight_decay: number;
  moments: "float32" | "bfloat16";
}
export interface OracleResult {
  params: number[][];
  exp_avg: (number[] | null)[];
  exp_avg_sq: (number[] | null)[];
  norms: (number | null)[];
}

/** Runs test/oracle/adamw_ref.py (torch 1.13) on jobs, in one Python process. */
export function runTorch(jobs: OracleJob[]): OracleResult[] {
  const r = spawnSync(DEBIAN_PYTHON, [ORACLE], {
    input: JSON.stringify(jobs),
    encoding: "utf8",
    maxBuffer: 1 << 28,
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as OracleResult[];
}

export { relErr };

export function assertRel(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string) {
  const e = relErr(a, b);
  assert.ok(e <= tol, `${what}: relative error ${e.toExponential(2)} > ${tol}`);
}

/** The same bits (NaNs compared by bit pattern too). */
export function assertBits(
  a: Float32Array | Uint16Array,
  b: Float32Array | Uint16Array,
  what: string,
): void {
  assert.equal(a.length, b.length, `${what}: lengths differ`);
  const ua = a instanceof Float32Array ? new Uint32Array(a.buffer, a.byteOffset, a.length) : a;
  const ub = b instanceof Float32Array ? new Uint32Array(b.buffer, b.byteOffset, b.length) : b;
  for (let i = 0; i < ua.length; i++)
    if (ua[i] !== ub[i])
      assert.fail(`${what}: element ${i} differs: ${a[i]} vs ${b[i]} (bits ${ua[i]} vs ${ub[i]})`);
}
