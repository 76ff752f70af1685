/**
 * A process agent's blocking calls, made by its main thread on the blocking socket
 * itself: the request goes out with one `write` and the thread sleeps in `read` until
 * the node's answer arrives. That is two thread wake-ups per call (the node's, then
 * this thread's), as for a thread agent's mailbox, and no helper thread on the path.
 * The socket is the child's fd 4, left in blocking mode: nothing in this process opens
 * it with libuv. Frames are described in `process-frames.ts`.
 *
 * What wakes a parked call, besides its answer:
 * - the node's timeout: the request carries its timeout and the node answers TIMEOUT
 *   when it elapses (a thread cannot be woken from `read` by its own timer);
 * - the agent closing: the node writes CLOSE before anything else of the close;
 * - the node's end of the socket closing, however (the node died, or dropped the
 *   agent): `read` returns end of file.
 */
import { readSync, writeSync } from 'node:fs';
import { ByteArea, decode, encodeCallInto, encodeInto, encodeToNewBuffer } from './value-codec.ts';
import { deserializeError, type WireError } from '../error-codec.ts';
import { ConnectionClosedError, DataCloneError, MessageTooLargeError, ProtocolError, TimeoutError } from '../errors.ts';
import type { BlockingPath } from '../isolation/agent-runtime.ts';
import { FRAME_HEADER_BYTES, FrameKind, MAX_FRAME_TIMEOUT_MS, readFrameHeader, writeFrameHeader } from './process-frames.ts';
import { decodeBudget } from '../decoded-size.ts';

/** Size of the reusable request and answer buffers; larger frames get a buffer of their own. */
const BUFFER_BYTES = 64 * 1024;

/** What the caller needs from the agent runtime around it. */
export interface ProcessBlockingCallerOptions {
  /** The blocking socket's file descriptor (blocking mode). */
  fd: number;
  /** Default timeout in ms (`0` = none). */
  timeoutMs: number;
  /** Largest request body the agent may send, and answer body it accepts. */
  maxMessageBytes: number;
  /**
   * Sends the agent's queued async frames now and returns the id of the last async
   * request sent: the node serves this blocking call only after it has started that one.
   * Throws (`DeadlockError`) if that request cannot leave before this call returns
   * (`IpcConnection.blockingFence`).
   */
  beforeBlock(command: string): number;
  /** The error to throw once the node said CLOSE or is gone. */
  closedError(cause?: Error): Error;
  /** Names the node in error stacks. */
  peerName: string;
}

/** Makes blocking calls from a process agent's main thread to the node. */
export class ProcessBlockingCaller implements BlockingPath {
  private readonly out = new ByteArea(new ArrayBuffer(BUFFER_BYTES));
  private readonly outBuffer = Buffer.from(this.out.backing);
  /** The same buffer after the frame header: where the call envelope writes a body. */
  private readonly outBody = new ByteArea(this.out.backing, FRAME_HEADER_BYTES);
  /** Bytes read from the socket: those from `start` to `end` are not consumed yet. */
  private input = Buffer.allocUnsafeSlow(BUFFER_BYTES);
  private start = 0;
  private end = 0;
  private seq = 0;
  /** Why no call can be made any more (CLOSE received, end of file, a broken stream). */
  private closed: Error | undefined;

  /** The heap an answer's v8 body may decode to (`decodeBudget` of `maxMessageBytes`), worked out once. */
  private readonly maxDecoded: number;

  constructor(private readonly options: ProcessBlockingCallerOptions) {
    this.maxDecoded = decodeBudget(options.maxMessageBytes);
  }

  call(command: string, payload: unknown, timeoutMs = this.options.timeoutMs): unknown {
    if (this.closed) throw this.options.closedError(this.closed);
    const fence = this.options.beforeBlock(command);
    const seq = (this.seq = (this.seq + 1) >>> 0);
    this.send(command, payload, seq, fence, timeoutMs > 0 ? Math.min(Math.ceil(timeoutMs), MAX_FRAME_TIMEOUT_MS) : 0);
    for (;;) {
      const at = this.readFrame();
      const header = readFrameHeader(this.input, at);
      const bodyAt = at + FRAME_HEADER_BYTES;
      const bodyEnd = bodyAt + header.bodyLength;
      if (header.kind === FrameKind.CLOSE) {
        this.consume(bodyEnd);
        this.closed = new ConnectionClosedError('the node closed the blocking channel');
        throw this.options.closedError();
      }
      if (header.seq !== seq) {
        throw this.broken(new ProtocolError(`blocking call '${command}' got a frame of call #${header.seq}, not #${seq}`));
      }
      if (header.kind === FrameKind.TIMEOUT) {
        this.consume(bodyEnd);
        throw new TimeoutError(command, timeoutMs);
      }
      if (header.kind !== FrameKind.ANSWER && header.kind !== FrameKind.ERROR) {
        throw this.broken(new ProtocolError(`blocking call '${command}' got a frame of unknown kind ${header.kind}`));
      }
      // A buffer of its own (a large answer) is not reused: byte arrays may stay views into it.
      const own = this.input.length > BUFFER_BYTES;
      let value: unknown;
      try {
        value = decode(new ByteArea(this.input.buffer, this.input.byteOffset, this.input.length), bodyAt, bodyEnd, own, this.maxDecoded);
      } catch (error) {
        throw this.broken(new ProtocolError(`blocking call '${command}': unreadable answer`, { cause: error }));
      } finally {
        this.consume(bodyEnd);
      }
      if (header.kind === FrameKind.ERROR) throw deserializeError(value as WireError, this.options.peerName);
      return value;
    }
  }

  /** Encodes and writes one request frame (one `write` when it fits the reusable buffer). */
  private send(command: string, payload: unknown, seq: number, fence: number, timeoutMs: number): void {
    // The common shape first (value-codec.ts, "The call envelope"): the same bytes, sooner.
    let end = encodeCallInto(command, payload, this.outBody);
    if (end >= 0) end += FRAME_HEADER_BYTES;
    else {
      try {
        end = encodeInto([command, payload], this.out, FRAME_HEADER_BYTES);
      } catch (error) {
        throw error instanceof DataCloneError ? new DataCloneError(`an argument of blocking call '${command}'`, { cause: error.cause }) : error;
      }
    }
    if (end >= 0) {
      const bodyLength = end - FRAME_HEADER_BYTES;
      if (bodyLength > this.options.maxMessageBytes) throw new MessageTooLargeError(`blocking call '${command}' request`, bodyLength, this.options.maxMessageBytes);
      writeFrameHeader(this.outBuffer, bodyLength, FrameKind.REQUEST, seq, fence, timeoutMs);
      this.write(this.outBuffer, end);
      return;
    }
    const body = encodeToNewBuffer([command, payload]);
    if (body.length > this.options.maxMessageBytes) throw new MessageTooLargeError(`blocking call '${command}' request`, body.length, this.options.maxMessageBytes);
    writeFrameHeader(this.outBuffer, body.length, FrameKind.REQUEST, seq, fence, timeoutMs);
    this.write(this.outBuffer, FRAME_HEADER_BYTES);
    this.write(body, body.length);
  }

  /** Writes `length` bytes of `bytes` whole (a blocking socket may still take them in parts). */
  private write(bytes: Uint8Array, length: number): void {
    let done = 0;
    try {
      while (done < length) done += writeSync(this.options.fd, bytes, done, length - done);
    } catch (error) {
      // EPIPE, ECONNRESET: the node's end is closed.
      this.closed = error as Error;
      throw this.options.closedError(this.closed);
    }
  }

  /** Reads until a whole frame is buffered; returns its offset in `input`. */
  private readFrame(): number {
    this.fill(FRAME_HEADER_BYTES);
    const bodyLength = this.input.readUInt32LE(this.start);
    if (bodyLength > this.options.maxMessageBytes) {
      throw this.broken(new MessageTooLargeError('blocking call answer', bodyLength, this.options.maxMessageBytes));
    }
    this.fill(FRAME_HEADER_BYTES + bodyLength);
    return this.start;
  }

  /** Reads from the socket until `needed` bytes from `start` are buffered. */
  private fill(needed: number): void {
    if (this.end - this.start >= needed) return;
    if (this.input.length - this.start < needed) {
      // Not enough room after `start`: move what is buffered to a buffer big enough.
      const target = needed > BUFFER_BYTES ? Buffer.allocUnsafeSlow(needed) : this.input;
      this.input.copy(target, 0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
      this.input = target;
    }
    while (this.end - this.start < needed) {
      let n: number;
      try {
        n = readSync(this.options.fd, this.input, this.end, this.input.length - this.end, null);
      } catch (error) {
        this.closed = error as Error;
        throw this.options.closedError(this.closed);
      }
      if (n === 0) {
        this.closed = new ConnectionClosedError("the node's end of the blocking socket closed");
        throw this.options.closedError(this.closed);
      }
      this.end += n;
    }
  }

  /**
   * Marks the bytes before `offset` as read. A large frame's buffer is left behind at
   * once (its answer may hold views into it); whatever follows that frame moves out.
   */
  private consume(offset: number): void {
    this.start = offset;
    if (this.input.length > BUFFER_BYTES) {
      const rest = Buffer.allocUnsafeSlow(Math.max(BUFFER_BYTES, this.end - this.start));
      this.input.copy(rest, 0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
      this.input = rest;
    } else if (this.start === this.end) {
      this.start = this.end = 0;
    }
  }

  /** The stream can no longer be trusted to be in step: no call is made on it again. */
  private broken(error: Error): Error {
    this.closed = error;
    return error;
  }
}
