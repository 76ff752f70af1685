/**
 * The wire format of a byte stream between two processes (a pipe or a Unix socket):
 * how batches (see `wire.ts`) become bytes and bytes become batches again.
 *
 * A stream is a sequence of *stream frames*, one per batch:
 *
 * | offset | size   | field                                                         |
 * |--------|--------|---------------------------------------------------------------|
 * | 0      | 4      | body length in bytes, unsigned 32-bit big-endian              |
 * | 4      | 1      | channel (see {@link StreamChannel})                           |
 * | 5      | length | body: the batch as `v8.serialize` writes it (header + value)  |
 *
 * The body is V8's structured-clone serialization, so a batch keeps what it keeps
 * between threads: `Uint8Array` and other typed arrays, `Map`, `Set`, `Date`,
 * `BigInt`, `RegExp`, nested objects. Typed arrays are copied out of the received
 * chunk on arrival (never views into it), and a `Buffer` arrives as a plain
 * `Uint8Array`, as it would from a `MessagePort`.
 *
 * A receiver refuses a body longer than its `maxMessageBytes` before buffering it,
 * and a sender never writes one: its writer refuses the batch (see
 * `stream-frame-writer.ts`), and the connection splits it into its frames, so that a
 * single frame too large fails on its own.
 *
 * The same holds for what a body *decodes to*: a receiver refuses, undecoded, a body
 * whose decoded values are estimated to take more than `DECODE_BUDGET_FACTOR` (decoded-size.ts)
 * × `maxMessageBytes` of heap (see `decoded-size.ts`: small objects, empty maps,
 * sparse arrays make a few bytes of body into much more heap), and a sender treats
 * such a frame as too large. So what the node allocates for one stream frame is at
 * most the body (≤ `maxMessageBytes`, plus one copy when it arrived in pieces) and
 * its decoded values (≤ 8 × `maxMessageBytes`): about 10 × `maxMessageBytes`.
 * Channels let several connections share one stream in order; a stream frame never
 * mixes channels.
 */
import v8 from 'node:v8';
import { BodyWalkError, decodeBudget, decodedSizeEstimate, withinDecodeBudget } from '../decoded-size.ts';
import { MessageTooLargeError, ProtocolError } from '../errors.ts';
import type { Batch } from '../wire.ts';
import { ChunkQueue } from './chunk-queue.ts';

/** Bytes before the body of a stream frame. */
export const STREAM_HEADER_BYTES = 5;

/** The largest body length the header can express. */
const MAX_BODY_BYTES = 0xffff_ffff;


/**
 * Throws unless `body` is within the decode budget of `maxBodyBytes`:
 * `MessageTooLargeError` over the budget, `ProtocolError` for a body that is not a
 * serialized value at all. Linear in the body's length, and free for a body too
 * short to exceed the budget.
 */
export function checkDecodeBudget(body: Uint8Array, maxBodyBytes: number, what = 'stream frame'): void {
  const budget = decodeBudget(maxBodyBytes);
  let within: boolean;
  try {
    within = withinDecodeBudget(body, budget);
  } catch (error) {
    if (error instanceof BodyWalkError) throw new ProtocolError(`received a ${what} whose body is not a serialized value (${error.message})`);
    throw error;
  }
  if (!within) throw new MessageTooLargeError(`the decoded values of a ${what} (estimated)`, decodedSizeEstimate(body, budget), budget);
}

/**
 * Channels of the stream between the node and a process agent. Values are part of
 * the wire format: never renumber.
 */
export const StreamChannel = {
  /** The agent's connection: async calls both ways, control messages. */
  AGENT: 0,
  /**
   * Retired: blocking calls an I/O thread of the agent used to forward. They now have a
   * socket of their own (`blocking/process-frames.ts`); a frame on this channel is a
   * protocol error. Kept so that the number is not reused.
   */
  RETIRED_BLOCKING: 1,
  /** node → agent, first frame only: the agent's start-up parameters. */
  SETUP: 2,
} as const;

/** Encodes `batch` as one stream frame on `channel`: header and body in one buffer. */
export function encodeStreamFrame(channel: number, batch: Batch): Buffer {
  const serializer = new v8.DefaultSerializer();
  // Room for the header first, so header and body leave in one buffer, one write.
  serializer.writeRawBytes(Buffer.alloc(STREAM_HEADER_BYTES));
  serializer.writeHeader();
  serializer.writeValue(batch);
  const frame = serializer.releaseBuffer();
  frame.writeUInt32BE(frame.length - STREAM_HEADER_BYTES, 0);
  frame[4] = channel;
  return frame;
}

/** How `DefaultDeserializer` reads a typed array (a hook its typings do not declare). */
const readHostObject = (v8.DefaultDeserializer.prototype as unknown as { _readHostObject(this: v8.Deserializer): ArrayBufferView })._readHostObject;

/** Copies typed arrays out of the frame body instead of viewing it (see the file comment). */
class CopyingDeserializer extends v8.DefaultDeserializer {
  /** Called by V8 for each typed array in the value. */
  _readHostObject(): unknown {
    const view = readHostObject.call(this);
    if (Buffer.isBuffer(view)) return new Uint8Array(view);
    if (view instanceof DataView) return new DataView(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
    const Typed = view.constructor as new (source: ArrayBufferView) => ArrayBufferView;
    return new Typed(view);
  }
}

/** Decodes the body of a stream frame. Throws `ProtocolError` if it is not one. */
export function decodeStreamBody(body: Uint8Array): unknown {
  try {
    const deserializer = new CopyingDeserializer(body);
    deserializer.readHeader();
    return deserializer.readValue();
  } catch (error) {
    throw new ProtocolError('received a stream frame whose body cannot be decoded', { cause: error });
  }
}

/**
 * Cuts a byte stream into frames: chunks may end anywhere (inside a header, inside a
 * body) and one chunk may hold many frames. Bodies are handed on as they are, not yet
 * decoded; a length over the limit is refused before any of the body is kept.
 */
export class StreamFrameReader {
  private readonly queue = new ChunkQueue();
  /** Body length and channel of the frame being read, once its header is complete. */
  private bodyLength = -1;
  private channel = 0;

  constructor(
    private readonly maxBodyBytes: number,
    private readonly onFrame: (channel: number, body: Buffer) => void,
  ) {}

  /** Drops the bytes of a frame not yet complete (the stream is closing: nothing more will be read). */
  clear(): void {
    this.queue.clear();
    this.bodyLength = -1;
  }

  /**
   * Takes the next chunk of the stream and hands on every frame it completes.
   * Throws `MessageTooLargeError` for a body over the limit (or whose decoded values
   * would be, see {@link checkDecodeBudget}); the stream is then unusable (there is no way to find the next frame) and must be closed.
   */
  push(chunk: Buffer): void {
    this.queue.push(chunk);
    for (;;) {
      if (this.bodyLength < 0) {
        if (this.queue.length < STREAM_HEADER_BYTES) return;
        const header = this.queue.take(STREAM_HEADER_BYTES);
        const length = header.readUInt32BE(0);
        if (length > this.maxBodyBytes) {
          throw new MessageTooLargeError('stream frame', length, this.maxBodyBytes);
        }
        this.bodyLength = length;
        this.channel = header[4]!;
      }
      if (this.queue.length < this.bodyLength) return;
      const body = this.queue.take(this.bodyLength);
      const channel = this.channel;
      this.bodyLength = -1;
      // Before anything decodes it: a small body can claim far more heap than it has bytes.
      checkDecodeBudget(body, this.maxBodyBytes);
      this.onFrame(channel, body);
    }
  }
}

/** The largest body a stream frame can carry, whatever `maxMessageBytes` says. */
export function bodyLimit(maxMessageBytes: number): number {
  return Math.min(maxMessageBytes, MAX_BODY_BYTES);
}
