/**
 * A process agent's blocking-socket frames (src/blocking/process-frames.ts) built and
 * read by tests that play one end of the socket themselves.
 */
import { FRAME_HEADER_BYTES, FrameKind, readFrameHeader, writeFrameHeader } from '../../src/blocking/process-frames.ts';
import { ByteArea, decode } from '../../src/blocking/value-codec.ts';

/** A frame as read back: its kind, its call's seq and its decoded body (`undefined` if empty). */
export interface ReadFrame {
  kind: number;
  seq: number;
  body: unknown;
}

/**
 * A frame of `kind` (default a request) for call `seq` with `body`; `length` may claim
 * another body length than the bytes given (a lying header), `fence` and `timeoutMs` are
 * the request's ordering fence and the timeout the node keeps.
 */
export function requestFrame(body: Uint8Array, seq = 1, kind: number = FrameKind.REQUEST, length = body.length, fence = 0, timeoutMs?: number): Buffer {
  const frame = Buffer.alloc(FRAME_HEADER_BYTES + body.length);
  writeFrameHeader(frame, length, kind, seq, fence, timeoutMs);
  frame.set(body, FRAME_HEADER_BYTES);
  return frame;
}

/** Every whole frame in `bytes`, in order, with bodies decoded. */
export function readFrames(bytes: Buffer): ReadFrame[] {
  const frames: ReadFrame[] = [];
  for (let at = 0; at < bytes.length; ) {
    const header = readFrameHeader(bytes, at);
    const start = at + FRAME_HEADER_BYTES;
    const end = start + header.bodyLength;
    frames.push({ kind: header.kind, seq: header.seq, body: header.bodyLength ? decode(new ByteArea(bytes.buffer, bytes.byteOffset, bytes.length), start, end) : undefined });
    at = end;
  }
  return frames;
}
