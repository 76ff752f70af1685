/**
 * The sending half of the stream format: turns a batch into one stream frame within the
 * size limit, or reports that it cannot. A transport only moves batches: a batch too
 * large (in bytes, or in the values it would decode to on the other side) is refused
 * with `MessageTooLargeError`, and the connection that sent it decides what that means
 * for each of its frames (it resends them one by one; see `IpcConnection.resendOneByOne`).
 */
import { MessageTooLargeError } from '../errors.ts';
import type { Batch } from '../wire.ts';
import { decodeBudget, withinDecodeBudget } from '../decoded-size.ts';
import { STREAM_HEADER_BYTES, encodeStreamFrame } from './stream-frames.ts';

/** Where a {@link StreamFrameWriter} puts what it produces. */
export interface StreamFrameOutput {
  /** An encoded frame to send. `batch` is what it carries, for bookkeeping. */
  write(frame: Buffer, batch: Batch): void;
}

/** Encodes batches into stream frames of at most `limit` body bytes. */
export class StreamFrameWriter {
  constructor(
    private readonly limit: number,
    private readonly output: StreamFrameOutput,
  ) {}

  /**
   * Sends `batch` on `channel` as one frame. Throws, having sent nothing, if it cannot
   * be serialized at all (a function, a symbol) or is too large for the other side
   * (`MessageTooLargeError`, whose `size` and `limit` say by how much).
   */
  send(channel: number, batch: Batch): void {
    const frame = encodeStreamFrame(channel, batch);
    const bodyBytes = frame.length - STREAM_HEADER_BYTES;
    if (bodyBytes > this.limit) throw new MessageTooLargeError('a batch', bodyBytes, this.limit);
    // The receiver would refuse a body whose decoded values exceed its budget and close
    // the stream: such a batch is too large too.
    if (!withinDecodeBudget(frame.subarray(STREAM_HEADER_BYTES), decodeBudget(this.limit))) {
      const budget = decodeBudget(this.limit);
      throw new MessageTooLargeError('the decoded values of a batch (estimated)', budget + 1, budget);
    }
    this.output.write(frame, batch);
  }
}
