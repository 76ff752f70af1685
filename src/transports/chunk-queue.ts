/**
 * The bytes a stream reader has received and not yet consumed, kept as the chunks they
 * arrived in. Frames are cut from the front with {@link ChunkQueue.take}, which copies
 * only when a frame spans chunks: most frames lie in one chunk and come out as views.
 * Both stream readers (the async channel's frames and a process agent's blocking
 * channel) use it.
 */
import { Buffer } from 'node:buffer';

/** A FIFO of received chunks, read from the front. */
export class ChunkQueue {
  private chunks: Buffer[] = [];
  /** How many bytes are queued. */
  length = 0;

  /** Queues a received chunk. */
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** Removes the first `n` queued bytes (a view when they lie in one chunk; the caller checked `length`). */
  take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    this.length -= n;
    const first = this.chunks[0]!;
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    if (first.length === n) {
      this.chunks.shift();
      return first;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0]!;
      const used = Math.min(chunk.length, n - filled);
      chunk.copy(out, filled, 0, used);
      filled += used;
      if (used === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(used);
    }
    return out;
  }

  /** Drops everything queued. */
  clear(): void {
    this.chunks = [];
    this.length = 0;
  }
}
