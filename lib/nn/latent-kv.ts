/**
 * The latent KV cache of MLA's absorb path: per layer, what decoding keeps of every position so far
 * (kv_norm(c_kv) and the rotated k_pe, kv_lora_rank + qk_rope_head_dim elements per token).
 */
import * as T from "../tensor/index.js";

/**
 * One layer's latent KV cache: kv_norm(c_kv) [B, S, c] and the rotated k_pe [B, S, rope] of every
 * position so far, in buffers that grow by doubling (appending copies only the new positions).
 * The buffers are its own: they survive `tidy` scopes and are freed by `dispose()` (or when the
 * cache is garbage-collected). For inference: appending runs without autograd.
 */
export class LatentKV {
  private kvBuf: T.Tensor | null = null;
  private peBuf: T.Tensor | null = null;
  private len = 0;

  /** Positions held. */
  get length(): number {
    return this.len;
  }
  /** Capacity in positions before the buffers grow. */
  get capacity(): number {
    return this.kvBuf ? this.kvBuf.shape[1] : 0;
  }
  /** kv_norm(c_kv) of the positions held [B, S, c] (a view; valid until the next change), or null. */
  get kv(): T.Tensor | null {
    return this.kvBuf && this.len > 0 ? this.kvBuf.narrow(1, 0, this.len) : null;
  }
  /** Rotated k_pe of the positions held [B, S, rope] (a view), or null. */
  get pe(): T.Tensor | null {
    return this.peBuf && this.len > 0 ? this.peBuf.narrow(1, 0, this.len) : null;
  }
  /** Elements held (B x S x (c + rope)). */
  get elements(): number {
    if (!this.kvBuf || !this.peBuf) return 0;
    return this.kvBuf.shape[0] * this.len * (this.kvBuf.shape[2] + this.peBuf.shape[2]);
  }

  /** Appends kv [B, n, c] and pe [B, n, rope]; returns views of everything held. */
  append(kv: T.Tensor, pe: T.Tensor): { kv: T.Tensor; pe: T.Tensor } {
    const [B, n, c] = kv.shape;
    const r = pe.shape[2];
    if (pe.shape[0] !== B || pe.shape[1] !== n)
      throw new RangeError(
        `latent cache: k_pe [${pe.shape.join(", ")}] does not match c_kv [${kv.shape.join(", ")}]`,
      );
    if (this.kvBuf && this.peBuf) {
      const [B0, , c0] = this.kvBuf.shape;
      if (B !== B0 || c !== c0 || r !== this.peBuf.shape[2])
        throw new RangeError(
          `latent cache holds [${B0}, ${this.len}, ${c0}] + rope ${this.peBuf.shape[2]}; cannot append [${B}, ${n}, ${c}] + rope ${r}`,
        );
    }
    T.noGrad(() => {
      if (this.len + n > this.capacity) {
        const cap = Math.max(16, this.len + n, 2 * this.capacity);
        const grow = (old: T.Tensor | null, width: number): T.Tensor => {
          const buf = T.keep(T.zeros([B, cap, width]));
          if (old) {
            if (this.len > 0) buf.narrow(1, 0, this.len).copy_(old.narrow(1, 0, this.len));
            old.dispose();
          }
          return buf;
        };
        this.kvBuf = grow(this.kvBuf, c);
        this.peBuf = grow(this.peBuf, r);
      }
      this.kvBuf!.narrow(1, this.len, n).copy_(kv);
      this.peBuf!.narrow(1, this.len, n).copy_(pe);
    });
    this.len += n;
    return { kv: this.kv!, pe: this.pe! };
  }

  /** Keeps the first n positions (drops the rest, e.g. a rejected draft). */
  truncate(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > this.len)
      throw new RangeError(`latent cache: cannot truncate ${this.len} positions to ${n}`);
    this.len = n;
  }

  /** Frees the buffers; the cache is empty and usable again. */
  dispose(): void {
    this.kvBuf?.dispose();
    this.peBuf?.dispose();
    this.kvBuf = null;
    this.peBuf = null;
    this.len = 0;
  }
}
