/**
 * Verifiable synthetic tasks for post-training (R1-Zero style): seeded generators with difficulty
 * knobs and exact checkers for multi-digit addition, sorting a short list, reversing a string and
 * a countdown puzzle (reach a target with given numbers and + - x /).
 *
 *   const add = tasks.addition({ digits: 2 });
 *   const ex = add.examples(100, { seed: 0 });     // { prompt, question, completion, answer }
 *   add.check(ex[0].prompt, "46");                   // the checked answer of a prompt
 *
 * Each prompt follows R1-Zero's template: the question, the instruction to reason inside
 * `<think> ... </think>` and answer inside `<answer> ... </answer>`, and an opening `<think>` the
 * completion continues. The truth is recovered from the prompt alone, so rewards are functions of
 * (prompt, completion).
 */
import { Rng } from "../tensor/index.js";

/** One task instance: the prompt, its question, a reference completion and the right answer. */
export interface TaskExample {
  /** The full prompt in R1-Zero's template (ends with the opening `<think>`). */
  prompt: string;
  /** The bare question (`12+34`, `sort 5 3 9`, ...). */
  question: string;
  /** A reference completion: reasoning, `</think>`, and the answer inside the answer tags. */
  completion: string;
  /** The reference answer (one of possibly several right ones for countdown). */
  answer: string;
}

/** Options of `Task.examples`. */
export interface ExamplesOptions {
  /** Seed of the generator (default 0). */
  seed?: number;
  /** Questions never to produce (held-out sets: pass the training questions, or the reverse). */
  exclude?: Iterable<string>;
  /** Distinct questions only (default true). */
  unique?: boolean;
  /** Include the instruction sentence in each prompt (default true; see r1Prompt). */
  instruction?: boolean;
}

/** A task: a seeded generator and an exact checker. */
export interface Task {
  /** "addition", "sorting", "reversal" or "countdown". */
  readonly name: string;
  /** The difficulty knobs, as given (defaults filled in). */
  readonly level: Readonly<Record<string, number | string | boolean>>;
  /** One random question from `rng`. */
  question(rng: Rng): string;
  /** The right answer of a question (a solution for countdown), or null when it has none. */
  solve(question: string): string | null;
  /** Reasoning then the answer: the reference completion of a question. */
  reference(question: string): string;
  /** True when `answer` (the text inside the answer tags) is right for the prompt's question. */
  check(prompt: string, answer: string): boolean;
  /** `n` examples from a seed (distinct unless unique is false; excluded questions skipped). */
  examples(n: number, opts?: ExamplesOptions): TaskExample[];
}

const INSTRUCTION =
  "Think inside <think> </think>, then give the answer inside <answer> </answer>.";

/**
 * R1-Zero's template at notebook size: `User: <question>. <instruction>\nAssistant: <think>`, or
 * without the instruction sentence (`instruction: false`, 3x fewer tokens for byte-level models:
 * `User: <question>\nAssistant: <think>`). The completion continues the reasoning, closes it with
 * `</think>` and ends with the answer tag.
 */
export function r1Prompt(question: string, opts: { instruction?: boolean } = {}): string {
  return opts.instruction === false
    ? `User: ${question}\nAssistant: <think>`
    : `User: ${question}. ${INSTRUCTION}\nAssistant: <think>`;
}

/** The question of a prompt made by r1Prompt (either form), or null when it is not one. */
export function promptQuestion(prompt: string): string | null {
  const tail = "\nAssistant: <think>";
  if (!prompt.startsWith("User: ") || !prompt.endsWith(tail)) return null;
  const body = prompt.slice(6, prompt.length - tail.length);
  const full = `. ${INSTRUCTION}`;
  return body.endsWith(full) ? body.slice(0, body.length - full.length) : body;
}

/** The pieces of a response (the prompt's opening `<think>` included): reasoning and answer. */
export interface ParsedResponse {
  /** True when the response is exactly `<think>…</think> <answer>…</answer>` (spaces allowed). */
  wellFormed: boolean;
  think: string | null;
  /** The answer text, trimmed, or null when there is no complete answer tag. */
  answer: string | null;
}

/**
 * Parses a completion of an r1Prompt prompt: the prompt opened `<think>`, so the completion
 * should read `reasoning</think> <answer>answer</answer>`, optionally followed by a newline.
 */
export function parseCompletion(completion: string): ParsedResponse {
  const text = "<think>" + completion;
  const m = /^<think>([^<]*)<\/think>\s*<answer>([^<]*)<\/answer>\s*$/.exec(text);
  if (m) return { wellFormed: true, think: m[1], answer: m[2].trim() };
  const a = /<answer>([^<]*)<\/answer>/.exec(text);
  return { wellFormed: false, think: null, answer: a ? a[1].trim() : null };
}

function int(v: unknown, name: string, where: string, lo: number, hi: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi)
    throw new RangeError(
      `${where}: ${name} must be an integer in [${lo}, ${hi}], got ${String(v)}`,
    );
  return v;
}

/** The shared parts: examples() over question/reference, check() through the question. */
abstract class BaseTask implements Task {
  abstract readonly name: string;
  abstract readonly level: Readonly<Record<string, number | string | boolean>>;
  abstract question(rng: Rng): string;
  abstract solve(question: string): string | null;
  abstract reference(question: string): string;
  /** True when `answer` is right for `question` (the question is one this task produced). */
  protected abstract checkQuestion(question: string, answer: string): boolean;

  check(prompt: string, answer: string): boolean {
    const q = promptQuestion(prompt);
    if (q === null)
      throw new Error(
        `${this.name}: the prompt ${JSON.stringify(prompt.slice(0, 60))} is not in the task's template`,
      );
    return this.checkQuestion(q, answer.trim());
  }

  examples(n: number, opts: ExamplesOptions = {}): TaskExample[] {
    int(n, "n", `${this.name}.examples`, 0, 1e7);
    const rng = new Rng(opts.seed ?? 0);
    const skip = new Set(opts.exclude ?? []);
    const unique = opts.unique ?? true;
    const out: TaskExample[] = [];
    let tries = 0;
    while (out.length < n) {
      if (++tries > 50 * n + 1000)
        throw new RangeError(
          `${this.name}.examples: only ${out.length} of ${n} distinct questions found at level ${JSON.stringify(this.level)} (raise the difficulty or ask for fewer)`,
        );
      const q = this.question(rng);
      if (skip.has(q)) continue;
      if (unique) skip.add(q);
      out.push({
        prompt: r1Prompt(q, { instruction: opts.instruction }),
        question: q,
        completion: this.reference(q),
        answer: this.solve(q)!,
      });
    }
    return out;
  }

  /** The reference completion around reasoning `think` and answer `answer`. */
  protected wrap(think: string, answer: string): string {
    return `${think}</think> <answer>${answer}</answer>`;
  }

  toString(): string {
    return `${this.name} task ${JSON.stringify(this.level)}`;
  }
}

export interface AdditionOptions {
  /** Digits of the first operand (default 2). */
  digits?: number;
  /** Digits of the second operand (default: digits). */
  digitsB?: number;
  /**
   * Write both operands with this many digits, zero-padded on the left (`07+58`), and reason over
   * that many columns (default 0: no padding). Easier levels written at the width of a harder one
   * share its layout: a model that learned `2+1` and `1+2` at width 2 has seen every column of a
   * `2+2` question, only never both operands' tens digits non-zero at once.
   */
  pad?: number;
  /**
   * Carries between the operands' columns (a column whose sum, with the carry it received, is 10
   * or more, into a column the longer operand has): "any" (default), "none" or "some" (at least
   * one). The carry out of the top column is `overflow`'s.
   */
  carry?: "any" | "none" | "some";
  /**
   * Whether the sum has more digits than the longer operand (`57+61=118`): "any" (default), true
   * or false. `{ digits: 2, carry: "some", overflow: false }` is the level where the units carry
   * into a tens column that stays below 10 (`49+33`), `{ digits: 2, carry: "none" }` one with no
   * carry into the tens.
   */
  overflow?: boolean | "any";
}

/** Draws per question before a level with carry/overflow constraints is declared too narrow. */
const ADDITION_TRIES = 10_000;

/** `a+b` with a of `digits` digits and b of `digitsB`; reasoning adds column by column. */
class Addition extends BaseTask {
  readonly name = "addition";
  readonly level: {
    digits: number;
    digitsB: number;
    pad: number;
    carry: "any" | "none" | "some";
    overflow: boolean | "any";
  };
  constructor(o: AdditionOptions) {
    super();
    const digits = int(o.digits ?? 2, "digits", "addition", 1, 15);
    const digitsB = int(o.digitsB ?? digits, "digitsB", "addition", 1, 15);
    const pad = int(o.pad ?? 0, "pad", "addition", 0, 15);
    if (pad !== 0 && pad < Math.max(digits, digitsB))
      throw new RangeError(
        `addition: pad ${pad} is narrower than the operands (${digits} and ${digitsB} digits)`,
      );
    const carry = o.carry ?? "any";
    if (carry !== "any" && carry !== "none" && carry !== "some")
      throw new RangeError(
        `addition: carry must be "any", "none" or "some", got ${JSON.stringify(o.carry)}`,
      );
    const overflow = o.overflow ?? "any";
    if (overflow !== "any" && overflow !== true && overflow !== false)
      throw new RangeError(
        `addition: overflow must be true, false or "any", got ${JSON.stringify(o.overflow)}`,
      );
    if (carry === "some" && Math.max(digits, digitsB) < 2)
      throw new RangeError(
        'addition: 1-digit operands have no carry between columns; carry must be "any" or "none"',
      );
    this.level = { digits, digitsB, pad, carry, overflow };
  }
  /** Whether a + b has the level's carries and overflow. */
  private fits(a: number, b: number): boolean {
    const { carry, overflow } = this.level;
    if (carry === "any" && overflow === "any") return true;
    const width = Math.max(String(a).length, String(b).length);
    let inner = 0;
    let c = 0;
    for (let i = 0, x = a, y = b; i < width; i++, x = Math.floor(x / 10), y = Math.floor(y / 10)) {
      c = (x % 10) + (y % 10) + c >= 10 ? 1 : 0;
      if (c && i < width - 1) inner++;
    }
    if (carry === "none" && inner > 0) return false;
    if (carry === "some" && inner === 0) return false;
    return overflow === "any" || overflow === (c === 1);
  }
  private show(x: number): string {
    return String(x).padStart(this.level.pad, "0");
  }
  private operand(rng: Rng, d: number): number {
    const lo = d === 1 ? 0 : 10 ** (d - 1);
    return lo + rng.below(10 ** d - lo);
  }
  question(rng: Rng): string {
    for (let t = 0; t < ADDITION_TRIES; t++) {
      const a = this.operand(rng, this.level.digits);
      const b = this.operand(rng, this.level.digitsB);
      if (this.fits(a, b)) return `${this.show(a)}+${this.show(b)}`;
    }
    throw new RangeError(
      `addition: no question of level ${JSON.stringify(this.level)} found in ${ADDITION_TRIES} draws`,
    );
  }
  private parse(q: string): [number, number] | null {
    const m = /^(\d+)\+(\d+)$/.exec(q);
    return m ? [Number(m[1]), Number(m[2])] : null;
  }
  solve(q: string): string | null {
    const p = this.parse(q);
    return p ? String(p[0] + p[1]) : null;
  }
  /** Columns from the right: `7+8=15,5+6+1=12` for 57+68 (every padded column when padded). */
  reference(q: string): string {
    const p = this.parse(q);
    if (!p) throw new Error(`addition: ${JSON.stringify(q)} is not a question of this task`);
    const [a, b] = p.map((x) => this.show(x).split("").reverse().map(Number));
    const cols: string[] = [];
    let carry = 0;
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const x = a[i] ?? 0;
      const y = b[i] ?? 0;
      const s = x + y + carry;
      cols.push(`${x}+${y}${carry ? "+1" : ""}=${s}`);
      carry = s >= 10 ? 1 : 0;
    }
    return this.wrap(cols.join(","), String(p[0] + p[1]));
  }
  protected checkQuestion(q: string, answer: string): boolean {
    const want = this.solve(q);
    return want !== null && /^\d+$/.test(answer) && answer.replace(/^0+(?=\d)/, "") === want;
  }
}

export interface SortingOptions {
  /** Numbers in the list (default 4). */
  length?: number;
  /** Largest number (default 9). */
  max?: number;
}

/** `sort 5 3 9` → `3 5 9` (ascending, space-separated). */
class Sorting extends BaseTask {
  readonly name = "sorting";
  readonly level: { length: number; max: number };
  constructor(o: SortingOptions) {
    super();
    this.level = {
      length: int(o.length ?? 4, "length", "sorting", 1, 50),
      max: int(o.max ?? 9, "max", "sorting", 1, 1e6),
    };
  }
  question(rng: Rng): string {
    const xs = Array.from({ length: this.level.length }, () => rng.below(this.level.max + 1));
    return `sort ${xs.join(" ")}`;
  }
  private parse(q: string): number[] | null {
    const m = /^sort ((?:\d+ )*\d+)$/.exec(q);
    return m ? m[1].split(" ").map(Number) : null;
  }
  solve(q: string): string | null {
    const xs = this.parse(q);
    return xs ? [...xs].sort((a, b) => a - b).join(" ") : null;
  }
  /** The minimum, repeatedly: `min 3, min 5, min 9`. */
  reference(q: string): string {
    const s = this.solve(q);
    if (s === null) throw new Error(`sorting: ${JSON.stringify(q)} is not a question of this task`);
    return this.wrap(
      s
        .split(" ")
        .map((x) => `min ${x}`)
        .join(", "),
      s,
    );
  }
  protected checkQuestion(q: string, answer: string): boolean {
    const want = this.solve(q);
    return (
      want !== null &&
      answer
        .split(/[\s,]+/)
        .filter(Boolean)
        .join(" ") === want
    );
  }
}

export interface ReversalOptions {
  /** Characters (default 5). */
  length?: number;
  /** Letters drawn from (default a-z). */
  alphabet?: string;
}

/** `reverse abcde` → `edcba`. */
class Reversal extends BaseTask {
  readonly name = "reversal";
  readonly level: { length: number; alphabet: string };
  constructor(o: ReversalOptions) {
    super();
    const alphabet = o.alphabet ?? "abcdefghijklmnopqrstuvwxyz";
    if (typeof alphabet !== "string" || !/^[a-zA-Z0-9]+$/.test(alphabet))
      throw new TypeError(
        `reversal: alphabet must be a non-empty string of letters and digits, got ${JSON.stringify(alphabet)}`,
      );
    this.level = { length: int(o.length ?? 5, "length", "reversal", 1, 100), alphabet };
  }
  question(rng: Rng): string {
    const a = this.level.alphabet;
    let s = "";
    for (let i = 0; i < this.level.length; i++) s += a[rng.below(a.length)];
    return `reverse ${s}`;
  }
  solve(q: string): string | null {
    const m = /^reverse ([a-zA-Z0-9]+)$/.exec(q);
    return m ? m[1].split("").reverse().join("") : null;
  }
  /** Letter by letter from the end: `e d c b a`. */
  reference(q: string): string {
    const s = this.solve(q);
    if (s === null)
      throw new Error(`reversal: ${JSON.stringify(q)} is not a question of this task`);
    return this.wrap(s.split("").join(" "), s);
  }
  protected checkQuestion(q: string, answer: string): boolean {
    const want = this.solve(q);
    return want !== null && answer === want;
  }
}

export interface CountdownOptions {
  /** How many numbers are given (default 3); a solution uses each exactly once. */
  numbers?: number;
  /** Largest given number (default 9). */
  max?: number;
  /** Operators allowed, from "+-*\/" (default all four; "x" is read as "*"). */
  ops?: string;
}

/** A countdown expression: numbers, + - * / (or x), parentheses. Null when malformed. */
export function evalExpression(expr: string): { value: number; numbers: number[] } | null {
  const toks =
    expr
      .replace(/\s+/g, "")
      .replace(/[x×]/g, "*")
      .match(/\d+|[-+*/()]|./g) ?? [];
  let i = 0;
  const numbers: number[] = [];
  const atom = (): number | null => {
    const t = toks[i];
    if (t === "(") {
      i++;
      const v = sum();
      if (toks[i] !== ")") return null;
      i++;
      return v;
    }
    if (t !== undefined && /^\d+$/.test(t)) {
      i++;
      numbers.push(Number(t));
      return Number(t);
    }
    return null;
  };
  const product = (): number | null => {
    let v = atom();
    while (v !== null && (toks[i] === "*" || toks[i] === "/")) {
      const op = toks[i++];
      const w = atom();
      if (w === null) return null;
      v = op === "*" ? v * w : v / w;
    }
    return v;
  };
  const sum = (): number | null => {
    let v = product();
    while (v !== null && (toks[i] === "+" || toks[i] === "-")) {
      const op = toks[i++];
      const w = product();
      if (w === null) return null;
      v = op === "+" ? v + w : v - w;
    }
    return v;
  };
  const v = sum();
  if (v === null || i !== toks.length || toks.length === 0) return null;
  return { value: v, numbers };
}

/** `use 3 5 7 to make 22` → an expression such as `3*5+7` using each number exactly once. */
class Countdown extends BaseTask {
  readonly name = "countdown";
  readonly level: { numbers: number; max: number; ops: string };
  constructor(o: CountdownOptions) {
    super();
    const ops = (o.ops ?? "+-*/").replace(/x/g, "*");
    if (typeof ops !== "string" || ops.length === 0 || !/^[-+*/]+$/.test(ops))
      throw new TypeError(`countdown: ops must be some of "+-*/", got ${JSON.stringify(o.ops)}`);
    this.level = {
      numbers: int(o.numbers ?? 3, "numbers", "countdown", 2, 6),
      max: int(o.max ?? 9, "max", "countdown", 1, 1000),
      ops,
    };
  }
  /** Numbers, then a left-to-right expression over them whose value is a positive integer. */
  question(rng: Rng): string {
    const { numbers: n, max, ops } = this.level;
    for (;;) {
      const xs = Array.from({ length: n }, () => 1 + rng.below(max));
      let v = xs[0];
      let ok = true;
      for (let k = 1; k < n && ok; k++) {
        const op = ops[rng.below(ops.length)];
        v = op === "+" ? v + xs[k] : op === "-" ? v - xs[k] : op === "*" ? v * xs[k] : v / xs[k];
        ok = Number.isInteger(v) && v > 0;
      }
      if (ok) return `use ${rng.shuffle(xs).join(" ")} to make ${v}`;
    }
  }
  private parse(q: string): { xs: number[]; target: number } | null {
    const m = /^use ((?:\d+ )*\d+) to make (\d+)$/.exec(q);
    return m ? { xs: m[1].split(" ").map(Number), target: Number(m[2]) } : null;
  }
  /** A solution by search over every expression tree (small n), or null. */
  solve(q: string): string | null {
    const p = this.parse(q);
    if (!p) return null;
    type Item = { v: number; e: string; prec: number };
    const ops = this.level.ops;
    const search = (items: Item[]): string | null => {
      if (items.length === 1) return Math.abs(items[0].v - p.target) < 1e-9 ? items[0].e : null;
      for (let i = 0; i < items.length; i++)
        for (let j = 0; j < items.length; j++) {
          if (i === j) continue;
          const a = items[i];
          const b = items[j];
          const rest = items.filter((_, k) => k !== i && k !== j);
          for (const op of ops) {
            if (op === "/" && b.v === 0) continue;
            const v =
              op === "+" ? a.v + b.v : op === "-" ? a.v - b.v : op === "*" ? a.v * b.v : a.v / b.v;
            const prec = op === "+" || op === "-" ? 1 : 2;
            const l = a.prec < prec ? `(${a.e})` : a.e;
            const r =
              b.prec < prec || (b.prec === prec && (op === "-" || op === "/")) ? `(${b.e})` : b.e;
            const found = search([...rest, { v, e: `${l}${op}${r}`, prec }]);
            if (found) return found;
          }
        }
      return null;
    };
    return search(p.xs.map((x) => ({ v: x, e: String(x), prec: 3 })));
  }
  reference(q: string): string {
    const s = this.solve(q);
    if (s === null) throw new Error(`countdown: ${JSON.stringify(q)} has no solution`);
    const target = this.parse(q)!.target;
    return this.wrap(`${s}=${target}`, s);
  }
  protected checkQuestion(q: string, answer: string): boolean {
    const p = this.parse(q);
    if (!p) return false;
    const r = evalExpression(answer);
    if (!r || Math.abs(r.value - p.target) > 1e-9) return false;
    // Every given number exactly once.
    const a = [...r.numbers].sort((x, y) => x - y).join(" ");
    const b = [...p.xs].sort((x, y) => x - y).join(" ");
    if (a !== b) return false;
    const used = answer.replace(/[x×]/g, "*").replace(/[\d\s()]/g, "");
    return [...used].every((c) => this.level.ops.includes(c));
  }
}

/** Multi-digit addition: `digits` (and `digitsB`) set the operands' lengths. */
export function addition(opts: AdditionOptions = {}): Task {
  return new Addition(opts);
}
/** Sorting a short list of numbers ascending: `length` numbers in [0, max]. */
export function sorting(opts: SortingOptions = {}): Task {
  return new Sorting(opts);
}
/** Reversing a string of `length` characters from `alphabet`. */
export function reversal(opts: ReversalOptions = {}): Task {
  return new Reversal(opts);
}
/** Countdown: reach the target with every given number once and the allowed operators. */
export function countdown(opts: CountdownOptions = {}): Task {
  return new Countdown(opts);
}
