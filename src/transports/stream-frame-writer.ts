/**
 * The sending half of the stream format: turns batches into stream frames within the
 * size limit. A batch too large as a whole goes frame by frame; a single frame too
 * large fails alone — a request is answered locally with `MessageTooLargeError` (the
 * call rejects at its call site), an answer is replaced by that error for the caller
 * on the other side, a one-way frame is dropped.
 */
import { serializeError } from '../error-codec.ts';
import { MessageTooLargeError } from '../errors.ts';
import { FrameKind, frameEnd, type Batch } from '../wire.ts';
import { withinDecodeBudget } from '../decoded-size.ts';
import { STREAM_HEADER_BYTES, decodeBudget, encodeStreamFrame } from './stream-frames.ts';

/** Where a {@link StreamFrameWriter} puts what it produces. */
export interface StreamFrameOutput {
  /** An encoded frame to send. `batch` is what it carries, for bookkeeping. */
  write(frame: Buffer, batch: Batch): void;
  /** A batch to deliver locally as if the other side had sent it (on `channel`). */
  loopback(channel: number, batch: Batch): void;
}

/** Encodes batches into stream frames of at most `limit` body bytes. */
export class StreamFrameWriter {
  constructor(
    private readonly limit: number,
    private readonly output: StreamFrameOutput,
  ) {}

  /** Sends `batch` on `channel`. Throws only if it cannot be serialized at all (a function, a symbol). */
  send(channel: number, batch: Batch): void {
    const frame = encodeStreamFrame(channel, batch);
    const bodyBytes = frame.length - STREAM_HEADER_BYTES;
    // The receiver would refuse a body whose decoded values exceed its budget and close
    // the stream: such a frame is too large too, and fails alone here.
    if (bodyBytes <= this.limit && withinDecodeBudget(frame.subarray(STREAM_HEADER_BYTES), decodeBudget(this.limit))) {
      this.output.write(frame, batch);
    } else if (frameEnd(batch, 0) !== batch.length) {
      // More than one frame (batches are built by the connection, so always well formed).
      for (let i = 0, end = frameEnd(batch, 0); end > i; i = end, end = frameEnd(batch, i)) this.send(channel, batch.slice(i, end));
    } else {
      this.refuse(channel, batch, bodyBytes);
    }
  }

  private refuse(channel: number, frame: Batch, bodyBytes: number): void {
    const [kind, id, command] = frame;
    if (kind === FrameKind.REQUEST) {
      const error = serializeError(this.tooLarge(`request '${String(command)}'`, bodyBytes));
      // Delivered on a later microtask: the connection is in the middle of a flush now.
      queueMicrotask(() => this.output.loopback(channel, [FrameKind.ERROR, id, error]));
    } else if (kind === FrameKind.RESPONSE || kind === FrameKind.ERROR) {
      const error = serializeError(this.tooLarge(`the answer to request #${String(id)}`, bodyBytes));
      const replacement: Batch = [FrameKind.ERROR, id, error];
      this.output.write(encodeStreamFrame(channel, replacement), replacement);
    }
    // NOTIFY and CANCEL frames are one-way: nobody waits for them.
  }

  /** Too many bytes, or (under the byte limit) decoded values estimated over the budget. */
  private tooLarge(what: string, bodyBytes: number): MessageTooLargeError {
    if (bodyBytes > this.limit) return new MessageTooLargeError(what, bodyBytes, this.limit);
    const budget = decodeBudget(this.limit);
    return new MessageTooLargeError(`the decoded values of ${what} (estimated)`, budget + 1, budget);
  }
}
