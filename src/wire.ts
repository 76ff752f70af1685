/**
 * The wire format: what travels between two ends of an {@link IpcConnection}.
 *
 * A *frame* is four slots: `kind · id · command · payload`.
 *
 * | kind     | id                   | command            | payload                                |
 * |----------|----------------------|--------------------|----------------------------------------|
 * | REQUEST  | caller's request id  | method / command   | args array (typed) or `Uint8Array` (byte layer) |
 * | RESPONSE | id of the request    | `0`                | the result value                       |
 * | ERROR    | id of the request    | `0`                | a {@link WireError}                    |
 * | CANCEL   | id of the request    | `0`                | `0`                                    |
 * | NOTIFY   | `0`                  | control name       | any value (one-way, no answer)         |
 *
 * Request ids are allocated per direction: each end numbers its own requests from 1,
 * and a RESPONSE/ERROR/CANCEL id always names a request of the end that *sent* the
 * request. So no counter is shared between the two ends (the RFC's shared
 * `multiprocessing.Value` is not needed), and ids never collide.
 *
 * CANCEL means the caller gave up on that request (timeout, abort, or it could not be
 * serialized and never left): the callee aborts it if it is running, and counts the id
 * as sent either way.
 *
 * A *batch* is a flat array of frames, `[k, id, cmd, payload, k, id, cmd, payload, …]`:
 * everything one end queues during one turn of its event loop travels as one message.
 * Between threads a batch is posted as is (structured clone keeps `Uint8Array`, `Map`,
 * `Date`, `BigInt`, …); between processes it is serialized (see the stream transport).
 */

/** Frame kinds. Values are part of the wire format: never renumber. */
export const FrameKind = {
  REQUEST: 1,
  RESPONSE: 2,
  ERROR: 3,
  CANCEL: 4,
  NOTIFY: 5,
} as const;

/** Slots per frame in a batch. */
export const FRAME_SLOTS = 4;

/** A batch of frames as it travels: a flat array, `FRAME_SLOTS` (4) slots a frame. */
export type Batch = unknown[];

/** The largest request id before the counter wraps (stays a small integer in V8). */
export const MAX_REQUEST_ID = 0x3fffffff;

/** True if request id `a` comes after `b`, allowing for the counter wrapping around. */
export function isLaterRequestId(a: number, b: number): boolean {
  const modulus = MAX_REQUEST_ID + 1;
  const d = (a - b + modulus) % modulus;
  return d !== 0 && d < modulus / 2;
}
