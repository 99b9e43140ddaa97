/**
 * Checkpoint directories on raw tensors (no tensor runtime needed), validated against the config.
 *
 * "deepseek" layout (default; what DeepSeek's reference inference code loads):
 *   model0-mp1.safetensors (reference names), config.json (exactly ModelArgs), moelab.json.
 * "hf" layout (DeepSeek's released checkpoints, transformers/vLLM):
 *   model.safetensors (or shards listed in model.safetensors.index.json) with HF names, including
 *   the MTP layers' copies of the embedding and head, config.json in HF's format, moelab.json.
 *
 * In memory, tensors always use the reference names (`layers.{L}.attn.wq_a.weight`, ...).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  MOELAB_SETTINGS_DEFAULTS,
  parseModelArgs,
  parseMoelabSettings,
  settingsForDeepSeek,
  ModelConfig,
  type MoelabSettings,
} from "../config/index.js";
import { fromHFConfig, toHFConfig } from "./hfconfig.js";
import {
  CheckpointError,
  assertTensors,
  expectedTensors,
  fromHFName,
  toHFName,
  type Layout,
} from "./naming.js";
import { SafetensorsFile, writeSafetensorsSync, type TensorEntry } from "./safetensors.js";

export const DEEPSEEK_FILE = "model0-mp1.safetensors";
export const HF_FILE = "model.safetensors";
export const HF_INDEX = "model.safetensors.index.json";

export interface SaveOptions {
  layout?: Layout;
  /** Stored in the safetensors header's __metadata__. */
  metadata?: Record<string, string>;
}

/**
 * Writes a checkpoint directory. `tensors` use the reference names and must match the config
 * exactly (a CheckpointError lists every missing, extra or mis-shaped tensor otherwise).
 */
export async function saveCheckpoint(
  dir: string,
  config: ModelConfig,
  tensors: ReadonlyMap<string, TensorEntry>,
  opts: SaveOptions = {},
): Promise<void> {
  saveCheckpointSync(dir, config, tensors, opts);
}

/** saveCheckpoint without yielding to the event loop (a training loop's checkpoints). */
export function saveCheckpointSync(
  dir: string,
  config: ModelConfig,
  tensors: ReadonlyMap<string, TensorEntry>,
  opts: SaveOptions = {},
): void {
  const layout = opts.layout ?? "deepseek";
  assertTensors(expectedTensors(config.args, config.settings), tensors, "the tensors to save");
  mkdirSync(dir, { recursive: true });
  const metadata = { format: "pt", ...(opts.metadata ?? {}) };
  if (layout === "deepseek") {
    writeSafetensorsSync(join(dir, DEEPSEEK_FILE), tensors, metadata);
    writeFileSync(join(dir, "config.json"), config.configJson());
  } else {
    const hf = new Map<string, TensorEntry>();
    for (const [name, t] of tensors) hf.set(toHFName(name, config.args), t);
    // DeepSeek's release stores each MTP layer's (shared) embedding and head again.
    for (let k = 0; k < config.settings.mtp_depth; k++) {
      const L = config.args.n_layers + k;
      hf.set(`model.layers.${L}.embed_tokens.weight`, tensors.get("embed.weight")!);
      hf.set(`model.layers.${L}.shared_head.head.weight`, tensors.get("head.weight")!);
    }
    writeSafetensorsSync(join(dir, HF_FILE), hf, metadata);
    writeFileSync(
      join(dir, "config.json"),
      JSON.stringify(toHFConfig(config.args, config.settings), null, 2) + "\n",
    );
  }
  writeFileSync(join(dir, "moelab.json"), config.moelabJson());
}

export interface LoadOptions {
  /** Default: "deepseek" when model0-mp1.safetensors exists, else "hf". */
  layout?: Layout;
}

export interface LoadedCheckpoint {
  config: ModelConfig;
  layout: Layout;
  /** Reference names -> tensors, exactly those the config expects. */
  tensors: Map<string, TensorEntry>;
}

function readJSON(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new CheckpointError(`${path}: ${(e as Error).message}`);
  }
}

/** moelab.json if present; otherwise what the tensor names and DeepSeek's reference imply. */
function settingsFor(
  dir: string,
  names: Iterable<string>,
  nLayers: number,
  fallback: MoelabSettings,
): MoelabSettings {
  const path = join(dir, "moelab.json");
  if (existsSync(path)) return parseMoelabSettings(readJSON(path));
  const all = [...names];
  let mtp = 0;
  while (all.some((n) => n.startsWith(`layers.${nLayers + mtp}.`))) mtp++;
  const biased = all.some((n) => n.endsWith(".ffn.gate.bias"));
  return { ...fallback, mtp_depth: mtp, routing: biased ? "noaux_tc" : "plain" };
}

/** The HF safetensors files of a directory: one file, or the shards its index lists. */
function hfFiles(dir: string): string[] {
  if (existsSync(join(dir, HF_FILE))) return [join(dir, HF_FILE)];
  const idx = join(dir, HF_INDEX);
  if (!existsSync(idx))
    throw new CheckpointError(`${dir}: no ${DEEPSEEK_FILE}, ${HF_FILE} or ${HF_INDEX}`);
  const map = (readJSON(idx) as { weight_map?: Record<string, string> }).weight_map;
  if (!map || typeof map !== "object") throw new CheckpointError(`${idx}: no "weight_map"`);
  const files = [...new Set(Object.values(map))].sort();
  for (const f of files)
    if (typeof f !== "string" || f === "" || /[\\/]/.test(f) || f === "." || f === "..")
      throw new CheckpointError(
        `${idx}: shard ${JSON.stringify(f)} must be a file name in the checkpoint directory`,
      );
  return files.map((f) => join(dir, f));
}

function sameBytes(a: TensorEntry, b: TensorEntry): boolean {
  const x = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const y = new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength);
  if (a.dtype !== b.dtype || x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/**
 * Reads a checkpoint directory written by moelab, by DeepSeek's convert.py (mp1), or in Hugging
 * Face's layout, and checks it against its config: missing, extra or mis-shaped tensors are
 * reported by name before any weight is read.
 */
export async function loadCheckpoint(
  dir: string,
  opts: LoadOptions = {},
): Promise<LoadedCheckpoint> {
  const layout: Layout = opts.layout ?? (existsSync(join(dir, DEEPSEEK_FILE)) ? "deepseek" : "hf");
  const cfgPath = join(dir, "config.json");
  if (!existsSync(cfgPath)) throw new CheckpointError(`${dir}: no config.json`);
  const files = layout === "deepseek" ? [join(dir, DEEPSEEK_FILE)] : hfFiles(dir);
  const opened: SafetensorsFile[] = [];
  try {
    for (const f of files) {
      if (!existsSync(f)) throw new CheckpointError(`${dir}: missing ${f}`);
      opened.push(await SafetensorsFile.open(f));
    }
    // Reference name -> [file, name in file]; HF's tied copies are checked, then dropped.
    const where = new Map<string, [SafetensorsFile, string]>();
    const tied: [string, SafetensorsFile, string][] = [];
    let config: ModelConfig;
    if (layout === "deepseek") {
      const args = parseModelArgs(readJSON(cfgPath));
      for (const n of opened[0].names()) where.set(n, [opened[0], n]);
      config = new ModelConfig(
        args,
        settingsFor(dir, where.keys(), args.n_layers, settingsForDeepSeek(args)),
      );
    } else {
      const hf = fromHFConfig(readJSON(cfgPath) as Record<string, unknown>);
      for (const f of opened)
        for (const n of f.names()) {
          let ds: string | null;
          try {
            ds = fromHFName(n, hf.args);
          } catch (e) {
            throw new CheckpointError(`${f.path}: ${(e as Error).message}`);
          }
          if (ds === null) tied.push([n, f, n]);
          else if (where.has(ds))
            throw new CheckpointError(`${f.path}: tensor "${n}" appears in two files`);
          else where.set(ds, [f, n]);
        }
      const s = existsSync(join(dir, "moelab.json"))
        ? parseMoelabSettings(readJSON(join(dir, "moelab.json")))
        : { ...MOELAB_SETTINGS_DEFAULTS, ...hf.settings };
      config = new ModelConfig(hf.args, s);
    }
    const expected = expectedTensors(config.args, config.settings);
    const found = new Map([...where].map(([n, [f, inFile]]) => [n, f.info(inFile)]));
    const cfg = config;
    // HF files are reported under their own names; a name with no HF form is shown as is.
    const hfName = (n: string): string => {
      try {
        return toHFName(n, cfg.args);
      } catch {
        return n;
      }
    };
    // HF repeats the embedding and head in each MTP layer; anywhere else such a copy is extra.
    const mtpEnd = config.args.n_layers + config.settings.mtp_depth;
    const strayCopies = tied
      .map(([n]) => n)
      .filter((n) => {
        const L = Number(/^model\.layers\.(\d+)\./.exec(n)?.[1] ?? -1);
        return L < config.args.n_layers || L >= mtpEnd;
      });
    if (strayCopies.length > 0)
      throw new CheckpointError(
        `${dir} does not match the config:\nunexpected tensors (${strayCopies.length}):\n${strayCopies
          .slice(0, 20)
          .map((n) => `  ${n}`)
          .join("\n")}`,
      );
    assertTensors(
      expected,
      found,
      layout === "deepseek" ? join(dir, DEEPSEEK_FILE) : dir,
      layout === "deepseek" ? undefined : hfName,
    );
    const tensors = new Map<string, TensorEntry>();
    for (const t of expected) {
      const [f, inFile] = where.get(t.name)!;
      tensors.set(t.name, await f.read(inFile));
    }
    for (const [n, f] of tied) {
      const main = n.endsWith("embed_tokens.weight") ? "embed.weight" : "head.weight";
      if (!sameBytes(await f.read(n), tensors.get(main)!))
        throw new CheckpointError(
          `${f.path}: "${n}" differs from the main model's ${toHFName(main)}, but moelab shares them`,
        );
    }
    return { config, layout, tensors };
  } finally {
    for (const f of opened) await f.close();
  }
}
