/**
 * lib/data's post-training tasks and rewards: seeded generators with their difficulty knobs, exact
 * checkers (right answers accepted, near misses refused), the R1-Zero template, and rewards that
 * compose with weights and refuse a throwing or non-finite part with the prompt named.
 */
import { strict as assert } from "node:assert";
import {
  accuracyReward,
  addition,
  callReward,
  combineRewards,
  countdown,
  evalExpression,
  formatReward,
  parseCompletion,
  promptQuestion,
  r1Prompt,
  reversal,
  sorting,
  type Task,
} from "../../../lib/data/index.js";

const ALL: Task[] = [addition({ digits: 3 }), sorting({ length: 5 }), reversal(), countdown()];

describe("data/tasks", () => {
  it("prompts follow R1-Zero's template, with or without the instruction, and give back the question", () => {
    const p = r1Prompt("12+34");
    assert.match(
      p,
      /^User: 12\+34\. .*<think> <\/think>.*<answer> <\/answer>.*\nAssistant: <think>$/,
    );
    assert.equal(promptQuestion(p), "12+34");
    const short = r1Prompt("12+34", { instruction: false });
    assert.equal(short, "User: 12+34\nAssistant: <think>");
    assert.equal(promptQuestion(short), "12+34");
    assert.equal(promptQuestion("12+34"), null);
  });

  it("generators are seeded, distinct, and honour exclude (held-out sets are disjoint)", () => {
    for (const t of ALL) {
      const a = t.examples(20, { seed: 3 });
      const b = t.examples(20, { seed: 3 });
      assert.deepEqual(a, b, `${t.name}: same seed, same examples`);
      assert.notDeepEqual(t.examples(20, { seed: 4 }), a, `${t.name}: another seed differs`);
      assert.equal(new Set(a.map((e) => e.question)).size, 20);
      const held = t.examples(10, { seed: 5, exclude: a.map((e) => e.question) });
      for (const e of held) assert.ok(!a.some((x) => x.question === e.question));
    }
  });

  it("every reference completion is well formed and its answer checks", () => {
    for (const t of ALL)
      for (const e of t.examples(30, { seed: 1 })) {
        const p = parseCompletion(e.completion);
        assert.ok(p.wellFormed, `${t.name}: ${e.completion}`);
        assert.equal(p.answer, e.answer);
        assert.ok(t.check(e.prompt, e.answer), `${t.name}: ${e.question} -> ${e.answer}`);
      }
  });

  it("addition: difficulty knobs set the operand lengths; the checker is exact", () => {
    const t = addition({ digits: 2, digitsB: 1 });
    for (const e of t.examples(50, { seed: 2 })) assert.match(e.question, /^[1-9]\d\+\d$/);
    const p = r1Prompt("57+68");
    assert.ok(t.check(p, "125"));
    assert.ok(t.check(p, " 125 "));
    assert.ok(!t.check(p, "124"));
    assert.ok(!t.check(p, "1250"));
    assert.ok(!t.check(p, "125.0"));
    assert.ok(!t.check(p, ""));
    assert.equal(addition().reference("57+68"), "7+8=15,5+6+1=12</think> <answer>125</answer>");
    assert.throws(() => addition({ digits: 0 }), /digits must be an integer in \[1, 15\], got 0/);
    assert.throws(() => t.check("not a prompt", "1"), /not in the task's template/);
  });

  it("addition: pad writes the operands at a fixed width and reasons over every column", () => {
    const t = addition({ digits: 1, digitsB: 2, pad: 2 });
    for (const e of t.examples(40, { seed: 3 })) {
      assert.match(e.question, /^0\d\+[1-9]\d$/);
      assert.equal(e.completion.split("</think>")[0].split(",").length, 2, e.completion);
      assert.ok(t.check(e.prompt, e.answer), e.question);
    }
    assert.equal(t.reference("07+58"), "7+8=15,0+5+1=6</think> <answer>65</answer>");
    assert.equal(t.solve("07+58"), "65");
    assert.equal(
      addition({ digits: 1, pad: 3 }).reference("009+004"),
      "9+4=13,0+0+1=1,0+0=0</think> <answer>13</answer>",
    );
    assert.deepEqual(t.level, { digits: 1, digitsB: 2, pad: 2, carry: "any", overflow: "any" });
    assert.throws(
      () => addition({ digits: 3, pad: 2 }),
      /pad 2 is narrower than the operands \(3 and 3 digits\)/,
    );
    assert.throws(() => addition({ pad: -1 }), /pad must be an integer in \[0, 15\], got -1/);
  });

  it("addition: carry and overflow pick the level's columns (the GRPO benchmark's carry level)", () => {
    const cols = (q: string): [number, number][] => {
      const [a, b] = q.split("+").map((x) => x.padStart(2, "0").split("").map(Number));
      return [
        [a[1], b[1]],
        [a[0], b[0]],
      ];
    };
    // Units carry into a tens column that stays below 10: all 45 x 28 such questions exist.
    const carry = addition({ digits: 2, carry: "some", overflow: false });
    const all = carry.examples(1260, { seed: 1 });
    for (const e of all) {
      const [[a0, b0], [a1, b1]] = cols(e.question);
      assert.ok(a0 + b0 >= 10 && a1 + b1 + 1 <= 9, e.question);
      assert.match(e.completion, /^\d\+\d=1\d,\d\+\d\+1=\d</, e.completion);
      assert.equal(e.answer.length, 2);
    }
    assert.throws(() => carry.examples(1261, { seed: 1 }), /only 1260 of 1261 distinct questions/);
    // No carry into the tens; the tens may overflow (both kinds appear).
    const none = addition({ digits: 2, carry: "none" }).examples(300, { seed: 2 });
    for (const e of none)
      assert.ok(cols(e.question)[0][0] + cols(e.question)[0][1] <= 9, e.question);
    assert.ok(none.some((e) => e.answer.length === 3) && none.some((e) => e.answer.length === 2));
    // Three digits: at least one inner carry; overflow true: a longer sum.
    for (const e of addition({ digits: 3, carry: "some" }).examples(50, { seed: 3 }))
      assert.ok(
        !e.completion
          .split("</think>")[0]
          .split(",")
          .slice(0, 2)
          .every((c) => !/=1\d$/.test(c)),
        e.question,
      );
    for (const e of addition({ digits: 1, overflow: true }).examples(20, { seed: 4 }))
      assert.equal(e.answer.length, 2, e.question);
    // Bad levels: named.
    assert.throws(
      () => addition({ digits: 1, carry: "some" }),
      /1-digit operands have no carry between columns/,
    );
    assert.throws(
      () => addition({ carry: "sometimes" as never }),
      /carry must be "any", "none" or "some", got "sometimes"/,
    );
    assert.throws(
      () => addition({ overflow: 1 as never }),
      /overflow must be true, false or "any", got 1/,
    );
  });

  it("sorting, reversal: exact answers only", () => {
    const s = sorting({ length: 4, max: 9 });
    const p = r1Prompt("sort 5 3 9 3");
    assert.ok(s.check(p, "3 3 5 9"));
    assert.ok(s.check(p, "3, 3, 5, 9"));
    assert.ok(!s.check(p, "3 5 9"));
    assert.ok(!s.check(p, "9 5 3 3"));
    const r = reversal({ length: 4, alphabet: "ab" });
    for (const e of r.examples(5, { seed: 0 })) assert.match(e.question, /^reverse [ab]{4}$/);
    assert.ok(r.check(r1Prompt("reverse abba"), "abba"));
    assert.ok(r.check(r1Prompt("reverse aabb"), "bbaa"));
    assert.ok(!r.check(r1Prompt("reverse aabb"), "aabb"));
  });

  it("countdown: every puzzle is solvable; answers must reach the target using each number once", () => {
    const c = countdown({ numbers: 3, max: 9 });
    for (const e of c.examples(40, { seed: 7 })) assert.ok(c.check(e.prompt, e.answer), e.question);
    const p = r1Prompt("use 3 5 7 to make 22");
    assert.ok(c.check(p, "3*5+7"));
    assert.ok(c.check(p, "7 + 5 x 3"));
    assert.ok(c.check(p, "(5*3)+7"));
    assert.ok(!c.check(p, "3*5+7+0"), "a number not given");
    assert.ok(!c.check(p, "22"), "numbers unused");
    assert.ok(!c.check(p, "3*7+5-4"), "another number");
    assert.ok(!c.check(p, "5*3+7)"), "malformed");
    const plus = countdown({ ops: "+-" });
    assert.ok(!plus.check(p, "3*5+7"), "an operator not allowed");
    assert.deepEqual(evalExpression("(1+2)*3/9"), { value: 1, numbers: [1, 2, 3, 9] });
    assert.equal(evalExpression("1+"), null);
  });
});

describe("data/rewards", () => {
  const t = addition({ digits: 2 });
  const prompt = r1Prompt("12+34");

  it("accuracy and format score (prompt, completion); weights compose", () => {
    const acc = accuracyReward(t);
    const fmt = formatReward(t);
    assert.equal(acc(prompt, "2+4=6</think> <answer>46</answer>"), 1);
    assert.equal(fmt(prompt, "2+4=6</think> <answer>46</answer>"), 1);
    assert.equal(acc(prompt, "</think> <answer>45</answer>"), 0);
    assert.equal(fmt(prompt, "</think> <answer>45</answer>"), 1, "wrong but well formed");
    assert.equal(acc(prompt, "<answer>46</answer>"), 1, "right answer, missing </think>");
    assert.equal(fmt(prompt, "<answer>46</answer>"), 0);
    assert.equal(fmt(prompt, "x</think> <answer>46</answer> extra"), 0, "text after the answer");
    assert.equal(fmt(prompt, "x</think> <answer>forty</answer>"), 0, "not parsable");
    assert.equal(fmt(prompt, "x</think> <answer></answer>"), 0);
    const r = combineRewards([
      [acc, 1],
      [fmt, 0.25],
    ]);
    assert.equal(r(prompt, "</think> <answer>46</answer>"), 1.25);
    assert.equal(r(prompt, "</think> <answer>47</answer>"), 0.25);
    assert.equal(r(prompt, "46"), 0);
    assert.match(r.name, /1·accuracy\(addition\) \+ 0.25·format\(addition\)/);
  });

  it("a reward that throws or returns NaN is an error naming the reward and the prompt", () => {
    const bad = combineRewards([[() => NaN, 1]]);
    assert.throws(() => bad(prompt, "x"), /returned NaN, not a finite number/);
    assert.throws(() => bad(prompt, "x"), /on prompt "User: 12\+34/);
    const boom = (): number => {
      throw new Error("boom");
    };
    assert.throws(
      () => callReward(boom, prompt, "x"),
      /reward boom on prompt "User: 12\+34.*threw: boom/,
    );
    assert.throws(() => combineRewards([]), /non-empty list/);
    assert.throws(() => combineRewards([[accuracyReward(t), NaN]]), /weight of part 0/);
  });
});
