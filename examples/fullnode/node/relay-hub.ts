/**
 * Real-time relay of new blocks to the other peers (sync-v2's "send to all peers").
 * The line server gives the node no way to push into a connection's protocol, and a
 * real node's relay is a fan-out across connections anyway, so each connection's
 * protocol *pulls*: it keeps one long-waiting `main.async.nextRelayed(id, cursor)` call
 * open, which resolves as soon as a block newer than `cursor` is published (or after
 * `MAX_WAIT_MS` with nothing, or at once with `closed` when the connection or node goes).
 */
import type { Hash } from '../chain/sha256.ts';

export interface RelayedBlock {
  hash: Hash;
  bytes: Uint8Array;
  /** The connection it came from (not sent back there), `null` for this node's own. */
  origin: number | null;
}

export interface RelayBatch {
  /** Pass it to the next call. */
  cursor: number;
  blocks: RelayedBlock[];
  /** Stop asking: the connection or the node is gone. */
  closed: boolean;
}

/** Blocks kept for connections that are between two calls; a slower one skips the rest (sync catches up). */
const KEEP = 256;
/** A long wait ends empty after this, so no call stays open forever. */
const MAX_WAIT_MS = 10_000;

interface Waiter {
  cursor: number;
  resolve(batch: RelayBatch): void;
  timer: NodeJS.Timeout;
}

export class RelayHub {
  private seq = 0;
  private recent: Array<RelayedBlock & { seq: number }> = [];
  private readonly waiters = new Map<number, Waiter>();
  private closed = false;

  get cursor(): number {
    return this.seq;
  }

  publish(hash: Hash, bytes: Uint8Array, origin: number | null): void {
    this.recent.push({ seq: ++this.seq, hash, bytes, origin });
    if (this.recent.length > KEEP) this.recent.splice(0, this.recent.length - KEEP);
    for (const [connection, waiter] of [...this.waiters]) this.answer(connection, waiter, false);
  }

  next(connection: number, cursor: number): Promise<RelayBatch> {
    if (this.closed) return Promise.resolve({ cursor, blocks: [], closed: true });
    if (cursor < this.seq) return Promise.resolve(this.batchAfter(cursor, false));
    this.waiters.get(connection)?.resolve({ cursor, blocks: [], closed: false });
    return new Promise((resolve) => {
      const waiter: Waiter = { cursor, resolve, timer: setTimeout(() => this.answer(connection, waiter, false), MAX_WAIT_MS) };
      waiter.timer.unref();
      this.waiters.set(connection, waiter);
    });
  }

  /** The connection is gone: its pending call ends with `closed`. */
  release(connection: number): void {
    const waiter = this.waiters.get(connection);
    if (waiter) this.answer(connection, waiter, true);
  }

  close(): void {
    this.closed = true;
    for (const [connection, waiter] of [...this.waiters]) this.answer(connection, waiter, true);
  }

  private answer(connection: number, waiter: Waiter, closed: boolean): void {
    clearTimeout(waiter.timer);
    if (this.waiters.get(connection) === waiter) this.waiters.delete(connection);
    waiter.resolve(this.batchAfter(waiter.cursor, closed));
  }

  private batchAfter(cursor: number, closed: boolean): RelayBatch {
    const blocks = this.recent.filter((block) => block.seq > cursor).map(({ hash, bytes, origin }) => ({ hash, bytes, origin }));
    return { cursor: this.seq, blocks, closed };
  }
}
