/**
 * Reads the one length-prefixed message of a unary gRPC call from its DATA frames into a single buffer,
 * allocated once from the 5-byte prefix (flag, big-endian length): no concatenation per frame, so a large
 * body in small frames costs one copy. A declared or received size over the limit stops reading at once.
 */

export type ReadOutcome =
  /** Still reading. */
  | { readonly kind: "more" }
  /** Over the limit: declared (or sent) more than `maxMessageBytes`. */
  | { readonly kind: "too-large" };

export class MessageReader {
  readonly #maxMessageBytes: number;
  readonly #head = Buffer.alloc(5);
  #headBytes = 0;
  /** Prefix and message, sized from the prefix once it has arrived. */
  #frame: Buffer | undefined;
  #filled = 0;
  /** Bytes received beyond the declared message (a malformed call). */
  #extra = 0;

  constructor(maxMessageBytes: number) {
    this.#maxMessageBytes = maxMessageBytes;
  }

  /** Takes one DATA chunk. */
  push(chunk: Uint8Array): ReadOutcome {
    let at = 0;
    if (this.#frame === undefined) {
      const take = Math.min(5 - this.#headBytes, chunk.length);
      this.#head.set(chunk.subarray(0, take), this.#headBytes);
      this.#headBytes += take;
      at = take;
      if (this.#headBytes < 5) return MORE;
      const declared = this.#head.readUInt32BE(1);
      if (declared > this.#maxMessageBytes) return TOO_LARGE;
      this.#frame = Buffer.allocUnsafe(5 + declared);
      this.#head.copy(this.#frame, 0);
      this.#filled = 5;
    }
    const frame = this.#frame;
    const n = chunk.length - at;
    const room = frame.length - this.#filled;
    if (n > room) {
      this.#extra += n - room;
      if (this.#extra > this.#maxMessageBytes) return TOO_LARGE;
    }
    const fits = Math.min(n, room);
    if (fits > 0) {
      frame.set(fits === chunk.length ? chunk : chunk.subarray(at, at + fits), this.#filled);
      this.#filled += fits;
    }
    return MORE;
  }

  /**
   * At the end of the stream: the whole frame (prefix included), or why it is not one message. The byte
   * counts are those of the wire: what was declared, what came after the prefix.
   */
  finish(): { readonly frame: Buffer } | { readonly error: string } {
    if (this.#frame === undefined) return { error: `a unary call carries one message, got ${this.#headBytes} bytes` };
    const declared = this.#frame.length - 5;
    const received = this.#filled - 5 + this.#extra;
    if (received !== declared) return { error: `a unary call carries one message of ${declared} bytes, got ${received} bytes after its prefix` };
    return { frame: this.#frame };
  }
}

const MORE: ReadOutcome = { kind: "more" };
const TOO_LARGE: ReadOutcome = { kind: "too-large" };
