/**
 * Source maps of the cells and local .ts modules that ran, so stack traces name positions in the
 * TypeScript the user wrote. Maps are kept as their compact "mappings" text and decoded only when
 * an error needs them.
 */

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const DIGIT = new Int8Array(128).fill(-1);
for (let i = 0; i < BASE64.length; i++) DIGIT[BASE64.charCodeAt(i)] = i;

/** Per generated line: flat [genCol, srcLine, srcCol, ...] triples, 0-based, sorted by genCol. */
type Decoded = Int32Array[];

function decode(mappings: string): Decoded {
  const lines: Decoded = [];
  let srcLine = 0;
  let srcCol = 0;
  let srcIdx = 0;
  for (const lineText of mappings.split(";")) {
    const seg: number[] = [];
    let genCol = 0;
    for (const part of lineText.split(",")) {
      if (!part) continue;
      const fields: number[] = [];
      let value = 0;
      let shift = 0;
      for (let i = 0; i < part.length; i++) {
        const d = DIGIT[part.charCodeAt(i)] ?? -1;
        if (d < 0) break;
        value += (d & 31) << shift;
        if (d & 32) shift += 5;
        else {
          fields.push(value & 1 ? -(value >>> 1) : value >>> 1);
          value = 0;
          shift = 0;
        }
      }
      genCol += fields[0] ?? 0;
      if (fields.length >= 4) {
        srcIdx += fields[1];
        srcLine += fields[2];
        srcCol += fields[3];
        seg.push(genCol, srcLine, srcCol);
      }
    }
    lines.push(Int32Array.from(seg));
  }
  void srcIdx;
  return lines;
}

interface Entry {
  mappings: string;
  decoded?: Decoded;
  /** The original source, for the line shown under an error. */
  source: string;
  /** Name shown in tracebacks, e.g. "In[3]" or the file path. */
  displayName: string;
}

export class SourceMaps {
  private entries = new Map<string, Entry>();

  /** Registers the map of a generated script (`file` as V8 names it in stacks). */
  register(file: string, mapJson: string, source: string, displayName = file): void {
    let mappings = "";
    try {
      mappings = (JSON.parse(mapJson) as { mappings?: string }).mappings ?? "";
    } catch {
      // A missing map only costs the mapping of positions.
    }
    this.entries.set(file, { mappings, source, displayName });
  }

  has(file: string): boolean {
    return this.entries.has(file);
  }

  /** 1-based generated (line, column) -> 1-based original position, when known. */
  map(file: string, line: number, column: number): { line: number; column: number } | undefined {
    const e = this.entries.get(file);
    if (!e) return undefined;
    e.decoded ??= decode(e.mappings);
    const segs = e.decoded[line - 1];
    if (!segs || segs.length === 0) {
      // No mapping on that line (synthesized code): use the nearest mapped line above.
      for (let l = line - 2; l >= 0; l--) {
        const s = e.decoded[l];
        if (s && s.length) return { line: s[s.length - 2] + 1, column: 1 };
      }
      return undefined;
    }
    const col = column - 1;
    let best = 0;
    for (let i = 0; i < segs.length; i += 3) {
      if (segs[i] <= col) best = i;
      else break;
    }
    return { line: segs[best + 1] + 1, column: segs[best + 2] + 1 };
  }

  sourceLine(file: string, line: number): string | undefined {
    const e = this.entries.get(file);
    return e?.source.split("\n")[line - 1];
  }

  displayName(file: string): string {
    return this.entries.get(file)?.displayName ?? file;
  }
}
