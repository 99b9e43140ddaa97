/**
 * Module base: named parameters (DeepSeek's checkpoint names), children, parameter counts, hook
 * points (TransformerLens-style names) and a tree display for notebook cells.
 *
 * A module has two paths: `path`, the prefix of its parameters in DeepSeek's layout
 * (`layers.3.attn`), and `hookPath`, the prefix of its hook points (`blocks.3.attn`). Parents set
 * both when they register a child.
 */
import * as T from "../tensor/index.js";
import { escapeHtml } from "../tensor/index.js";
import type { Precision } from "../fp8/index.js";
import { humanCount } from "../config/index.js";

/** Reads an activation; returning a Tensor replaces it (the replacement must keep its shape and dtype). */
export type HookFn = (activation: T.Tensor, name: string) => T.Tensor | void;

/** Reads an activation's gradient during backward; returning a Tensor replaces it. */
export type GradHookFn = (grad: T.Tensor, name: string) => T.Tensor | void;

/**
 * What a Gate reports after routing a batch, to the one observer a model may have (the trainer's
 * load balancing): which gate, its scores s [B, T, E] (in the autograd graph, valid in the
 * caller's tidy scope) and its chosen experts int32 [B, T, k].
 */
export interface RouteEvent {
  gate: Module;
  /** The gate's selection bias [E] (routing "noaux_tc"), or null. */
  bias: T.Tensor | null;
  scores: T.Tensor;
  indices: T.Tensor;
}

/**
 * What all modules of one model share: the Linear precision and the hook registry. The registry
 * keeps hooks by full hook name and, while a cache run is active, the activations asked for.
 */
export class ModelContext {
  precision: Precision;
  /** MLA path for full-sequence passes; cached decoding always uses "absorb". */
  attnImpl: "naive" | "absorb" = "naive";
  /** Receives every Gate's routing (set by a trainer; null when nobody observes). */
  onRoute: ((e: RouteEvent) => void) | null = null;
  private readonly hooks = new Map<string, HookFn[]>();
  /** Names to record during a cache run (null: none; a Set with "*" records all). */
  private recording: Set<string> | null = null;
  private recorded: Map<string, T.Tensor> | null = null;

  constructor(precision: Precision = "fp32") {
    this.precision = precision;
  }

  addHook(name: string, fn: HookFn): () => void {
    const list = this.hooks.get(name) ?? [];
    list.push(fn);
    this.hooks.set(name, list);
    return () => {
      const l = this.hooks.get(name);
      if (!l) return;
      const i = l.indexOf(fn);
      if (i >= 0) l.splice(i, 1);
      if (l.length === 0) this.hooks.delete(name);
    };
  }

  clearHooks(): void {
    this.hooks.clear();
  }

  hookCount(): number {
    let n = 0;
    for (const l of this.hooks.values()) n += l.length;
    return n;
  }

  /** Starts recording the named activations (after hooks ran); returns the map they go into. */
  startRecording(names: Iterable<string> | "all"): Map<string, T.Tensor> {
    this.recording = names === "all" ? new Set(["*"]) : new Set(names);
    this.recorded = new Map();
    return this.recorded;
  }

  stopRecording(): void {
    this.recording = null;
    this.recorded = null;
  }

  /**
   * Whether firing `name` would do anything (a hook on it, or a cache run recording it), so a
   * module can skip building an activation that only exists to be observed.
   */
  listening(name: string): boolean {
    if (this.hooks.has(name)) return true;
    const r = this.recording;
    return r !== null && (r.has("*") || r.has(name));
  }

  /** Runs the hooks of `name` on `t` and records it when asked; returns the (possibly replaced) activation. */
  fire(name: string, t: T.Tensor): T.Tensor {
    const list = this.hooks.get(name);
    let out = t;
    if (list) {
      for (const fn of [...list]) {
        // The activation and what the hook makes are the user's, not the forward's graph scope's.
        T.markEscaped(out);
        const cur = out;
        const r = T.outsideGraph(() => fn(cur, name));
        if (r !== undefined && r !== null) {
          if (!(r instanceof T.Tensor))
            throw new TypeError(
              `hook on "${name}" returned ${typeof r}, expected a Tensor or nothing`,
            );
          if (r.shape.length !== out.shape.length || r.shape.some((d, i) => d !== out.shape[i]))
            throw new Error(
              `hook on "${name}" returned shape [${r.shape.join(", ")}], expected [${out.shape.join(", ")}]`,
            );
          if (r.dtype !== out.dtype)
            throw new TypeError(`hook on "${name}" returned ${r.dtype}, expected ${out.dtype}`);
          out = r;
        }
      }
    }
    if (this.recording && this.recorded && (this.recording.has("*") || this.recording.has(name)))
      // Kept: the cache outlives any tidy() scope the run happens in.
      this.recorded.set(name, T.keep(T.noGrad(() => out.detach().clone())));
    return out;
  }
}

export interface ParameterInfo {
  /** Not trained by gradient descent (the gate bias, updated by the balancing rule). */
  trainable: boolean;
}

/** Base class of every layer. */
export class Module {
  /** Parameter prefix in DeepSeek's checkpoint layout, e.g. "layers.3.attn" ("" at the root). */
  path = "";
  /** Hook prefix (TransformerLens style), e.g. "blocks.3.attn" ("" at the root). */
  hookPath = "";
  protected readonly params = new Map<string, T.Tensor>();
  protected readonly paramInfo = new Map<string, ParameterInfo>();
  protected readonly children = new Map<string, Module>();
  private readonly childHookNames = new Map<string, string>();
  /** Local hook point names of this module (e.g. "hook_q"). */
  protected readonly hookNames: string[] = [];

  constructor(readonly ctx: ModelContext) {}

  /** The class name shown in displays. */
  get kind(): string {
    return this.constructor.name;
  }

  protected registerParameter(name: string, t: T.Tensor, trainable = true): T.Tensor {
    if (trainable && !t.requiresGrad) t.requiresGrad_(true);
    // Parameters live as long as the module, even when it is built inside tidy().
    T.keep(t);
    this.params.set(name, t);
    this.paramInfo.set(name, { trainable });
    return t;
  }

  /**
   * Registers a child; `hookName` (default: `name`) is its segment of the hook path ("" puts the
   * child's hook points on this module's path).
   */
  protected registerModule<M extends Module>(name: string, m: M, hookName: string = name): M {
    this.children.set(name, m);
    this.childHookNames.set(name, hookName);
    m.setPaths(join(this.path, name), join(this.hookPath, hookName));
    return m;
  }

  protected registerHook(...names: string[]): void {
    for (const n of names) this.hookNames.push(n);
  }

  /** Sets this module's prefixes and its children's. */
  setPaths(path: string, hookPath: string): void {
    this.path = path;
    this.hookPath = hookPath;
    for (const [name, m] of this.children)
      m.setPaths(join(path, name), join(hookPath, this.childHookNames.get(name) ?? name));
  }

  /** Whether hook point `local` has a hook or is being recorded (see ModelContext.listening). */
  protected listening(local: string): boolean {
    return this.ctx.listening(join(this.hookPath, local));
  }

  /** Fires hook point `local` (e.g. "hook_q") of this module. */
  protected hook(local: string, t: T.Tensor): T.Tensor {
    return this.ctx.fire(join(this.hookPath, local), t);
  }

  /** Own parameters by local name. */
  ownParameters(): ReadonlyMap<string, T.Tensor> {
    return this.params;
  }

  childModules(): ReadonlyMap<string, Module> {
    return this.children;
  }

  /** Every parameter, by full DeepSeek name, in model order. */
  namedParameters(): Map<string, T.Tensor> {
    const out = new Map<string, T.Tensor>();
    this.collect(out, null);
    return out;
  }

  /** Parameters that gradient descent trains (everything but the gate biases). */
  trainableParameters(): Map<string, T.Tensor> {
    const out = new Map<string, T.Tensor>();
    this.collect(out, true);
    return out;
  }

  private collect(out: Map<string, T.Tensor>, trainable: boolean | null): void {
    for (const [n, t] of this.params)
      if (trainable === null || this.paramInfo.get(n)?.trainable === trainable)
        out.set(join(this.path, n), t);
    for (const m of this.children.values()) m.collect(out, trainable);
  }

  /** All parameters as a list (for optimizers). */
  parameters(): T.Tensor[] {
    return [...this.trainableParameters().values()];
  }

  /** Number of parameter elements (this module and its children). */
  numParams(): number {
    let n = 0;
    for (const t of this.params.values()) n += t.size;
    for (const m of this.children.values()) n += m.numParams();
    return n;
  }

  /** Every hook point name of this module and its children. */
  hookPoints(): string[] {
    const out = this.hookNames.map((h) => join(this.hookPath, h));
    for (const m of this.children.values()) out.push(...m.hookPoints());
    return out;
  }

  /** Clears the gradients of every parameter. */
  zeroGrad(): void {
    for (const t of this.namedParameters().values()) t.zeroGrad();
  }

  /** One line describing this module (subclasses add their sizes). */
  describe(): string {
    return this.kind;
  }

  /** Indented text tree: modules, parameter shapes and counts. */
  toString(): string {
    const lines: string[] = [];
    this.treeLines(lines, "", "");
    return lines.join("\n");
  }

  private treeLines(lines: string[], indent: string, label: string): void {
    const head = label ? `${label}: ` : "";
    lines.push(`${indent}${head}${this.describe()}  (${humanCount(this.numParams())} params)`);
    const sub = indent + "  ";
    for (const [n, t] of this.params)
      lines.push(
        `${sub}${n} [${t.shape.join(", ")}]${this.paramInfo.get(n)?.trainable === false ? " (not trained)" : ""}`,
      );
    for (const [n, m] of this.children) m.treeLines(lines, sub, n);
  }

  private treeHTML(label: string): string {
    const params = [...this.params]
      .map(
        ([n, t]) =>
          `<li><code>${escapeHtml(n)}</code> [${t.shape.join(", ")}] ${t.size.toLocaleString("en-US")}</li>`,
      )
      .join("");
    const kids = [...this.children].map(([n, m]) => `<li>${m.treeHTML(n)}</li>`).join("");
    const title = `${label ? `<code>${escapeHtml(label)}</code>: ` : ""}<b>${escapeHtml(this.describe())}</b> <small>${escapeHtml(humanCount(this.numParams()))} params</small>`;
    if (!params && !kids) return title;
    return `<details${label ? "" : " open"}><summary>${title}</summary><ul style="margin:0">${params}${kids}</ul></details>`;
  }

  /** Jupyter display: the module tree as text and as collapsible HTML. */
  [Symbol.for("Jupyter.display")](): Record<string, string> {
    return {
      "text/plain": this.toString(),
      "text/html": `<div class="moelab-module">${this.treeHTML("")}</div>`,
    };
  }
}

/** A numbered list of modules ("0", "1", ...), as PyTorch's ModuleList. */
export class ModuleList<M extends Module> extends Module {
  readonly items: M[] = [];
  constructor(ctx: ModelContext, items: M[]) {
    super(ctx);
    items.forEach((m, i) => this.items.push(this.registerModule(String(i), m)));
  }
  override describe(): string {
    return `ModuleList(${this.items.length} x ${this.items[0]?.describe() ?? "-"})`;
  }
}

/** A dotted path: "blocks.1" + "attn"; an empty segment adds nothing. */
export function join(prefix: string, name: string): string {
  return prefix && name ? `${prefix}.${name}` : prefix || name;
}
