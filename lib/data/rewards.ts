/**
 * Rule-based rewards, R1-Zero style: functions of (prompt, completion) returning a number.
 * `accuracyReward(task)` is 1 when the answer inside the answer tags checks, `formatReward(task)`
 * is 1 when the response is `<think>…</think> <answer>…</answer>` with an answer the task can
 * parse; `combineRewards` sums rewards with weights.
 *
 *   const reward = combineRewards([[accuracyReward(add), 1], [formatReward(add), 0.1]]);
 *   reward(prompt, completion);   // 1.1 for a right, well-formed answer
 */
import { parseCompletion, type Task } from "./tasks.js";

/** A reward: a finite number for a completion of a prompt. */
export type RewardFn = (prompt: string, completion: string) => number;

/** 1 when the answer inside `<answer>…</answer>` is right for the prompt's question, else 0. */
export function accuracyReward(task: Task): RewardFn {
  const fn: RewardFn = (prompt, completion) => {
    const { answer } = parseCompletion(completion);
    return answer !== null && task.check(prompt, answer) ? 1 : 0;
  };
  return named(fn, `accuracy(${task.name})`);
}

/** Answers each task can parse (whatever their value): digits, a list, letters, an expression. */
const PARSABLE: Record<string, RegExp> = {
  addition: /^\d+$/,
  sorting: /^\d+(?:[\s,]+\d+)*$/,
  reversal: /^[a-zA-Z0-9]+$/,
  countdown: /^[\d\s()+\-*/x×]+$/,
};

/**
 * 1 when the response is well formed: reasoning closed by `</think>`, then one answer tag and
 * nothing else, and the answer parsable for the task (any value); else 0.
 */
export function formatReward(task?: Task): RewardFn {
  const re = task ? PARSABLE[task.name] : undefined;
  const fn: RewardFn = (_prompt, completion) => {
    const p = parseCompletion(completion);
    if (!p.wellFormed || p.answer === null || p.answer === "") return 0;
    return re === undefined || re.test(p.answer) ? 1 : 0;
  };
  return named(fn, task ? `format(${task.name})` : "format");
}

/** Σ weight · reward; a reward that throws or is not finite is an error naming it and the prompt. */
export function combineRewards(parts: readonly (readonly [RewardFn, number])[]): RewardFn {
  if (!Array.isArray(parts) || parts.length === 0)
    throw new TypeError("combineRewards: give a non-empty list of [reward, weight] pairs");
  parts.forEach(([f, w], i) => {
    if (typeof f !== "function") throw new TypeError(`combineRewards: part ${i} is not a function`);
    if (typeof w !== "number" || !Number.isFinite(w))
      throw new RangeError(
        `combineRewards: the weight of part ${i} must be a finite number, got ${String(w)}`,
      );
  });
  const fn: RewardFn = (prompt, completion) => {
    let s = 0;
    for (const [f, w] of parts) s += w * callReward(f, prompt, completion);
    return s;
  };
  return named(fn, parts.map(([f, w]) => `${w}·${f.name || "reward"}`).join(" + "));
}

/**
 * Calls a reward and checks it: an exception or a non-finite value becomes an error naming the
 * reward and the prompt.
 */
export function callReward(f: RewardFn, prompt: string, completion: string): number {
  let r: number;
  const what = `reward ${f.name || "(anonymous)"} on prompt ${JSON.stringify(prompt.length > 80 ? prompt.slice(0, 80) + "…" : prompt)}`;
  try {
    r = f(prompt, completion);
  } catch (e) {
    throw new Error(`${what} threw: ${(e as Error).message ?? String(e)}`, { cause: e });
  }
  if (typeof r !== "number" || !Number.isFinite(r))
    throw new RangeError(
      `${what} returned ${String(r)}, not a finite number (completion ${JSON.stringify(completion.slice(0, 80))})`,
    );
  return r;
}

function named(fn: RewardFn, name: string): RewardFn {
  Object.defineProperty(fn, "name", { value: name });
  return fn;
}
