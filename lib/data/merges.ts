/**
 * Byte-pair merging, the two directions: learning merges from chunk counts (training), and
 * applying learned merges to one chunk's bytes (encoding).
 */
import { forEachChunk } from "./pretokenize.js";
import { utf8Encoder, type TrainProgress } from "./tokenizer.js";

/** Pair (a, b) as one number; ids stay below 2^20. */
export const PAIR = 1 << 20;
/** Chunks longer than this (in bytes) merge with a heap instead of repeated scans. */
const LONG_CHUNK = 48;

/**
 * A chunk's bytes with the merges applied lowest rank first, each rank's occurrences left to
 * right (the order training merged them in).
 */
export function applyMerges(
  bytes: Uint8Array,
  rank: ReadonlyMap<number, number>,
  firstMerge: number,
): Int32Array {
  if (bytes.length > LONG_CHUNK) return applyMergesHeap(bytes, rank, firstMerge);
  const ids = Array.from(bytes);
  while (ids.length > 1) {
    let best = -1;
    for (let i = 0; i + 1 < ids.length; i++) {
      const r = rank.get(ids[i] * PAIR + ids[i + 1]);
      if (r !== undefined && (best < 0 || r < best)) best = r;
    }
    if (best < 0) break;
    const id = firstMerge + best;
    let w = 0;
    for (let i = 0; i < ids.length; i++) {
      if (i + 1 < ids.length && rank.get(ids[i] * PAIR + ids[i + 1]) === best) {
        ids[w++] = id;
        i++;
      } else ids[w++] = ids[i];
    }
    ids.length = w;
  }
  return Int32Array.from(ids);
}

/** The same as applyMerges for long chunks: a linked list and a heap of (rank, position). */
export function applyMergesHeap(
  bytes: Uint8Array,
  rank: ReadonlyMap<number, number>,
  firstMerge: number,
): Int32Array {
  const n = bytes.length;
  const id = Int32Array.from(bytes);
  const next = new Int32Array(n).map((_, i) => i + 1);
  const prev = new Int32Array(n).map((_, i) => i - 1);
  const alive = new Uint8Array(n).fill(1);
  const heap = new MinHeap();
  const consider = (i: number): void => {
    const j = next[i];
    if (j >= n) return;
    const r = rank.get(id[i] * PAIR + id[j]);
    if (r !== undefined) heap.push(r, i);
  };
  for (let i = 0; i + 1 < n; i++) consider(i);
  while (heap.size > 0) {
    const [r, i] = heap.pop();
    const j = next[i];
    // Stale: the left node was merged away, or its pair changed since it was pushed.
    if (!alive[i] || j >= n || rank.get(id[i] * PAIR + id[j]) !== r) continue;
    id[i] = firstMerge + r;
    alive[j] = 0;
    next[i] = next[j];
    if (next[j] < n) prev[next[j]] = i;
    if (prev[i] >= 0) consider(prev[i]);
    consider(i);
  }
  const out: number[] = [];
  for (let i = 0; i < n; i = next[i]) out.push(id[i]);
  return Int32Array.from(out);
}

/** A binary min-heap of number pairs, ordered by the first number, then the second. */
class MinHeap {
  private r: number[] = [];
  private p: number[] = [];
  get size(): number {
    return this.r.length;
  }
  private less(a: number, b: number): boolean {
    return this.r[a] < this.r[b] || (this.r[a] === this.r[b] && this.p[a] < this.p[b]);
  }
  private swap(a: number, b: number): void {
    [this.r[a], this.r[b]] = [this.r[b], this.r[a]];
    [this.p[a], this.p[b]] = [this.p[b], this.p[a]];
  }
  push(first: number, second: number): void {
    this.r.push(first);
    this.p.push(second);
    for (let i = this.r.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }
  pop(): [number, number] {
    const top: [number, number] = [this.r[0], this.p[0]];
    const last = this.r.length - 1;
    this.swap(0, last);
    this.r.pop();
    this.p.pop();
    for (let i = 0; ;) {
      const l = 2 * i + 1;
      const rr = l + 1;
      let m = i;
      if (l < last && this.less(l, m)) m = l;
      if (rr < last && this.less(rr, m)) m = rr;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return top;
  }
}

/**
 * The training loop. Words are the distinct chunks with their counts; `where` lists, for each
 * pair, the words that held it when it was counted (entries may be stale: checked on use).
 */
export function learnMerges(
  texts: readonly string[],
  firstMerge: number,
  target: number,
  minFrequency: number,
  onProgress: ((p: TrainProgress) => void) | undefined,
): [number, number][] {
  const chunkCount = new Map<string, number>();
  for (const t of texts) forEachChunk(t, (c) => chunkCount.set(c, (chunkCount.get(c) ?? 0) + 1));
  const words: Int32Array[] = [];
  const freq: number[] = [];
  for (const [chunk, f] of chunkCount) {
    const b = utf8Encoder.encode(chunk);
    if (b.length < 2) continue;
    words.push(Int32Array.from(b));
    freq.push(f);
  }
  chunkCount.clear();

  const count = new Map<number, number>();
  const where = new Map<number, number[]>();
  words.forEach((w, wi) => {
    for (let i = 0; i + 1 < w.length; i++) {
      const key = w[i] * PAIR + w[i + 1];
      count.set(key, (count.get(key) ?? 0) + freq[wi]);
      const list = where.get(key);
      // Consecutive duplicates come from one word holding the pair twice.
      if (!list) where.set(key, [wi]);
      else if (list[list.length - 1] !== wi) list.push(wi);
    }
  });
  // Most frequent first, then the smallest key: a min-heap of (-count, key).
  const heap = new MinHeap();
  for (const [key, c] of count) heap.push(-c, key);

  const merges: [number, number][] = [];
  const seen = new Int32Array(words.length).fill(-1);
  const changed = new Set<number>();
  const add = (key: number, delta: number): void => {
    const c = (count.get(key) ?? 0) + delta;
    if (c === 0) count.delete(key);
    else count.set(key, c);
    changed.add(key);
  };
  let lastFrequency = 0;
  while (merges.length < target && heap.size > 0) {
    const [negCount, key] = heap.pop();
    const c = -negCount;
    if (count.get(key) !== c) continue; // stale entry
    if (c < minFrequency) break;
    lastFrequency = c;
    const a = Math.floor(key / PAIR);
    const b = key - a * PAIR;
    const z = firstMerge + merges.length;
    merges.push([a, b]);
    changed.clear();
    for (const wi of where.get(key) ?? []) {
      if (seen[wi] === z) continue;
      seen[wi] = z;
      const w = words[wi];
      let holds = false;
      for (let i = 0; i + 1 < w.length; i++)
        if (w[i] === a && w[i + 1] === b) {
          holds = true;
          break;
        }
      if (!holds) continue;
      const f = freq[wi];
      for (let i = 0; i + 1 < w.length; i++) add(w[i] * PAIR + w[i + 1], -f);
      const merged = new Int32Array(w.length);
      let m = 0;
      for (let i = 0; i < w.length; i++) {
        if (i + 1 < w.length && w[i] === a && w[i + 1] === b) {
          merged[m++] = z;
          i++;
        } else merged[m++] = w[i];
      }
      const nw = merged.slice(0, m);
      words[wi] = nw;
      for (let i = 0; i + 1 < m; i++) {
        const k = nw[i] * PAIR + nw[i + 1];
        add(k, f);
        if (nw[i] === z || nw[i + 1] === z) {
          const list = where.get(k);
          if (!list) where.set(k, [wi]);
          else if (list[list.length - 1] !== wi) list.push(wi);
        }
      }
    }
    where.delete(key);
    for (const k of changed) {
      const cur = count.get(k);
      if (cur !== undefined) heap.push(-cur, k);
    }
    if (onProgress && merges.length % 100 === 0)
      onProgress({ merges: merges.length, target, frequency: c });
  }
  onProgress?.({ merges: merges.length, target, frequency: lastFrequency });
  return merges;
}
