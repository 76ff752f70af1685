/**
 * How many lines fit in one call between the node and a line agent. Lines travel in
 * batches, one call per batch (`deliver` node → agent, `send` agent → node), and a call
 * larger than the agent's `maxMessageBytes` is refused whole with `MessageTooLargeError`:
 * the peer would be cut off, or the protocol's lines lost, for traffic that is honest. So
 * every batch is cut to fit, by an upper bound of what its lines take in a message:
 *
 * - between processes a call is `v8.serialize`d, and V8 writes a string as one byte per
 *   UTF-16 unit when every unit is Latin-1, else two, after a tag, a varint length (at
 *   most 5 bytes) and, for a two-byte string, at most one byte of alignment;
 * - between threads, and inline, what is held to `maxMessageBytes` is `payloadBytes`
 *   (`payload-size.ts`): one byte per UTF-16 unit of a string.
 *
 * A line of `n` UTF-8 bytes has at most `n` UTF-16 units, so a line of `maxLineLength`
 * bytes is bounded too: a `maxLineLength` whose line could never fit in one call is
 * refused when the server is created (`line-server-options.ts`).
 */
import type { Isolation } from '../../types.ts';

/**
 * What a call carries besides its lines, at most: the frame's header, the request's kind,
 * id, method name and argument count, the connection id and the array around the lines
 * (measured at 45 bytes for `send`; kept generous, it costs a few lines of a batch).
 */
export const CALL_OVERHEAD_BYTES = 256;

/** What each line adds to a call besides its characters, at most: tag, length, alignment. */
export const LINE_OVERHEAD_BYTES = 8;

/** The byte budget of one call carrying lines. */
export class LineBudget {
  /** No limit: lines that never cross a message (a socket handed off to its agent). */
  static readonly UNLIMITED = new LineBudget(1, Infinity);

  /** The budget of the calls of an agent of `isolation` whose messages hold at most `maxMessageBytes`. */
  static of(isolation: Isolation, maxMessageBytes: number): LineBudget {
    return new LineBudget(isolation === 'process' ? 2 : 1, maxMessageBytes - CALL_OVERHEAD_BYTES);
  }

  /**
   * @param bytesPerUnit - The most one UTF-16 unit of a line takes in a message.
   * @param capacity - The bytes of a call left for its lines.
   */
  private constructor(
    private readonly bytesPerUnit: number,
    private readonly capacity: number,
  ) {}

  /** The most a line of `bytes` UTF-8 bytes can take in a call (it has at most as many UTF-16 units). */
  costOfBytes(bytes: number): number {
    return this.bytesPerUnit * bytes + LINE_OVERHEAD_BYTES;
  }

  /** The longest line, in UTF-8 bytes, that always fits in one call (0: none does). */
  get longestLine(): number {
    return Math.max(0, Math.floor((this.capacity - LINE_OVERHEAD_BYTES) / this.bytesPerUnit));
  }

  /**
   * How many of `lines`, from `start` on, fit in one call: at least one while any is left
   * (a line too long for any call is what the server's options rule out).
   */
  fits(lines: readonly string[], start: number): number {
    const left = lines.length - start;
    if (this.capacity === Infinity || left <= 0) return Math.max(0, left);
    let used = 0;
    let end = start;
    for (; end < lines.length; end++) {
      used += this.bytesPerUnit * lines[end]!.length + LINE_OVERHEAD_BYTES;
      if (used > this.capacity && end > start) break;
    }
    return end - start;
  }
}
