/**
 * Checkpoints of a training run, so that a later fit() continues bit for bit:
 *
 *   DIR/step-N/   model0-mp1.safetensors, config.json, moelab.json, tokenizer.json (the model's
 *                 own save), optimizer.safetensors (AdamW's moments), trainer.json (step, clock,
 *                 data position, optimizer scalars, options, history)
 *   DIR/latest    "step-N": the newest complete checkpoint
 *
 * Each checkpoint is written in a temporary directory that is renamed into place, then `latest`
 * is replaced by a rename: a crash or a kill during a save leaves the previous one loadable.
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { readSafetensors, writeSafetensorsSync, type TensorEntry } from "../io/index.js";
import type { MomentTensor } from "./optim.js";

export const LATEST = "latest";
export const TRAINER_FILE = "trainer.json";
export const OPTIMIZER_FILE = "optimizer.safetensors";
export const TRAINER_FORMAT = "moelab.trainer";

/** Thrown for a checkpoint that is missing, unreadable or of another run. */
export class RunCheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RunCheckpointError";
  }
}

export function stepDirName(step: number): string {
  return `step-${step}`;
}

/**
 * Writes checkpoint `step` into `dir`: `writeModel(path)` saves the model there, then the
 * optimizer's moments and the trainer's JSON go beside it. Keeps the newest `keep` checkpoints.
 */
export function writeRunCheckpoint(
  dir: string,
  step: number,
  writeModel: (path: string) => void,
  moments: ReadonlyMap<string, MomentTensor>,
  trainer: object,
  keep: number,
): string {
  mkdirSync(dir, { recursive: true });
  const name = stepDirName(step);
  const tmp = join(dir, `.${name}.tmp-${process.pid}-${Date.now()}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    writeModel(tmp);
    writeSafetensorsSync(join(tmp, OPTIMIZER_FILE), moments as ReadonlyMap<string, TensorEntry>, {
      format: "moelab",
    });
    writeFileSync(join(tmp, TRAINER_FILE), JSON.stringify(trainer) + "\n");
    const final = join(dir, name);
    if (existsSync(final)) {
      // A checkpoint of the same step from an earlier run: replaced only once the new one exists.
      const old = join(dir, `.${name}.old-${process.pid}-${Date.now()}`);
      renameSync(final, old);
      renameSync(tmp, final);
      rmSync(old, { recursive: true, force: true });
    } else renameSync(tmp, final);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  const latestTmp = join(dir, `.${LATEST}.tmp-${process.pid}`);
  writeFileSync(latestTmp, name + "\n");
  renameSync(latestTmp, join(dir, LATEST));
  prune(dir, keep, step);
  return join(dir, name);
}

/** Steps of the complete checkpoints in dir, ascending. */
export function checkpointSteps(dir: string): number[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((n) => /^step-(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .filter((s) => existsSync(join(dir, stepDirName(s), TRAINER_FILE)))
    .sort((a, b) => a - b);
}

function prune(dir: string, keep: number, newest: number): void {
  if (!(keep >= 1)) return;
  const steps = checkpointSteps(dir).filter((s) => s !== newest);
  for (const s of steps.slice(0, Math.max(0, steps.length - (keep - 1))))
    rmSync(join(dir, stepDirName(s)), { recursive: true, force: true });
}

/**
 * The checkpoint directory `path` names: a step-N directory itself, or a run directory whose
 * `latest` names one.
 */
export function resolveCheckpoint(path: string): string {
  if (existsSync(join(path, TRAINER_FILE))) return path;
  const latest = join(path, LATEST);
  if (!existsSync(latest))
    throw new RunCheckpointError(
      `${path}: no training checkpoint here (neither ${TRAINER_FILE} nor a "${LATEST}" file)`,
    );
  const name = readFileSync(latest, "utf8").trim();
  if (!/^step-\d+$/.test(name))
    throw new RunCheckpointError(`${latest}: expected "step-N", found ${JSON.stringify(name)}`);
  const p = join(path, name);
  if (!existsSync(join(p, TRAINER_FILE)))
    throw new RunCheckpointError(`${latest} names ${name}, which has no ${TRAINER_FILE}`);
  return p;
}

/** trainer.json of a checkpoint directory, checked to be one. */
export function readTrainerJSON(ckpt: string): Record<string, unknown> {
  const p = join(ckpt, TRAINER_FILE);
  let o: unknown;
  try {
    o = JSON.parse(readFileSync(p, "utf8"));
  } catch (e) {
    throw new RunCheckpointError(`${p}: ${(e as Error).message}`);
  }
  if (!o || typeof o !== "object" || (o as { format?: unknown }).format !== TRAINER_FORMAT)
    throw new RunCheckpointError(`${p}: not a moelab trainer checkpoint`);
  return o as Record<string, unknown>;
}

/** The optimizer's moments of a checkpoint directory. */
export async function readMoments(ckpt: string): Promise<Map<string, MomentTensor>> {
  const p = join(ckpt, OPTIMIZER_FILE);
  if (!existsSync(p)) throw new RunCheckpointError(`${p}: missing`);
  const st = await readSafetensors(p);
  const out = new Map<string, MomentTensor>();
  for (const [n, e] of st.tensors) {
    if (e.dtype !== "F32" && e.dtype !== "BF16")
      throw new RunCheckpointError(`${p}: moment "${n}" is ${e.dtype}, expected F32 or BF16`);
    out.set(n, { dtype: e.dtype, shape: e.shape, data: e.data as Float32Array | Uint16Array });
  }
  return out;
}
