/**
 * The wire format: what travels between two ends of an {@link IpcConnection}.
 *
 * A *frame* is a kind followed by the slots that kind has:
 *
 * | kind     | slots after the kind                      | meaning                                         |
 * |----------|-------------------------------------------|-------------------------------------------------|
 * | REQUEST  | `id · command · count · arg₁ … argₙ`      | a typed call: `count` (n ≥ 0) arguments follow  |
 * | REQUEST  | `id · command · -1 · bytes`               | a byte-layer call: one `Uint8Array` follows      |
 * | RESPONSE | `id · value`                              | the result of request `id`                       |
 * | ERROR    | `id · error`                              | request `id` failed: a {@link WireError}         |
 * | CANCEL   | `id`                                      | the caller gave up on request `id`               |
 * | NOTIFY   | `name · value`                            | a one-way control message (no id, no answer)     |
 *
 * A request's arguments sit in the batch itself rather than in an array of their own:
 * structured clone and `v8.serialize` then copy one flat array per batch instead of
 * one array per call, which is most of what a small call costs to send.
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
 * A *batch* is the frames one end queued, back to back in one flat array:
 * `[REQUEST, 7, 'add', 2, 40, 2, CANCEL, 5, …]`. Everything queued during one turn of
 * the event loop travels as one message, or several when a turn queues many frames
 * (so the other end can start on the first ones). Between threads a batch is posted
 * as is (structured clone keeps `Uint8Array`, `Map`, `Date`, `BigInt`, …); between
 * processes it is serialized (see the stream transport).
 */

/** Frame kinds. Values are part of the wire format: never renumber. */
export const FrameKind = {
  REQUEST: 1,
  RESPONSE: 2,
  ERROR: 3,
  CANCEL: 4,
  NOTIFY: 5,
} as const;

/** The `count` of a byte-layer REQUEST: one `Uint8Array` follows instead of arguments. */
export const BYTES_PAYLOAD = -1;

/** A batch of frames as it travels: a flat array of frames back to back (see above). */
export type Batch = unknown[];

/**
 * Where the frame starting at `at` ends (the index of the next frame), or `-1` if no
 * well-formed frame starts there: an unknown kind, or slots missing at the end of the
 * batch. Only the layout is checked here; the slots' types are the receiver's to judge.
 */
export function frameEnd(batch: Batch, at: number): number {
  let end: number;
  switch (batch[at]) {
    case FrameKind.REQUEST: {
      const count = batch[at + 3];
      if (count === BYTES_PAYLOAD) end = at + 5;
      else if (typeof count === 'number' && Number.isInteger(count) && count >= 0) end = at + 4 + count;
      else return -1;
      break;
    }
    case FrameKind.RESPONSE:
    case FrameKind.ERROR:
    case FrameKind.NOTIFY:
      end = at + 3;
      break;
    case FrameKind.CANCEL:
      end = at + 2;
      break;
    default:
      return -1;
  }
  return end <= batch.length ? end : -1;
}

/** The largest request id before the counter wraps (stays a small integer in V8). */
export const MAX_REQUEST_ID = 0x3fffffff;

/**
 * True if `id` is a request id: an integer from 0 (the fence of a side that has sent no
 * request yet) to {@link MAX_REQUEST_ID}. One AND and a compare (the mask is 2^30 - 1):
 * a fraction, NaN, a negative number, one past the range or a value of another type
 * changes under the mask.
 */
export function isRequestId(id: unknown): id is number {
  return ((id as number) & MAX_REQUEST_ID) === id;
}

/** True if request id `a` comes after `b`, allowing for the counter wrapping around. */
export function isLaterRequestId(a: number, b: number): boolean {
  const modulus = MAX_REQUEST_ID + 1;
  const d = (a - b + modulus) % modulus;
  return d !== 0 && d < modulus / 2;
}
