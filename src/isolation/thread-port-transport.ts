/**
 * The node's transport to a thread agent: a `PortTransport` that can also be drained
 * synchronously. While the node's thread is parked in `agent.blocking.x()` its event loop
 * does not run, so the frames the agent posts (async call-backs, log records, start-up
 * reports) are read with `receiveMessageOnPort` and handed to the connection at once.
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { Batch } from '../wire.ts';
import { PortTransport } from '../transports/port-transport.ts';
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

  /** Delivers every batch waiting on the port now; true if there was one. */
  drain(): boolean {
    let delivered = false;
    while (!this.closed && this.sink) {
      const received = receiveMessageOnPort(this.port);
      if (!received) break;
      delivered = true;
      this.sink.onBatch(received.message as Batch);
    }
    return delivered;
  }
}
