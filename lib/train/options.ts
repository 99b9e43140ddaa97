/** Option checking shared by lib/train: each bad value is an error naming the option and the value. */

/** Throws when `opts` is not a plain object or holds a key outside `allowed`. */
export function checkKeys(opts: unknown, allowed: readonly string[], where: string): void {
  if (opts === undefined) return;
  if (opts === null || typeof opts !== "object" || Array.isArray(opts))
    throw new TypeError(`${where}: options must be an object, got ${show(opts)}`);
  for (const k of Object.keys(opts))
    if (!allowed.includes(k))
      throw new TypeError(
        `${where}: unknown option ${JSON.stringify(k)} (known: ${allowed.join(", ")})`,
      );
}

/** A number within [lo, hi] (ends excluded when `openLo` / `openHi`); finite unless `allowInf`. */
export function checkNumber(
  x: unknown,
  name: string,
  where: string,
  lo: number,
  hi = Infinity,
  opts: { openLo?: boolean; openHi?: boolean; allowInf?: boolean } = {},
): number {
  const ok =
    typeof x === "number" &&
    !Number.isNaN(x) &&
    (opts.openLo ? x > lo : x >= lo) &&
    (opts.openHi ? x < hi : x <= hi) &&
    (Number.isFinite(x) || opts.allowInf === true);
  if (!ok) {
    const range =
      hi === Infinity
        ? `a ${opts.allowInf ? "" : "finite "}number ${opts.openLo ? ">" : ">="} ${lo}`
        : `in ${opts.openLo ? "(" : "["}${lo}, ${hi}${opts.openHi ? ")" : "]"}`;
    throw new RangeError(`${where}: ${name} must be ${range}, got ${show(x)}`);
  }
  return x as number;
}

/** A non-negative integer (steps, counts). */
export function checkCount(x: unknown, name: string, where: string): number {
  if (typeof x !== "number" || !Number.isSafeInteger(x) || x < 0)
    throw new RangeError(`${where}: ${name} must be a non-negative integer, got ${show(x)}`);
  return x;
}

export function show(x: unknown): string {
  if (typeof x === "number") return String(x);
  if (typeof x === "function") return "a function";
  try {
    const s = JSON.stringify(x);
    return s === undefined ? String(x) : s;
  } catch {
    return String(x);
  }
}
