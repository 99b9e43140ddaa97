/**
 * Stream output on its way to iopub: consecutive text of one stream for one parent is joined for
 * up to STREAM_FLUSH_MS (or until it reaches STREAM_FLUSH_CHARS), so a cell printing in a tight
 * loop sends tens of messages a second, not thousands, and a slow subscriber's queue never
 * overflows (a PUB socket drops what exceeds it: idle included).
 */
import type { ParentHeader, Stream } from "../wire/messages.js";

/** Stream output is joined for this long (or up to this size) before it is published. */
export const STREAM_FLUSH_MS = 25;
export const STREAM_FLUSH_CHARS = 1 << 20;

export interface StreamBatcherOptions {
  flushMs?: number;
  flushChars?: number;
}

export class StreamBatcher {
  private pending: { name: Stream["name"]; text: string; parent: ParentHeader } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly flushMs: number;
  private readonly flushChars: number;

  /** `publish` sends one stream message; it is called from write() and flush() only. */
  constructor(
    private readonly publish: (content: Stream, parent: ParentHeader) => void,
    options: StreamBatcherOptions = {},
  ) {
    this.flushMs = options.flushMs ?? STREAM_FLUSH_MS;
    this.flushChars = options.flushChars ?? STREAM_FLUSH_CHARS;
  }

  /**
   * Queues text; it joins the pending text when stream name and parent (the same object) match,
   * else the pending text is published first.
   */
  write(content: Stream, parent: ParentHeader): void {
    const { name, text } = content;
    const p = this.pending;
    if (p && (p.name !== name || p.parent !== parent)) this.flush();
    if (this.pending) this.pending.text += text;
    else this.pending = { name, text, parent };
    if (this.pending.text.length >= this.flushChars) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.flushMs);
  }

  /** Publishes the pending text now; the kernel calls it before anything else it publishes. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    this.publish({ name: p.name, text: p.text }, p.parent);
  }
}
