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

  /** Batches sent but not yet handed to the peer. */
  private queued: Batch[] = [];

  send(batch: Batch): void {
    if (this.closed) return;
    this.queued.push(batch);
    if (this.queued.length === 1) queueMicrotask(() => this.deliver());
  }

  /**
   * Hands every queued batch to the peer now. An inline blocking call runs the node's
   * handler synchronously, so the async calls the agent sent before it must reach the
   * node first, as they would with a real boundary.
   */
  deliver(): void {
    // Usually nothing is queued: only this check runs, inlined into the blocking call.
    if (this.queued.length !== 0) this.deliverQueued();
  }

  private deliverQueued(): void {
    const batches = this.queued;
    this.queued = [];
    const peer = this.peer;
    for (const batch of batches) if (!peer.closed) peer.sink?.onBatch(batch);
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

/** One end of an in-thread pair. */
export type DirectTransportEnd = Transport & { deliver(): void };

/** Two connected in-thread transports. */
export function directTransportPair(): [DirectTransportEnd, DirectTransportEnd] {
  const a = new DirectTransport();
  const b = new DirectTransport();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
