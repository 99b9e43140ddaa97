/**
 * HMAC signing of Jupyter messages: hex HMAC over exactly the four serialized dict frames
 * (header, parent_header, metadata, content), in order; buffers are never signed. An empty key
 * means an empty signature and no checking.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

/** Signature schemes the connection file may name. */
export const SUPPORTED_SCHEMES = ["hmac-sha256"] as const;

export class Signer {
  private readonly key: Buffer;
  private readonly algorithm: string;

  /**
   * @param key the connection file's "key" (empty: no signing)
   * @param scheme the connection file's "signature_scheme", e.g. "hmac-sha256"
   */
  constructor(key: string | Buffer, scheme = "hmac-sha256") {
    this.key = typeof key === "string" ? Buffer.from(key, "utf8") : key;
    const match = /^hmac-(sha256)$/.exec(scheme);
    if (!match) {
      throw new Error(
        `unsupported signature_scheme ${JSON.stringify(scheme)} (supported: ${SUPPORTED_SCHEMES.join(", ")})`,
      );
    }
    this.algorithm = match[1];
  }

  /** True when messages are signed and checked. */
  get enabled(): boolean {
    return this.key.length > 0;
  }

  /** The hex signature of the four dict frames ("" when the key is empty). */
  sign(frames: readonly Buffer[]): string {
    if (!this.enabled) return "";
    const hmac = createHmac(this.algorithm, this.key);
    for (let i = 0; i < 4; i++) hmac.update(frames[i] ?? EMPTY);
    return hmac.digest("hex");
  }

  /**
   * Checks a received signature against the received bytes of the four dict frames, in
   * constant time. Always true when the key is empty.
   */
  verify(frames: readonly Buffer[], signature: Buffer): boolean {
    if (!this.enabled) return true;
    const expected = Buffer.from(this.sign(frames), "latin1");
    // Lengths are public (always 64 hex chars for sha256); only the content compare must be constant time.
    if (signature.length !== expected.length) return false;
    return timingSafeEqual(signature, expected);
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * Remembers signatures already accepted, so a replayed message is rejected (as jupyter_client
 * does). Bounded: when full, the oldest half is forgotten.
 */
export class ReplayGuard {
  private seen = new Set<string>();

  constructor(private readonly capacity = 1 << 16) {}

  /** Records the signature; false when it was seen before. Empty signatures are not tracked. */
  check(signature: string): boolean {
    if (signature === "") return true;
    if (this.seen.has(signature)) return false;
    if (this.seen.size >= this.capacity) {
      let drop = this.seen.size >> 1;
      for (const s of this.seen) {
        if (drop-- <= 0) break;
        this.seen.delete(s);
      }
    }
    this.seen.add(signature);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }
}
