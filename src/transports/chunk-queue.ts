/**
 * The bytes a stream reader has received and not yet consumed. Frames are cut from the
 * front with {@link ChunkQueue.take}, which copies only when a frame spans chunks: most
 * frames lie in one chunk and come out as views. Both stream readers (the async
 * channel's frames and a process agent's blocking channel) use it.
 *
 * The peer decides how its bytes arrive, so the queue must cost the same however they
 * are cut (an outside review, 2026-12-07, dripped a frame one byte per write):
 *
 * - Chunks are read from a moving start index, not `shift()`ed: past ~16K entries V8's
 *   `shift` copies the array, and a frame of 150 KB in one-byte chunks held the node's
 *   event loop for ~4 s (100,000 chunks: ~11 s in a micro-benchmark).
 * - Small chunks are copied into a shared tail buffer instead of being kept one `Buffer`
 *   each: a one-byte chunk cost ~250 bytes of heap (~500 of RSS) while its frame was
 *   incomplete, so a 64 MiB frame dripped byte by byte could cost tens of GB. Now a
 *   queued byte costs about a byte, however it came.
 */
import { Buffer } from 'node:buffer';

/** Chunks shorter than this are copied into the tail buffer (one copy of a few KB: cheap beside a `Buffer` per chunk). */
const SMALL_CHUNK = 4096;
/** Size of each tail buffer small chunks are gathered in. */
const TAIL_BYTES = 64 * 1024;
/** Consumed entries at the front kept before the array is compacted (amortized O(1) per chunk). */
const COMPACT_AFTER = 1024;

/** A FIFO of received chunks, read from the front. */
export class ChunkQueue {
  private chunks: Buffer[] = [];
  /** Index of the first queued chunk in {@link chunks}. */
  private start = 0;
  /** Where small chunks are gathered, up to {@link tailEnd}. */
  private tail: Buffer | undefined;
  private tailEnd = 0;
  /** How many bytes are queued. */
  length = 0;

  /** Queues a received chunk: kept as it is (the caller must not change it), or copied if small. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.length += chunk.length;
    if (chunk.length >= SMALL_CHUNK) {
      this.chunks.push(chunk);
      return;
    }
    let tail = this.tail;
    if (tail === undefined || this.tailEnd + chunk.length > tail.length) {
      tail = this.tail = Buffer.allocUnsafe(TAIL_BYTES);
      this.tailEnd = 0;
    }
    chunk.copy(tail, this.tailEnd);
    const end = this.tailEnd + chunk.length;
    const last = this.chunks.length > this.start ? this.chunks[this.chunks.length - 1]! : undefined;
    // The last queued chunk ends where these bytes were appended: grow it over them.
    if (last !== undefined && last.buffer === tail.buffer && last.byteOffset + last.length === tail.byteOffset + this.tailEnd) {
      this.chunks[this.chunks.length - 1] = tail.subarray(last.byteOffset - tail.byteOffset, end);
    } else {
      this.chunks.push(tail.subarray(this.tailEnd, end));
    }
    this.tailEnd = end;
  }

  /** Removes the first `n` queued bytes (a view when they lie in one chunk; the caller checked `length`). */
  take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    this.length -= n;
    const first = this.chunks[this.start]!;
    if (first.length > n) {
      this.chunks[this.start] = first.subarray(n);
      return first.subarray(0, n);
    }
    if (first.length === n) {
      this.dropFirst();
      return first;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[this.start]!;
      const used = Math.min(chunk.length, n - filled);
      chunk.copy(out, filled, 0, used);
      filled += used;
      if (used === chunk.length) this.dropFirst();
      else this.chunks[this.start] = chunk.subarray(used);
    }
    return out;
  }

  /** Drops everything queued. */
  clear(): void {
    this.chunks = [];
    this.start = 0;
    this.tail = undefined;
    this.tailEnd = 0;
    this.length = 0;
  }

  private dropFirst(): void {
    this.chunks[this.start++] = EMPTY;
    if (this.start === this.chunks.length) {
      // Empty: start over (the tail buffer keeps its room for the next small chunks).
      this.chunks = [];
      this.start = 0;
    } else if (this.start >= COMPACT_AFTER && this.start * 2 >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.start);
      this.start = 0;
    }
  }
}

/** What a consumed entry is overwritten with, so that the array does not keep its bytes alive. */
const EMPTY = Buffer.alloc(0);
