/**
 * The node's transport to a thread agent: a `PortTransport` that can also be drained
 * synchronously. While the node's thread is parked in `agent.blocking.x()` its event loop
 * does not run, so the frames the agent posts (async call-backs, log records, start-up
 * reports) are read with `receiveMessageOnPort` and handed to the connection at once.
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { Batch } from '../wire.ts';
import { LOST_BATCH, PortTransport } from '../transports/port-transport.ts';
import { cannotRebuild } from '../cannot-rebuild.ts';
import type { Transport, TransportSink } from '../transports/transport.ts';

/** A port transport with a synchronous {@link drain}. */
export class DrainablePortTransport implements Transport {
  private readonly inner: PortTransport;
  private sink: TransportSink | undefined;
  private closed = false;

  constructor(private readonly port: MessagePort) {
    // The port closing means the thread ended: the exit (with its code and cause) closes the connection.
    this.inner = new PortTransport(port, { reportClose: false });
  }

  attach(sink: TransportSink): void {
    this.sink = sink;
    this.inner.attach(sink);
  }

  send(batch: Batch): void {
    this.inner.send(batch);
  }

  close(): void {
    this.closed = true;
    this.inner.close();
  }

  /**
   * Delivers the batches waiting on the port now, at most `limit` of them (so that a
   * parked caller gets back to its deadline however fast the agent posts); true if it
   * stopped at the limit, with more perhaps waiting. A batch this thread cannot
   * deserialize closes the connection, as it does when it arrives on the event loop
   * (see `PortTransport`).
   */
  drain(limit = Infinity): boolean {
    for (let n = 0; !this.closed && this.sink; n++) {
      if (n >= limit) return true;
      let received: { message: unknown } | undefined;
      try {
        received = receiveMessageOnPort(this.port);
      } catch (error) {
        const sink = this.sink;
        this.close();
        sink.onClose(cannotRebuild(LOST_BATCH, error));
        return false;
      }
      if (!received) break;
      this.sink.onBatch(received.message as Batch);
    }
    return false;
  }
}
