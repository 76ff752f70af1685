/** Two connected in-memory byte streams, for stream-transport tests. */
import { Duplex, PassThrough } from 'node:stream';

/** Two connected in-memory duplex streams, and the raw pipes under them. */
export function streamPair(): { a: Duplex; b: Duplex; toB: PassThrough; toA: PassThrough } {
  const toB = new PassThrough();
  const toA = new PassThrough();
  return { a: Duplex.from({ readable: toA, writable: toB }), b: Duplex.from({ readable: toB, writable: toA }), toB, toA };
}
