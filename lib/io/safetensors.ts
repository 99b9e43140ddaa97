/**
 * safetensors reader and writer on raw typed arrays (no tensor runtime needed).
 *
 * Format: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON (padded with spaces), then the
 * data. The header maps each tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets
 * relative to the start of the data) and may hold "__metadata__": {string: string}. Tensors are
 * row-major, little-endian, and together cover the data exactly, without gaps or overlaps.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";

/** Thrown for a malformed file or an invalid tensor; the message names the tensor or header field. */
export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SafetensorsError";
  }
}

/** The byte-sized dtypes of the safetensors format. */
export type Dtype =
  | "BOOL"
  | "U8"
  | "I8"
  | "F8_E4M3"
  | "F8_E5M2"
  | "F8_E8M0"
  | "I16"
  | "U16"
  | "F16"
  | "BF16"
  | "I32"
  | "U32"
  | "F32"
  | "I64"
  | "U64"
  | "F64"
  | "C64";

export const DTYPE_SIZE: Readonly<Record<Dtype, number>> = Object.freeze({
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  F8_E8M0: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
  C64: 8,
});

export const DTYPES: readonly Dtype[] = Object.freeze(Object.keys(DTYPE_SIZE) as Dtype[]);

/** Sub-byte dtypes newer safetensors versions define; recognised only to name them in errors. */
const SUB_BYTE = ["F4", "F6_E2M3", "F6_E3M2"];

export type TensorData =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

/** One tensor: dtype, shape, and its data (typed array of the dtype's natural kind, or raw bytes). */
export interface TensorEntry {
  dtype: Dtype;
  shape: number[];
  data: TensorData;
}

/** A tensor's header entry. */
export interface TensorInfo {
  dtype: Dtype;
  shape: number[];
  /** [begin, end) relative to the start of the data section. */
  dataOffsets: [number, number];
}

export interface Header {
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
  /** Byte offset of the data section in the file (8 + N). */
  dataStart: number;
  /** Bytes in the data section. */
  dataLength: number;
}

/** The safetensors library's limit on the header size. */
export const MAX_HEADER_SIZE = 100_000_000;

type TypedCtor = {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TensorData;
  BYTES_PER_ELEMENT: number;
};

/** The typed array each dtype reads into; 16-bit floats and FP8 stay raw bit patterns. */
const VIEW: Record<Dtype, TypedCtor> = {
  BOOL: Uint8Array,
  U8: Uint8Array,
  I8: Int8Array,
  F8_E4M3: Uint8Array,
  F8_E5M2: Uint8Array,
  F8_E8M0: Uint8Array,
  I16: Int16Array,
  U16: Uint16Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  I32: Int32Array,
  U32: Uint32Array,
  F32: Float32Array,
  I64: BigInt64Array,
  U64: BigUint64Array,
  F64: Float64Array,
  C64: Float32Array,
};

function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function isDtype(x: unknown): x is Dtype {
  return typeof x === "string" && Object.prototype.hasOwnProperty.call(DTYPE_SIZE, x);
}

function checkName(name: string): void {
  if (name.length === 0) throw new SafetensorsError("tensor name must not be empty");
  if (name === "__metadata__")
    throw new SafetensorsError(`"__metadata__" is reserved and cannot name a tensor`);
}

function checkShape(name: string, shape: unknown): number[] {
  if (!Array.isArray(shape))
    throw new SafetensorsError(
      `tensor "${name}": shape must be an array, got ${JSON.stringify(shape)}`,
    );
  for (const d of shape)
    if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 0)
      throw new SafetensorsError(
        `tensor "${name}": shape ${JSON.stringify(shape)} must hold non-negative integers`,
      );
  if (!Number.isSafeInteger(numel(shape)))
    throw new SafetensorsError(`tensor "${name}": shape ${JSON.stringify(shape)} overflows`);
  return shape as number[];
}

/**
 * Parses and validates a header from its JSON bytes. `dataLength` is the size of the data section
 * (file size - 8 - N), which the tensors must cover exactly.
 */
export function parseHeaderJSON(
  json: Uint8Array | string,
  dataLength: number,
  dataStart: number,
): Header {
  let text: string;
  try {
    text = typeof json === "string" ? json : new TextDecoder("utf-8", { fatal: true }).decode(json);
  } catch {
    throw new SafetensorsError("header is not valid UTF-8");
  }
  if (!text.startsWith("{"))
    throw new SafetensorsError(
      `header must be a JSON object starting with "{", got ${JSON.stringify(text.slice(0, 20))}`,
    );
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw))
    throw new SafetensorsError("header must be a JSON object");
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(raw as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (v === null || typeof v !== "object" || Array.isArray(v))
        throw new SafetensorsError(`"__metadata__" must be an object of strings`);
      for (const [k, s] of Object.entries(v as Record<string, unknown>))
        if (typeof s !== "string")
          throw new SafetensorsError(
            `"__metadata__" value of "${k}" must be a string, got ${JSON.stringify(s)}`,
          );
      metadata = v as Record<string, string>;
      continue;
    }
    if (name.length === 0) throw new SafetensorsError("tensor name must not be empty");
    if (v === null || typeof v !== "object" || Array.isArray(v))
      throw new SafetensorsError(`tensor "${name}": entry must be an object`);
    const e = v as Record<string, unknown>;
    for (const k of Object.keys(e))
      if (k !== "dtype" && k !== "shape" && k !== "data_offsets")
        throw new SafetensorsError(`tensor "${name}": unknown field "${k}"`);
    if (!isDtype(e.dtype)) {
      const why = SUB_BYTE.includes(e.dtype as string)
        ? " (sub-byte dtypes are not supported)"
        : "";
      throw new SafetensorsError(
        `tensor "${name}": unknown dtype ${JSON.stringify(e.dtype)}${why}; known: ${DTYPES.join(", ")}`,
      );
    }
    const shape = checkShape(name, e.shape);
    const off = e.data_offsets;
    if (
      !Array.isArray(off) ||
      off.length !== 2 ||
      !off.every((x) => typeof x === "number" && Number.isSafeInteger(x) && x >= 0)
    )
      throw new SafetensorsError(
        `tensor "${name}": data_offsets must be [begin, end] with non-negative integers, got ${JSON.stringify(off)}`,
      );
    const [b, end] = off as [number, number];
    if (end < b)
      throw new SafetensorsError(
        `tensor "${name}": data_offsets [${b}, ${end}] end before they begin`,
      );
    if (end > dataLength)
      throw new SafetensorsError(
        `tensor "${name}": data_offsets [${b}, ${end}] run past the data section (${dataLength} bytes)`,
      );
    const want = numel(shape) * DTYPE_SIZE[e.dtype];
    if (end - b !== want)
      throw new SafetensorsError(
        `tensor "${name}": ${end - b} bytes in data_offsets but shape ${JSON.stringify(shape)} x ${e.dtype} (${DTYPE_SIZE[e.dtype]} bytes) needs ${want}`,
      );
    tensors.set(name, { dtype: e.dtype, shape, dataOffsets: [b, end] });
  }
  // The tensors must tile the data section: sorted by offset, each begins where the last ended.
  const sorted = [...tensors.entries()].sort(
    (x, y) =>
      x[1].dataOffsets[0] - y[1].dataOffsets[0] || x[1].dataOffsets[1] - y[1].dataOffsets[1],
  );
  let pos = 0;
  let prev = "(start of data)";
  for (const [name, t] of sorted) {
    if (t.dataOffsets[0] < pos)
      throw new SafetensorsError(
        `tensor "${name}" overlaps tensor "${prev}" (begins at ${t.dataOffsets[0]}, before ${pos})`,
      );
    if (t.dataOffsets[0] > pos)
      throw new SafetensorsError(
        `gap in the data: tensor "${name}" begins at ${t.dataOffsets[0]} but "${prev}" ends at ${pos}`,
      );
    pos = t.dataOffsets[1];
    prev = name;
  }
  if (pos !== dataLength)
    throw new SafetensorsError(
      `the tensors cover ${pos} bytes but the data section holds ${dataLength} (trailing bytes or truncated header)`,
    );
  return { tensors, metadata, dataStart, dataLength };
}

function readHeaderSize(first8: Uint8Array, fileSize: number): number {
  if (fileSize < 8)
    throw new SafetensorsError(`file too small for a safetensors header (${fileSize} bytes)`);
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_SIZE))
    throw new SafetensorsError(`header size ${n} exceeds the limit of ${MAX_HEADER_SIZE} bytes`);
  const size = Number(n);
  if (8 + size > fileSize)
    throw new SafetensorsError(
      `header size ${size} runs past the end of the file (${fileSize} bytes)`,
    );
  return size;
}

/** Parses the header of an in-memory safetensors buffer. */
export function parseHeader(buf: Uint8Array): Header {
  const n = readHeaderSize(buf.subarray(0, 8), buf.byteLength);
  return parseHeaderJSON(buf.subarray(8, 8 + n), buf.byteLength - 8 - n, 8 + n);
}

/** Typed view (or copy, when misaligned) of a tensor's bytes. */
function toTyped(dtype: Dtype, bytes: Uint8Array, raw: boolean): TensorData {
  if (raw) return bytes;
  const C = VIEW[dtype];
  const len = bytes.byteLength / C.BYTES_PER_ELEMENT;
  if (bytes.byteOffset % C.BYTES_PER_ELEMENT === 0)
    return new C(bytes.buffer, bytes.byteOffset, len);
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new C(copy.buffer, 0, len);
}

export interface ReadOptions {
  /** Only these tensors (an unknown name is an error). */
  names?: readonly string[];
  /** Return every tensor's data as raw bytes (Uint8Array) instead of its natural typed array. */
  raw?: boolean;
}

export interface Safetensors {
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string>;
}

/** Reads a whole in-memory file. Tensor data are views into `buf` where aligned. */
export function deserialize(buf: Uint8Array, opts: ReadOptions = {}): Safetensors {
  const h = parseHeader(buf);
  const tensors = new Map<string, TensorEntry>();
  for (const name of opts.names ?? [...h.tensors.keys()]) {
    const t = h.tensors.get(name);
    if (!t) throw new SafetensorsError(`no tensor named "${name}" in the file`);
    const bytes = buf.subarray(h.dataStart + t.dataOffsets[0], h.dataStart + t.dataOffsets[1]);
    tensors.set(name, {
      dtype: t.dtype,
      shape: [...t.shape],
      data: toTyped(t.dtype, bytes, opts.raw ?? false),
    });
  }
  return { tensors, metadata: { ...h.metadata } };
}

/** The natural typed array kind for a dtype, e.g. "Float32Array" for F32. */
export function typedArrayName(dtype: Dtype): string {
  return VIEW[dtype].name;
}

function bytesOf(name: string, t: TensorEntry): Uint8Array {
  if (!isDtype(t.dtype))
    throw new SafetensorsError(
      `tensor "${name}": unknown dtype ${JSON.stringify(t.dtype)}; known: ${DTYPES.join(", ")}`,
    );
  const shape = checkShape(name, t.shape);
  const d = t.data as unknown;
  if (!ArrayBuffer.isView(d) || d instanceof DataView)
    throw new SafetensorsError(
      `tensor "${name}": data must be a typed array, got ${d === null ? "null" : typeof d}`,
    );
  const view = d as TensorData;
  if (!(view instanceof Uint8Array) && !(view instanceof VIEW[t.dtype]))
    throw new SafetensorsError(
      `tensor "${name}": data for ${t.dtype} must be a ${typedArrayName(t.dtype)} or raw bytes (Uint8Array), got ${view.constructor.name}`,
    );
  const want = numel(shape) * DTYPE_SIZE[t.dtype];
  if (view.byteLength !== want)
    throw new SafetensorsError(
      `tensor "${name}": data holds ${view.byteLength} bytes but shape ${JSON.stringify(shape)} x ${t.dtype} needs ${want}`,
    );
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** Tensors to write: a Map (in any order) or a plain object of name -> tensor. */
export type TensorInput = ReadonlyMap<string, TensorEntry> | Readonly<Record<string, TensorEntry>>;

interface Layout {
  header: Uint8Array;
  order: [string, Uint8Array][];
  total: number;
}

/** Validates the tensors and lays them out: larger dtypes first, then by name, so each is aligned. */
function layout(tensors: TensorInput, metadata?: Record<string, string>): Layout {
  const entries: [string, TensorEntry][] =
    tensors instanceof Map
      ? [...(tensors as ReadonlyMap<string, TensorEntry>).entries()]
      : Object.entries(tensors as Readonly<Record<string, TensorEntry>>);
  const seen = new Set<string>();
  const items: [string, TensorEntry, Uint8Array][] = [];
  for (const [name, t] of entries) {
    checkName(name);
    if (seen.has(name)) throw new SafetensorsError(`tensor "${name}" given twice`);
    seen.add(name);
    items.push([name, t, bytesOf(name, t)]);
  }
  items.sort(
    (a, b) =>
      DTYPE_SIZE[b[1].dtype] - DTYPE_SIZE[a[1].dtype] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0),
  );
  // No prototype: a tensor named "__proto__" is an own key like any other.
  const head: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata))
      if (typeof v !== "string")
        throw new SafetensorsError(`metadata value of "${k}" must be a string, got ${typeof v}`);
    head.__metadata__ = metadata;
  }
  let pos = 0;
  for (const [name, t, bytes] of items) {
    head[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [pos, pos + bytes.byteLength] };
    pos += bytes.byteLength;
  }
  let json = new TextEncoder().encode(JSON.stringify(head));
  // Spaces pad the header so the data section starts 8-byte aligned.
  const padded = Math.ceil(json.byteLength / 8) * 8;
  if (padded !== json.byteLength) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  if (json.byteLength > MAX_HEADER_SIZE)
    throw new SafetensorsError(
      `header of ${json.byteLength} bytes exceeds the limit of ${MAX_HEADER_SIZE}`,
    );
  const header = new Uint8Array(8 + json.byteLength);
  new DataView(header.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  header.set(json, 8);
  return { header, order: items.map(([n, , b]) => [n, b]), total: header.byteLength + pos };
}

/** Serialises tensors (and optional string metadata) to one buffer. */
export function serialize(tensors: TensorInput, metadata?: Record<string, string>): Uint8Array {
  const l = layout(tensors, metadata);
  const out = new Uint8Array(l.total);
  out.set(l.header, 0);
  let pos = l.header.byteLength;
  for (const [, b] of l.order) {
    out.set(b, pos);
    pos += b.byteLength;
  }
  return out;
}

/**
 * writeSafetensors without yielding to the event loop, for callers that must not be interleaved
 * (a training loop saving a checkpoint between steps).
 */
export function writeSafetensorsSync(
  path: string,
  tensors: TensorInput,
  metadata?: Record<string, string>,
): void {
  const l = layout(tensors, metadata);
  const fd = openSync(path, "w");
  try {
    writeAllSync(fd, l.header);
    for (const [, b] of l.order) writeAllSync(fd, b);
  } finally {
    closeSync(fd);
  }
}

function writeAllSync(fd: number, b: Uint8Array): void {
  let done = 0;
  while (done < b.byteLength) done += writeSync(fd, b, done, b.byteLength - done);
}

/** Writes a safetensors file tensor by tensor (no copy of the whole file in memory). */
export async function writeSafetensors(
  path: string,
  tensors: TensorInput,
  metadata?: Record<string, string>,
): Promise<void> {
  const l = layout(tensors, metadata);
  const fh = await open(path, "w");
  try {
    await fh.write(l.header, 0, l.header.byteLength);
    for (const [, b] of l.order) {
      let done = 0;
      while (done < b.byteLength) {
        const { bytesWritten } = await fh.write(b, done, b.byteLength - done);
        done += bytesWritten;
      }
    }
  } finally {
    await fh.close();
  }
}

async function readExactly(
  fh: FileHandle,
  into: Uint8Array,
  position: number,
  what: string,
): Promise<void> {
  let done = 0;
  while (done < into.byteLength) {
    const { bytesRead } = await fh.read(into, done, into.byteLength - done, position + done);
    if (bytesRead === 0) throw new SafetensorsError(`file ended while reading ${what}`);
    done += bytesRead;
  }
}

/**
 * An open safetensors file: the header is read and validated on open; tensors are read on
 * demand, so a large checkpoint never has to fit in memory at once.
 */
export class SafetensorsFile {
  private constructor(
    private fh: FileHandle | null,
    readonly path: string,
    readonly header: Header,
  ) {}

  static async open(path: string): Promise<SafetensorsFile> {
    const fh = await open(path, "r");
    try {
      const size = (await fh.stat()).size;
      const first = new Uint8Array(8);
      if (size >= 8) await readExactly(fh, first, 0, "the header size");
      const n = readHeaderSize(first, size);
      const json = new Uint8Array(n);
      await readExactly(fh, json, 8, "the header");
      let header: Header;
      try {
        header = parseHeaderJSON(json, size - 8 - n, 8 + n);
      } catch (e) {
        if (e instanceof SafetensorsError) e.message = `${path}: ${e.message}`;
        throw e;
      }
      return new SafetensorsFile(fh, path, header);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  get metadata(): Record<string, string> {
    return this.header.metadata;
  }

  /** Tensor names in file order. */
  names(): string[] {
    return [...this.header.tensors.entries()]
      .sort((a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0])
      .map(([n]) => n);
  }

  has(name: string): boolean {
    return this.header.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.header.tensors.get(name);
    if (!t) throw new SafetensorsError(`${this.path}: no tensor named "${name}"`);
    return t;
  }

  /** Reads one tensor's data (a fresh, aligned buffer). */
  async read(name: string, opts: { raw?: boolean } = {}): Promise<TensorEntry> {
    if (!this.fh) throw new SafetensorsError(`${this.path}: file is closed`);
    const t = this.info(name);
    const bytes = new Uint8Array(t.dataOffsets[1] - t.dataOffsets[0]);
    await readExactly(this.fh, bytes, this.header.dataStart + t.dataOffsets[0], `tensor "${name}"`);
    return {
      dtype: t.dtype,
      shape: [...t.shape],
      data: toTyped(t.dtype, bytes, opts.raw ?? false),
    };
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    if (fh) await fh.close();
  }
}

/** Reads a safetensors file (all tensors, or only `opts.names`, reading just their bytes). */
export async function readSafetensors(path: string, opts: ReadOptions = {}): Promise<Safetensors> {
  const f = await SafetensorsFile.open(path);
  try {
    const tensors = new Map<string, TensorEntry>();
    for (const name of opts.names ?? f.names())
      tensors.set(name, await f.read(name, { raw: opts.raw }));
    return { tensors, metadata: { ...f.metadata } };
  } finally {
    await f.close();
  }
}
