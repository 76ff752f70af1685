/**
 * Layout of the mailbox the Atomics floor uses, shared by its two sides: a header of
 * Int32 cells followed by a byte area large enough for the biggest payload, so a call
 * never needs more than one round trip.
 */

/** Sequence number of the latest request; written by the worker, waited on by main. */
export const REQUEST = 0;
/** Sequence number of the latest answer; written by main, waited on by the worker. */
export const RESPONSE = 1;
/** What is asked: one of the OP_ constants. */
export const OP = 2;
/** Arguments: `add(A, B)`, or `bytes(A)`. */
export const A = 3;
export const B = 4;
/** Answer of `add`. */
export const RESULT = 5;
/** Length of the answer of `bytes`, which is in the byte area. */
export const LENGTH = 6;
/**
 * 1 while that side is parked (or about to park). The other side calls
 * `Atomics.notify` only then, and the worker does not spin for an answer from a main
 * thread that first has to wake up: on 2 cores a spinning worker delays that wake-up
 * (seen: ~115 µs per call instead of ~15 µs). Each side sets its flag before its
 * wait re-checks the awaited cell, and the other side writes that cell before it reads
 * the flag; with seq-cst atomics one of the two always sees the other's write, so no
 * wake-up is lost.
 */
export const MAIN_PARKED = 7;
export const WORKER_PARKED = 8;

export const OP_ADD = 1;
export const OP_BYTES = 2;

export const HEADER_BYTES = 64;
export const DATA_BYTES = 8 * 1024 * 1024;

/**
 * How long a side keeps checking for the other's write before it parks, in the
 * spinning variant. Long enough to cover the gap between two calls of a burst (about a
 * microsecond), short enough that an idle period costs one wake-up, not a core.
 */
export const SPIN_MS = 0.05;

export interface FloorWorkerData {
  sab: SharedArrayBuffer;
  spin: boolean;
}

export type FloorCommand =
  | { kind: 'burst'; calls: number }
  | { kind: 'spaced'; calls: number; gapMs: number }
  | { kind: 'fetch'; size: number; calls: number };

export interface FloorReply {
  ns: number;
  error?: string;
}
