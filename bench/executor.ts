/**
 * Executor benchmark (no sockets): moelab's worker executor against Node's own REPL
 * (node:repl, evaluating in-process), measured in the same run, interleaved.
 *   - round trip of `1 + 1` (median, p90);
 *   - a cell that re-declares a variable, early in the session (cells 1-100) and late
 *     (cells 901-1000): late/early near 1 means no slow-down with history.
 * Usage: node dist/bench/executor.js   (MOELAB_QUICK=1: fewer repetitions)
 */
import * as repl from "node:repl";
import { PassThrough } from "node:stream";
import { tmpdir } from "node:os";
import { createExecutor } from "../kernel/executor/index.js";
import type { Executor } from "../kernel/contracts.js";

const quick = process.env.MOELAB_QUICK === "1";

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length - 1) * q))];
}

interface Runner {
  name: string;
  run(code: string): Promise<void>;
}

async function moelab(): Promise<Runner & { ex: Executor }> {
  const ex = await createExecutor({ cwd: tmpdir() });
  let count = 0;
  return {
    name: "moelab executor (worker)",
    ex,
    async run(code: string) {
      const o = await ex.execute(code, {
        executionCount: ++count,
        silent: false,
        allowStdin: false,
        onEvent: () => undefined,
        requestInput: async () => "",
      });
      if (o.status !== "ok") throw new Error(`cell failed: ${JSON.stringify(o)}`);
    },
  };
}

/** Node's REPL; a cell is done when its printed value (or the next prompt) comes out. */
function nodeRepl(): Runner {
  const input = new PassThrough();
  const output = new PassThrough();
  repl.start({
    input,
    output,
    prompt: "> ",
    terminal: false,
    useGlobal: true,
    ignoreUndefined: true,
  });
  let waiter: (() => void) | null = null;
  output.on("data", (chunk: Buffer) => {
    if (chunk.toString().includes("> ") && waiter) {
      const w = waiter;
      waiter = null;
      w();
    }
  });
  return {
    name: "node:repl (in-process)",
    run(code: string) {
      return new Promise<void>((resolve) => {
        waiter = resolve;
        input.write(code.replace(/\n/g, " ") + "\n");
      });
    },
  };
}

async function time(r: Runner, code: string): Promise<number> {
  const t = performance.now();
  await r.run(code);
  return performance.now() - t;
}

async function main() {
  const m = await moelab();
  const n = nodeRepl();
  const runners: Runner[] = [m, n];
  const rounds = quick ? 2 : 5;
  const per = quick ? 20 : 60;
  for (const r of runners) for (let i = 0; i < 50; i++) await r.run("1 + 1");

  const rt = new Map<Runner, number[]>(runners.map((r) => [r, []]));
  for (let round = 0; round < rounds; round++)
    for (const r of runners) for (let i = 0; i < per; i++) rt.get(r)!.push(await time(r, "1 + 1"));

  // Fresh sessions for the history test; same cell text shape for both peers.
  await m.ex.dispose();
  const m2 = await moelab();
  const n2 = nodeRepl();
  const cell = (r: Runner, i: number) =>
    r === m2 ? `const v: number = ${i};\nv + 1` : `var v = ${i}; v + 1`;
  const early = new Map<Runner, number[]>();
  const late = new Map<Runner, number[]>();
  const total = quick ? 300 : 1000;
  for (const r of [m2, n2]) {
    early.set(r, []);
    late.set(r, []);
  }
  for (let i = 0; i < total; i++)
    for (const r of [m2, n2]) {
      const t = await time(r, cell(r, i));
      if (i < 100) early.get(r)!.push(t);
      if (i >= total - 100) late.get(r)!.push(t);
    }
  await m2.ex.dispose();

  const fmt = (x: number) => x.toFixed(3).padStart(8);
  console.log(`\nexecute round trip of \`1 + 1\` (ms, ${rounds * per} runs each, interleaved)`);
  console.log(`${"peer".padEnd(28)}  median       p90`);
  for (const r of runners) {
    const xs = rt.get(r)!;
    console.log(`${r.name.padEnd(28)}${fmt(quantile(xs, 0.5))}  ${fmt(quantile(xs, 0.9))}`);
  }
  const ratio = quantile(rt.get(m)!, 0.5) / quantile(rt.get(n)!, 0.5);
  console.log(`moelab / node:repl median: ${ratio.toFixed(2)}x`);
  console.log(
    `\ncells 1-100 vs ${total - 99}-${total} (median ms of a cell re-declaring a variable)`,
  );
  console.log(`${"peer".padEnd(28)}     early      late  late/early`);
  for (const r of [m2, n2]) {
    const e = quantile(early.get(r)!, 0.5);
    const l = quantile(late.get(r)!, 0.5);
    console.log(`${r.name.padEnd(28)}${fmt(e)}  ${fmt(l)}  ${(l / e).toFixed(2).padStart(9)}`);
  }
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
