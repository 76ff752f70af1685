/**
 * A blocking sleep for threads that are allowed to block (workers, and the main thread
 * of a synchronous baseline such as synckit). The "spaced" scenario sleeps between
 * calls this way rather than with a timer because a timer would need the event loop,
 * which the blocking caller does not get back until it returns.
 */

// Nobody ever notifies this cell, so a wait on it always runs to its timeout.
const cell = new Int32Array(new SharedArrayBuffer(4));

export function sleepBlocking(ms: number): void {
  Atomics.wait(cell, 0, 0, ms);
}
