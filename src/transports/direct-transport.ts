/**
 * The transport of `inline` agents: two ends in the same thread. Batches are handed
 * over by reference (no clone — inline is the "current architecture" baseline, where
 * calls are plain calls) on a microtask, so a call is never answered synchronously
 * and code behaves the same as with a real boundary.
 */
import type { Batch } from '../wire.ts';
import type { Transport, TransportSink } from './transport.ts';

class DirectTransport implements Transport {
  peer!: DirectTransport;
  sink: TransportSink | undefined;
  closed = false;

  attach(sink: TransportSink): void {
    this.sink = sink;
  }

  send(batch: Batch): void {
    if (this.closed) return;
    const peer = this.peer;
    queueMicrotask(() => {
      if (!peer.closed) peer.sink?.onBatch(batch);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const peer = this.peer;
    queueMicrotask(() => {
      if (peer.closed) return;
      peer.closed = true;
      peer.sink?.onClose();
    });
  }
}

/** Two connected in-thread transports. */
export function directTransportPair(): [Transport, Transport] {
  const a = new DirectTransport();
  const b = new DirectTransport();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
