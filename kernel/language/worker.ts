/**
 * The language worker: owns a CellService and answers requests one at a time, so that neither
 * the protocol thread nor the cell worker ever waits on TypeScript.
 */
import * as v8 from "node:v8";
import * as vm from "node:vm";
import { parentPort, workerData } from "node:worker_threads";
import type { FromWorker, Request, Results, ToWorker, WorkerOptions } from "./messages.js";
import { CellService } from "./service.js";

const options = workerData as WorkerOptions;
let service: CellService | undefined;
let warmed = false;

/**
 * Each check leaves a whole program (and type checker) behind as garbage that lives long enough
 * to reach V8's old generation, which grows by tens of MB between its own collections. Once the
 * heap holds GARBAGE_MB more than after the last collection, one runs when the worker is idle.
 */
const GARBAGE_MB = 48;
let collect: (() => void) | undefined;
try {
  v8.setFlagsFromString("--expose-gc");
  collect = vm.runInNewContext("gc") as () => void;
} catch {
  collect = undefined;
}
let heapAfterGc = 0;
let collecting = false;

function collectIfDue(): void {
  if (!collect || collecting) return;
  const used = v8.getHeapStatistics().used_heap_size;
  if (used - heapAfterGc < GARBAGE_MB * 1048576) return;
  collecting = true;
  setImmediate(() => {
    collecting = false;
    collect?.();
    heapAfterGc = v8.getHeapStatistics().used_heap_size;
  });
}

function log(what: string, err: unknown): void {
  const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(`[moelab] language service: ${what} failed: ${detail}\n`);
}

function getService(): CellService {
  service ??= new CellService({
    cwd: options.cwd,
    moelabTypes: options.moelabTypes,
    strict: options.strict,
    prelude: options.prelude,
  });
  return service;
}

function answer(request: Request): Results[keyof Results] {
  const s = getService();
  switch (request.op) {
    case "complete":
      return s.complete(request.code, request.cursorPos);
    case "inspect":
      return s.inspect(request.code, request.cursorPos, request.detailLevel);
    case "isComplete":
      return s.isComplete(request.code);
    case "check":
      return s.check(request.code);
    case "stats":
      return s.stats();
    case "configure":
      return s.configure({ strict: request.strict });
    case "snapshot":
      return s.preludeState();
  }
}

function onMessage(msg: ToWorker): void {
  if ("record" in msg) {
    try {
      getService().record(msg.record);
    } catch (err) {
      log("record", err);
      service?.reset();
    }
    return;
  }
  let result: Results[keyof Results] | undefined;
  try {
    result = answer(msg.request);
  } catch (err) {
    log(msg.request.op, err);
    service?.reset();
  }
  if (["complete", "inspect", "check"].includes(msg.request.op)) warmed = true;
  const reply: FromWorker = { id: msg.id, result };
  parentPort?.postMessage(reply);
  collectIfDue();
}

parentPort?.on("message", onMessage);

// Build the first program in the background unless a request already did.
setTimeout(() => {
  if (warmed) return;
  warmed = true;
  try {
    getService().warmUp();
  } catch (err) {
    log("warm-up", err);
    service?.reset();
  }
}, options.warmupDelayMs).unref();
