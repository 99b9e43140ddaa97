/**
 * Test-only kernel launcher: `node dist/test/helpers/launch-kernel.js FILE [--fake]` starts the
 * kernel on connection file FILE in its own process, with fake parts when --fake is given.
 */
import { startKernel } from "../../kernel/main.js";
import { FakeExecutor, FakeLanguage } from "../kernel/protocol/fakes.js";

const [file, ...flags] = process.argv.slice(2);
const fake = flags.includes("--fake");
startKernel(
  file,
  fake
    ? { createExecutor: async () => new FakeExecutor(), createLanguage: () => new FakeLanguage() }
    : {},
).catch((e: Error) => {
  process.stderr.write(`[moelab] ${e.message}\n`);
  process.exit(1);
});
