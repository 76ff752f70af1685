/**
 * The frames of a process agent's blocking socket (the child's fd 4). The agent's main
 * thread writes a request and reads the answer on this socket itself, with blocking
 * system calls (see `process-caller.ts`); the node reads and answers on its
 * event loop (see `process-server.ts`). There is at most one call in flight.
 *
 * Every frame is a fixed header and a body, integers little-endian:
 *
 * | offset | size | field                                                            |
 * |--------|------|------------------------------------------------------------------|
 * | 0      | 4    | body length in bytes (u32)                                       |
 * | 4      | 1    | kind (see {@link FrameKind})                                     |
 * | 5      | 3    | zero                                                             |
 * | 8      | 4    | seq: the call's number, chosen by the agent, echoed by the node |
 * | 12     | 4    | request: fence, the id of the agent's last async request before it |
 * | 16     | 4    | request: timeout in ms (0 = none), kept by the node             |
 * | 20     | len  | body: the blocking codec (`src/blocking/value-codec.ts`)                        |
 *
 * Bodies: a request carries `[command, payload]`; an answer the value; an error a
 * `WireError`; TIMEOUT and CLOSE carry none. The node answers each request exactly once,
 * with ANSWER, ERROR or TIMEOUT, and never after it sent CLOSE. A body is never longer
 * than `maxMessageBytes`: the sender refuses to write one, the receiver to read one.
 */

/** Bytes before a frame's body. */
export const FRAME_HEADER_BYTES = 20;

/** Frame kinds. Part of the wire format: never renumber. */
export const FrameKind = {
  /** agent → node: a blocking call. */
  REQUEST: 1,
  /** node → agent: the call's value. */
  ANSWER: 2,
  /** node → agent: the call failed; the body is a WireError. */
  ERROR: 3,
  /** node → agent: the call's timeout elapsed first; a late answer is dropped by the node. */
  TIMEOUT: 4,
  /** node → agent: the agent is closing; no call will be answered any more. */
  CLOSE: 5,
} as const;

/** The largest timeout a request can carry (u32 ms, ~49 days: beyond it, none). */
export const MAX_FRAME_TIMEOUT_MS = 0xffff_ffff;

/** The header fields of a frame. */
export interface FrameHeader {
  bodyLength: number;
  kind: number;
  seq: number;
  fence: number;
  timeoutMs: number;
}

/** Writes a header at the start of `into`. */
export function writeFrameHeader(into: Buffer, bodyLength: number, kind: number, seq: number, fence = 0, timeoutMs = 0): void {
  into.writeUInt32LE(bodyLength, 0);
  into.writeUInt32LE(kind, 4);
  into.writeUInt32LE(seq >>> 0, 8);
  into.writeUInt32LE(fence >>> 0, 12);
  into.writeUInt32LE(timeoutMs, 16);
}

/** Reads the header at `offset` of `from` (which holds at least {@link FRAME_HEADER_BYTES} bytes there). */
export function readFrameHeader(from: Buffer, offset: number): FrameHeader {
  return {
    bodyLength: from.readUInt32LE(offset),
    kind: from.readUInt32LE(offset + 4),
    seq: from.readUInt32LE(offset + 8),
    fence: from.readUInt32LE(offset + 12),
    timeoutMs: from.readUInt32LE(offset + 16),
  };
}
