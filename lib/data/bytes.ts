/** The byte-level tokenizer: ids 0..255 are UTF-8 bytes, then the special tokens. */
import { DISPLAY, escapeHtml } from "./display.js";
import {
  checkId,
  checkSpecials,
  printableBytes,
  specialIdOf,
  splitSpecials,
  utf8Decoder,
  utf8Encoder,
  writeTokenizer,
  type EncodeOptions,
  type Tokenizer,
} from "./tokenizer.js";

export interface ByteTokenizerJSON {
  kind: "byte";
  vocabSize: number;
  specials: string[];
}

export class ByteTokenizer implements Tokenizer {
  readonly kind = "byte";
  readonly specials: readonly string[];
  readonly vocabSize: number;
  private readonly specialBytes: Uint8Array[];

  /** `specials` (default none) get ids 256, 257, ...; vocabSize is 256 + their count. */
  constructor(opts: { specials?: readonly string[] } = {}) {
    this.specials = Object.freeze(checkSpecials(opts.specials ?? []));
    this.vocabSize = 256 + this.specials.length;
    this.specialBytes = this.specials.map((s) => utf8Encoder.encode(s));
  }

  static fromJSON(json: unknown): ByteTokenizer {
    const j = json as Partial<ByteTokenizerJSON> | null;
    if (j === null || typeof j !== "object" || j.kind !== "byte")
      throw new Error(
        `not a byte tokenizer: kind is ${JSON.stringify((j as { kind?: unknown } | null)?.kind)}`,
      );
    const t = new ByteTokenizer({ specials: checkSpecials(j.specials ?? []) });
    if (j.vocabSize !== undefined && j.vocabSize !== t.vocabSize)
      throw new Error(
        `byte tokenizer JSON: vocabSize is ${j.vocabSize} but 256 bytes + ` +
          `${t.specials.length} specials make ${t.vocabSize}`,
      );
    return t;
  }

  encode(text: string, opts: EncodeOptions = {}): Int32Array {
    if (typeof text !== "string") throw new TypeError("encode expects a string");
    if (!opts.allowSpecials || this.specials.length === 0)
      return new Int32Array(utf8Encoder.encode(text));
    const parts = splitSpecials(text, this.specials).map((p) =>
      typeof p === "number" ? new Int32Array([p]) : new Int32Array(utf8Encoder.encode(p)),
    );
    const out = new Int32Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  decode(ids: ArrayLike<number>): string {
    const n = ids.length;
    let len = 0;
    for (let i = 0; i < n; i++) {
      const id = ids[i];
      checkId(id, this.vocabSize);
      len += id < 256 ? 1 : this.specialBytes[id - 256].length;
    }
    const bytes = new Uint8Array(len);
    let o = 0;
    for (let i = 0; i < n; i++) {
      const id = ids[i];
      if (id < 256) bytes[o++] = id;
      else {
        bytes.set(this.specialBytes[id - 256], o);
        o += this.specialBytes[id - 256].length;
      }
    }
    return utf8Decoder.decode(bytes);
  }

  tokenText(id: number): string {
    checkId(id, this.vocabSize);
    return id < 256 ? printableBytes(Uint8Array.of(id)) : this.specials[id - 256];
  }

  specialId(token: string): number {
    return specialIdOf(this.specials, token);
  }

  toJSON(): ByteTokenizerJSON {
    return { kind: "byte", vocabSize: this.vocabSize, specials: [...this.specials] };
  }

  save(path: string): void {
    writeTokenizer(path, this.toJSON());
  }

  toString(): string {
    const sp = this.specials.length
      ? `, specials ${this.specials.map((s) => JSON.stringify(s)).join(" ")}`
      : "";
    return `ByteTokenizer: ${this.vocabSize} ids (256 bytes${sp})`;
  }

  [DISPLAY](): Record<string, string> {
    return {
      "text/plain": this.toString(),
      "text/html": `<code>${escapeHtml(this.toString())}</code>`,
    };
  }
}
