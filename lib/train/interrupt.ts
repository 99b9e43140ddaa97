/** The kernel's interrupt, as the training loops of lib/train poll it between steps. */

export interface InterruptSource {
  /** The kernel's shared flag (1 once Interrupt was pressed), or null outside a moelab kernel. */
  flag: Int32Array | null;
  /** Asks the kernel to wait `ms` before a hard interrupt; returns the release, or null. */
  hold(ms: number): (() => void) | null;
  /** Lets the kernel raise its interrupt now that the loop stopped cleanly. */
  raise(): void;
}

/** The kernel's interrupt flag and hold (absent outside a moelab kernel). */
export function interruptSource(): InterruptSource {
  const k = (globalThis as Record<symbol, unknown>)[Symbol.for("moelab.kernel")] as
    | {
        interruptFlag?: Int32Array;
        holdInterrupt?: (ms: number) => () => void;
        checkInterrupt?: () => void;
      }
    | undefined;
  return {
    flag: k?.interruptFlag instanceof Int32Array ? k.interruptFlag : null,
    hold: (ms) => (typeof k?.holdInterrupt === "function" ? k.holdInterrupt(ms) : null),
    raise: () => k?.checkInterrupt?.(),
  };
}
