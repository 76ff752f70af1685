/**
 * The node's back-pressure on a process agent's streams: while more than
 * {@link BACKLOG_BYTES} that the node wrote wait in a stream (the agent is not reading
 * them), the node stops reading that stream, and reads on once it drained.
 *
 * Why: an agent that sends requests and never reads the answers (its thread never
 * yields, or it is hostile) made the node queue every answer for it, without limit — an
 * outside review (2026-12-07) ran the node out of heap so in 40 s, through either stream
 * (the async channel, and the blocking socket, whose answers are many small writes).
 * Not reading the agent is what bounds it: the agent's further requests wait in the
 * kernel, then in the agent.
 *
 * Only the node's side of a stream does this. If both ends stopped reading while their
 * own writes waited, each could wait for the other for good; an agent reads whatever
 * comes, so the node's writes always drain and the node reads on.
 */
import type { Duplex } from 'node:stream';

/**
 * Bytes the node's writes may hold in a stream before it stops reading the agent: far
 * above a socket's own high-water mark (16 KiB), so that an honest agent's bursts of
 * answers cost no pause and resume (two system calls each).
 */
export const BACKLOG_BYTES = 1024 * 1024;

/** Watches `stream`'s write backlog; call {@link ReadWhileDrained.wrote} after each write. */
export class ReadWhileDrained {
  private paused = false;

  /** @param stream - The node's end of a stream to a process agent. */
  constructor(private readonly stream: Duplex) {
    stream.on('drain', this.drained);
  }

  /** After a write: stops reading while the backlog is over {@link BACKLOG_BYTES}. */
  wrote(): void {
    if (this.paused || this.stream.writableLength <= BACKLOG_BYTES) return;
    this.paused = true;
    this.stream.pause();
  }

  /** Stops watching (the stream is closing): reading is left to its owner. */
  dispose(): void {
    this.stream.off('drain', this.drained);
  }

  private readonly drained = (): void => {
    if (!this.paused) return;
    this.paused = false;
    this.stream.resume();
  };
}
