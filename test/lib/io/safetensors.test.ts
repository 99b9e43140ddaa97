import { strict as assert } from "node:assert";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DTYPES,
  DTYPE_SIZE,
  SafetensorsError,
  SafetensorsFile,
  deserialize,
  parseHeader,
  readSafetensors,
  serialize,
  writeSafetensors,
  type Dtype,
  type TensorEntry,
} from "../../../lib/io/index.js";

/** Deterministic bytes, so every bit pattern (NaN payloads, -0, subnormals) is exercised. */
function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

function sameBytes(a: TensorEntry["data"], b: TensorEntry["data"]): boolean {
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** A file from a raw header object and data bytes (to build malformed files). */
function rawFile(header: unknown, data: Uint8Array, headerText?: string): Uint8Array {
  const json = new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function throwsST(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SafetensorsError, `expected SafetensorsError, got ${String(e)}`);
    assert.match(e.message, re);
    return true;
  });
}

describe("io/safetensors", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "moelab-st-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("round-trips every dtype bit-exactly, with metadata", async () => {
    const tensors: Record<string, TensorEntry> = {};
    DTYPES.forEach((dt, i) => {
      const shape = [3, 5];
      tensors[`t.${dt}`] = { dtype: dt, shape, data: bytes(15 * DTYPE_SIZE[dt], i + 1) };
    });
    tensors["scalar"] = { dtype: "F32", shape: [], data: new Float32Array([Math.PI]) };
    tensors["empty"] = { dtype: "F32", shape: [0, 7], data: new Float32Array(0) };
    tensors["f32"] = {
      dtype: "F32",
      shape: [2, 2],
      data: new Float32Array([-0, NaN, Infinity, 1e-45]),
    };
    tensors["i64"] = {
      dtype: "I64",
      shape: [2],
      data: new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]),
    };
    const meta = { format: "pt", note: "moelab" };
    const buf = serialize(tensors, meta);
    const back = deserialize(buf);
    assert.deepEqual(back.metadata, meta);
    assert.equal(back.tensors.size, Object.keys(tensors).length);
    for (const [name, t] of Object.entries(tensors)) {
      const b = back.tensors.get(name);
      assert.ok(b, name);
      assert.equal(b.dtype, t.dtype);
      assert.deepEqual(b.shape, t.shape);
      assert.ok(sameBytes(b.data, t.data), `${name} differs`);
    }
    // Natural typed arrays come back.
    assert.ok(back.tensors.get("f32")?.data instanceof Float32Array);
    assert.ok(back.tensors.get("i64")?.data instanceof BigInt64Array);
    assert.ok(back.tensors.get("t.BF16")?.data instanceof Uint16Array);
    assert.ok(back.tensors.get("t.F8_E4M3")?.data instanceof Uint8Array);
    assert.equal((back.tensors.get("i64")?.data as BigInt64Array)[0], -(2n ** 63n));
    // Through a file, streamed, gives the same bytes.
    const path = join(dir, "all.safetensors");
    await writeSafetensors(path, tensors, meta);
    assert.ok(sameBytes(readFileSync(path), buf), "file and buffer writers agree");
    const fromFile = await readSafetensors(path);
    for (const [name, t] of Object.entries(tensors))
      assert.ok(sameBytes(fromFile.tensors.get(name)!.data, t.data), name);
  });

  it("lays the file out as the format says: u64 LE header size, padded JSON, aligned data", () => {
    const buf = serialize({
      b: { dtype: "U8", shape: [3], data: new Uint8Array([1, 2, 3]) },
      a: { dtype: "F64", shape: [1], data: new Float64Array([2]) },
      c: { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) },
    });
    const n = Number(new DataView(buf.buffer).getBigUint64(0, true));
    assert.equal(n % 8, 0);
    const json = JSON.parse(new TextDecoder().decode(buf.subarray(8, 8 + n)));
    assert.deepEqual(json.a, { dtype: "F64", shape: [1], data_offsets: [0, 8] });
    assert.deepEqual(json.c, { dtype: "F32", shape: [2], data_offsets: [8, 16] });
    assert.deepEqual(json.b, { dtype: "U8", shape: [3], data_offsets: [16, 19] });
    assert.equal(buf.length, 8 + n + 19);
    const h = parseHeader(buf);
    assert.equal(h.dataStart, 8 + n);
    assert.ok(!("__metadata__" in json), "no metadata key without metadata");
  });

  it("reads only the tensors asked for from a file handle", async () => {
    const path = join(dir, "big.safetensors");
    const big = new Float32Array(1 << 16).map((_, i) => i);
    await writeSafetensors(path, {
      big: { dtype: "F32", shape: [256, 256], data: big },
      small: { dtype: "I32", shape: [3], data: new Int32Array([7, 8, 9]) },
    });
    const f = await SafetensorsFile.open(path);
    try {
      assert.deepEqual(f.names().sort(), ["big", "small"]);
      assert.deepEqual(f.info("small").shape, [3]);
      const s = await f.read("small");
      assert.deepEqual([...(s.data as Int32Array)], [7, 8, 9]);
      const b = await f.read("big");
      assert.equal((b.data as Float32Array)[65535], 65535);
      await assert.rejects(f.read("nope"), /no tensor named "nope"/);
    } finally {
      await f.close();
    }
    await assert.rejects(f.read("small"), /closed/);
    const part = await readSafetensors(path, { names: ["small"] });
    assert.deepEqual([...part.tensors.keys()], ["small"]);
    const raw = await readSafetensors(path, { names: ["small"], raw: true });
    assert.ok(raw.tensors.get("small")!.data instanceof Uint8Array);
    assert.throws(
      () => deserialize(readFileSync(path), { names: ["zzz"] }),
      /no tensor named "zzz"/,
    );
  });

  it("copies misaligned tensors into aligned typed arrays", () => {
    // A header of odd length makes the data section start misaligned.
    const data = new Uint8Array(new Float32Array([1.5, -2]).buffer);
    const file = rawFile({ x: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, data);
    assert.notEqual(parseHeader(file).dataStart % 4, 0, "the test needs a misaligned data section");
    const t = deserialize(file).tensors.get("x")!;
    assert.deepEqual([...(t.data as Float32Array)], [1.5, -2]);
  });

  it("rejects malformed headers with clear errors", () => {
    const d8 = new Uint8Array(8);
    const ok = { x: { dtype: "F32", shape: [2], data_offsets: [0, 8] } };
    throwsST(() => parseHeader(new Uint8Array(4)), /too small/);
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 200_000_000n, true);
    throwsST(() => parseHeader(huge), /exceeds the limit/);
    const past = new Uint8Array(16);
    new DataView(past.buffer).setBigUint64(0, 100n, true);
    throwsST(() => parseHeader(past), /runs past the end/);
    throwsST(() => parseHeader(rawFile(null, d8, "{nope")), /not valid JSON/);
    throwsST(() => parseHeader(rawFile(null, d8, "[1]")), /must be a JSON object/);
    throwsST(
      () => parseHeader(rawFile({ x: { dtype: "F33", shape: [2], data_offsets: [0, 8] } }, d8)),
      /tensor "x": unknown dtype "F33"/,
    );
    throwsST(
      () => parseHeader(rawFile({ x: { dtype: "F4", shape: [16], data_offsets: [0, 8] } }, d8)),
      /sub-byte/,
    );
    throwsST(
      () => parseHeader(rawFile({ x: { dtype: "F32", shape: [-2], data_offsets: [0, 8] } }, d8)),
      /tensor "x": shape \[-2\]/,
    );
    throwsST(
      () => parseHeader(rawFile({ x: { dtype: "F32", shape: 2, data_offsets: [0, 8] } }, d8)),
      /shape must be an array/,
    );
    throwsST(
      () => parseHeader(rawFile({ x: { dtype: "F32", shape: [2], data_offsets: [0] } }, d8)),
      /data_offsets must be/,
    );
    throwsST(
      () => parseHeader(rawFile({ x: { dtype: "F32", shape: [2], data_offsets: [8, 0] } }, d8)),
      /end before they begin/,
    );
    throwsST(
      () => parseHeader(rawFile({ x: { dtype: "F32", shape: [2], data_offsets: [0, 16] } }, d8)),
      /run past the data section/,
    );
    throwsST(
      () => parseHeader(rawFile({ x: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, d8)),
      /tensor "x": 8 bytes .* needs 12/,
    );
    throwsST(
      () => parseHeader(rawFile({ ...ok, extra: 1 }, d8)),
      /tensor "extra": entry must be an object/,
    );
    throwsST(() => parseHeader(rawFile({ x: { ...ok.x, foo: 1 } }, d8)), /unknown field "foo"/);
    throwsST(
      () => parseHeader(rawFile({ __metadata__: { a: 1 }, ...ok }, d8)),
      /"__metadata__" value of "a" must be a string/,
    );
    throwsST(() => parseHeader(rawFile({ "": ok.x }, d8)), /name must not be empty/);
    // Coverage: overlaps, gaps and trailing bytes.
    const d16 = new Uint8Array(16);
    throwsST(
      () =>
        parseHeader(
          rawFile(
            {
              a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
              b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
            },
            new Uint8Array(12),
          ),
        ),
      /tensor "b" overlaps tensor "a"/,
    );
    throwsST(
      () =>
        parseHeader(
          rawFile(
            {
              a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
              b: { dtype: "F32", shape: [1], data_offsets: [12, 16] },
            },
            d16,
          ),
        ),
      /gap in the data: tensor "b" begins at 12/,
    );
    throwsST(() => parseHeader(rawFile(ok, d16)), /cover 8 bytes but the data section holds 16/);
    throwsST(
      () =>
        parseHeader(
          rawFile({ x: { dtype: "F32", shape: [2], data_offsets: [4, 12] } }, new Uint8Array(12)),
        ),
      /gap/,
    );
    assert.equal(parseHeader(rawFile(ok, d8)).tensors.get("x")!.dtype, "F32");
  });

  it("rejects bad tensors when writing, naming them", () => {
    throwsST(
      () => serialize({ w: { dtype: "F32", shape: [3], data: new Float32Array(2) } }),
      /tensor "w": data holds 8 bytes but shape \[3\] x F32 needs 12/,
    );
    throwsST(
      () => serialize({ w: { dtype: "F32", shape: [2], data: new Int32Array(2) } }),
      /tensor "w": data for F32 must be a Float32Array or raw bytes/,
    );
    throwsST(
      () => serialize({ w: { dtype: "F99" as Dtype, shape: [2], data: new Uint8Array(2) } }),
      /unknown dtype "F99"/,
    );
    throwsST(
      () => serialize({ w: { dtype: "F32", shape: [1.5], data: new Uint8Array(4) } }),
      /non-negative integers/,
    );
    throwsST(
      () => serialize({ w: { dtype: "F32", shape: [1], data: [1] as never } }),
      /data must be a typed array/,
    );
    throwsST(
      () => serialize({ __metadata__: { dtype: "U8", shape: [1], data: new Uint8Array(1) } }),
      /reserved/,
    );
    throwsST(
      () => serialize({ "": { dtype: "U8", shape: [1], data: new Uint8Array(1) } }),
      /must not be empty/,
    );
    throwsST(() => serialize({}, { a: 1 as never }), /metadata value of "a" must be a string/);
  });

  it("a tensor named __proto__ is written and read like any other", () => {
    const m = new Map<string, TensorEntry>([
      ["__proto__", { dtype: "F32", shape: [1], data: Float32Array.of(2.5) }],
      ["w", { dtype: "F32", shape: [1], data: Float32Array.of(1) }],
    ]);
    const back = deserialize(serialize(m)).tensors;
    assert.deepEqual([...back.keys()].sort(), ["__proto__", "w"]);
    assert.equal((back.get("__proto__")!.data as Float32Array)[0], 2.5);
  });

  it("reports the file name for a corrupt file on disk", async () => {
    const path = join(dir, "bad.safetensors");
    writeFileSync(
      path,
      rawFile({ x: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, new Uint8Array(4)),
    );
    await assert.rejects(
      SafetensorsFile.open(path),
      (e: Error) =>
        e instanceof SafetensorsError && e.message.includes(path) && /run past/.test(e.message),
    );
    writeFileSync(path, new Uint8Array(3));
    await assert.rejects(readSafetensors(path), /too small/);
  });
});
