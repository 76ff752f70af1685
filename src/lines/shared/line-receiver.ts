/**
 * `LineReceiver`: turns the chunks of a TCP byte stream into lines, with the semantics
 * of Twisted's `LineReceiver`. Pure: no sockets, no timers — the line server feeds it
 * whatever `data` events bring and decides what to do with lines and errors.
 *
 * - A line is the bytes between two delimiters, without the delimiter. Empty lines are
 *   lines. A delimiter may be split across chunks; so may a line, however many chunks it
 *   takes.
 * - A line longer than `maxLineLength` **bytes** is an error (`MessageTooLargeError`),
 *   raised as soon as the buffered bytes prove it, not when its delimiter finally
 *   arrives: a peer cannot make the node buffer more than the limit.
 * - Lines must be valid UTF-8. An invalid one is an error (`ProtocolError`), not a line
 *   with replacement characters: silently changing what a peer sent would surface much
 *   later as a hash or signature that does not verify, far from the cause. A byte-order
 *   mark is kept as U+FEFF (not stripped).
 * - After an error the receiver is spent: it returns no more lines.
 * - Bytes after the last delimiter when the stream ends are not a line (Twisted discards
 *   them too); {@link LineReceiver.buffered} says how many there were.
 */
import { Buffer, isUtf8 } from 'node:buffer';
import { MessageTooLargeError, ProtocolError } from '../../errors.ts';
import { invalidArgument } from '../../invalid-option.ts';

/** How a {@link LineReceiver} frames lines. */
export interface LineReceiverOptions {
  /** What ends a line, e.g. `'\r\n'`. Non-empty; compared as its UTF-8 bytes. */
  delimiter: string;
  /** The longest line accepted, in bytes, delimiter excluded. */
  maxLineLength: number;
}

/** What one chunk produced: the complete lines in it, in order, and an error if framing broke. */
export interface ReceivedLines {
  /** Every complete line before the error (all of them if there was none). */
  lines: string[];
  /** Why the stream cannot go on; set once, on the chunk where framing broke. */
  error?: MessageTooLargeError | ProtocolError;
}

const NOTHING: ReceivedLines = Object.freeze({ lines: [] }) as ReceivedLines;
const EMPTY = Buffer.alloc(0);
/** The first allocation for an unfinished line; it doubles from there, up to the limit. */
const INITIAL_HOLD = 256;

/** Splits a byte stream into lines; one receiver per connection. */
export class LineReceiver {
  private readonly delimiter: Buffer;
  private readonly maxLineLength: number;
  /**
   * The line not yet complete: its first `pendingLength` bytes. One buffer grown by
   * doubling rather than a list of chunks: a peer dripping one byte per TCP segment
   * would otherwise cost a Buffer object (~100 bytes of heap) per byte it sent.
   */
  private pending: Buffer = EMPTY;
  private pendingLength = 0;
  private failure: MessageTooLargeError | ProtocolError | undefined;

  constructor(options: LineReceiverOptions) {
    if (typeof options.delimiter !== 'string' || options.delimiter.length === 0) throw invalidArgument('LineReceiver needs a non-empty delimiter');
    if (!Number.isSafeInteger(options.maxLineLength) || options.maxLineLength < 1) throw invalidArgument('LineReceiver needs a positive maxLineLength');
    this.delimiter = Buffer.from(options.delimiter, 'utf8');
    this.maxLineLength = options.maxLineLength;
  }

  /** Bytes of an incomplete line held until its delimiter arrives. */
  get buffered(): number {
    return this.pendingLength;
  }

  /** The framing error that ended this stream, if one did. */
  get error(): MessageTooLargeError | ProtocolError | undefined {
    return this.failure;
  }

  /** Feeds the next chunk of the stream; returns the lines it completed. */
  push(chunk: Uint8Array): ReceivedLines {
    if (this.failure) return NOTHING;
    const data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const lines: string[] = [];
    const delimiter = this.delimiter;
    let from = 0;

    if (this.pendingLength > 0) {
      // The first delimiter may begin in the bytes already held.
      const held = this.delimiterStartingInPending(data);
      if (held > 0) {
        if (!this.emit(this.takePending(this.pendingLength - held), lines)) return { lines, error: this.failure };
        from = delimiter.length - held;
      } else {
        const at = data.indexOf(delimiter);
        if (at < 0) {
          this.hold(data, 0);
          return this.failure ? { lines, error: this.failure } : { lines };
        }
        const line = Buffer.concat([this.takePending(this.pendingLength), data.subarray(0, at)]);
        if (!this.emit(line, lines)) return { lines, error: this.failure };
        from = at + delimiter.length;
      }
    }

    for (let at = data.indexOf(delimiter, from); at >= 0; at = data.indexOf(delimiter, from)) {
      if (!this.emit(data.subarray(from, at), lines)) return { lines, error: this.failure };
      from = at + delimiter.length;
    }
    if (from < data.length) this.hold(data, from);
    return this.failure ? { lines, error: this.failure } : { lines };
  }

  /** Keeps `data[from..]` as the start of the next line, failing once it cannot fit. */
  private hold(data: Buffer, from: number): void {
    const length = this.pendingLength + data.length - from;
    // Up to delimiter.length - 1 of the held bytes may turn out to be the delimiter's start.
    const longest = this.maxLineLength + this.delimiter.length - 1;
    if (length > longest) {
      this.fail(new MessageTooLargeError('line', length, this.maxLineLength));
      return;
    }
    if (length > this.pending.length) {
      // A copy, so a small tail does not pin a whole 64 KiB socket chunk in memory.
      const grown = Buffer.allocUnsafe(Math.min(longest, Math.max(length, 2 * this.pending.length, INITIAL_HOLD)));
      this.pending.copy(grown, 0, 0, this.pendingLength);
      this.pending = grown;
    }
    data.copy(this.pending, this.pendingLength, from);
    this.pendingLength = length;
  }

  /**
   * How many bytes at the end of the held data begin a delimiter that `data` completes
   * (0 if none). Only matters for delimiters longer than one byte.
   */
  private delimiterStartingInPending(data: Buffer): number {
    const delimiter = this.delimiter;
    const max = Math.min(delimiter.length - 1, this.pendingLength);
    for (let held = max; held > 0; held--) {
      const rest = delimiter.length - held;
      if (data.length < rest) continue;
      let matches = true;
      for (let i = 0; i < held && matches; i++) matches = this.pendingByteFromEnd(held - i) === delimiter[i];
      for (let i = 0; i < rest && matches; i++) matches = data[i] === delimiter[held + i];
      if (matches) return held;
    }
    return 0;
  }

  /** The held byte `n` places from the end (1 = last). */
  private pendingByteFromEnd(n: number): number {
    return this.pending[this.pendingLength - n]!;
  }

  /**
   * The first `length` held bytes; the held data is cleared and its buffer let go (a
   * connection that once sent a long line should not keep its size for good).
   */
  private takePending(length: number): Buffer {
    const held = this.pending.subarray(0, length);
    this.pending = EMPTY;
    this.pendingLength = 0;
    return held;
  }

  /** Checks and decodes one line into `lines`; false (and spent) if the line is refused. */
  private emit(bytes: Buffer, lines: string[]): boolean {
    if (bytes.length > this.maxLineLength) {
      this.fail(new MessageTooLargeError('line', bytes.length, this.maxLineLength));
      return false;
    }
    if (!isUtf8(bytes)) {
      this.fail(new ProtocolError('received a line that is not valid UTF-8'));
      return false;
    }
    lines.push(bytes.toString('utf8'));
    return true;
  }

  private fail(error: MessageTooLargeError | ProtocolError): void {
    this.failure = error;
    this.pending = EMPTY;
    this.pendingLength = 0;
  }
}
