/**
 * Streamed blocks wait here for the vertex handler, which takes them in slices of at
 * most `SLICE_MS` per event-loop turn. A protocol hands over a whole batch of blocks at
 * once (hundreds, in one IPC message); validating and saving them in one go would hold
 * the node's thread — and its HTTP API — for tens of milliseconds.
 */
import type { BlockOrigin, NewBlockResult, VertexHandler } from './vertex-handler.ts';

const SLICE_MS = 1;

interface Queued {
  bytes: Uint8Array;
  origin: BlockOrigin;
  resolve(result: NewBlockResult): void;
  reject(error: unknown): void;
}

export class BlockQueue {
  private queue: Queued[] = [];
  private next = 0;
  private scheduled = false;
  private closed = false;

  constructor(private readonly vertices: VertexHandler) {}

  /** Resolves once the block went through the vertex handler (in arrival order). */
  push(bytes: Uint8Array, origin: BlockOrigin): Promise<NewBlockResult> {
    if (this.closed) return Promise.reject(new Error('the node is stopping'));
    return new Promise((resolve, reject) => {
      this.queue.push({ bytes, origin, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.drain);
      }
    });
  }

  /** Refuses what is still queued. */
  close(): void {
    this.closed = true;
    const error = new Error('the node is stopping');
    for (let i = this.next; i < this.queue.length; i++) this.queue[i].reject(error);
    this.queue = [];
    this.next = 0;
  }

  private readonly drain = (): void => {
    const end = performance.now() + SLICE_MS;
    while (this.next < this.queue.length && performance.now() < end) {
      const item = this.queue[this.next++];
      try {
        item.resolve(this.vertices.onNewBlock(item.bytes, item.origin));
      } catch (error) {
        item.reject(error);
      }
    }
    if (this.next < this.queue.length) {
      setImmediate(this.drain);
      return;
    }
    this.queue = [];
    this.next = 0;
    this.scheduled = false;
  };
}
