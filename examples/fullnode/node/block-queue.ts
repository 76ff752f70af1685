/**
 * Streamed blocks wait here for the vertex handler, which takes them in slices of at
 * most `SLICE_MS` per event-loop turn. A protocol hands over a whole batch of blocks at
 * once (hundreds, in one IPC message); validating and saving them in one go would hold
 * the node's thread — and its HTTP API — for tens of milliseconds.
 *
 * A queued block is known to the node already: `block` and `transaction` find it, so
 * that another peer streaming the same block skips it (sync-v2 checks that it has a
 * vertex before it verifies it) and its next block still finds its parent.
 *
 * Blocks in flight: before it verifies blocks the node does not know, a connection
 * claims them (`claim`); another connection streaming the same blocks then leaves them
 * to it instead of verifying them too. A claim ends when its block is queued or its
 * connection closes (`releaseClaims`). (Bitcoin Core's "blocks in flight" serve the
 * same purpose: one peer per block.)
 */
import { decodeBlock, type Block } from '../chain/block.ts';
import type { Hash } from '../chain/sha256.ts';
import type { Transaction } from '../chain/transaction.ts';
import type { BlockOrigin, NewBlockResult, VertexHandler } from './vertex-handler.ts';

const SLICE_MS = 1;

interface Queued {
  block: Block;
  origin: BlockOrigin;
  resolve(result: NewBlockResult): void;
  reject(error: unknown): void;
}

export class BlockQueue {
  private queue: Queued[] = [];
  private next = 0;
  private scheduled = false;
  private closed = false;
  /** Queued blocks by hash, and their transactions by txid (the latest copy queued). */
  private readonly blocks = new Map<Hash, Block>();
  private readonly transactions = new Map<Hash, { tx: Transaction; block: Block }>();
  /** Blocks in flight: hash → the connection verifying it. */
  private readonly claims = new Map<Hash, number>();

  constructor(private readonly vertices: VertexHandler) {}

  /** Resolves once the block went through the vertex handler (in arrival order). Rejects with `DecodeError`. */
  push(bytes: Uint8Array, origin: BlockOrigin): Promise<NewBlockResult> {
    if (this.closed) return Promise.reject(new Error('the node is stopping'));
    let block: Block;
    try {
      block = decodeBlock(bytes);
    } catch (error) {
      return Promise.reject(error);
    }
    this.blocks.set(block.hash, block);
    for (const tx of block.transactions) this.transactions.set(tx.txid, { tx, block });
    this.claims.delete(block.hash);
    return new Promise((resolve, reject) => {
      this.queue.push({ block, origin, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.drain);
      }
    });
  }

  /** A queued block, not yet through the vertex handler. */
  block(hash: Hash): Block | undefined {
    return this.blocks.get(hash);
  }

  /** A transaction of a queued block. */
  transaction(txid: Hash): Transaction | undefined {
    return this.transactions.get(txid)?.tx;
  }

  /** Claims `hash` for `connection` unless another connection has: returns the holder. */
  claim(hash: Hash, connection: number): number {
    const holder = this.claims.get(hash);
    if (holder !== undefined) return holder;
    this.claims.set(hash, connection);
    return connection;
  }

  /** `connection` closed: its blocks in flight are free for other connections. */
  releaseClaims(connection: number): void {
    for (const [hash, holder] of this.claims) if (holder === connection) this.claims.delete(hash);
  }

  /** Refuses what is still queued. */
  close(): void {
    this.closed = true;
    const error = new Error('the node is stopping');
    for (let i = this.next; i < this.queue.length; i++) this.queue[i].reject(error);
    this.queue = [];
    this.next = 0;
    this.blocks.clear();
    this.transactions.clear();
    this.claims.clear();
  }

  /** `block` went through the vertex handler: storage knows it now (or never will). */
  private forget(block: Block): void {
    if (this.blocks.get(block.hash) === block) this.blocks.delete(block.hash);
    for (const tx of block.transactions) if (this.transactions.get(tx.txid)?.block === block) this.transactions.delete(tx.txid);
  }

  private readonly drain = (): void => {
    const end = performance.now() + SLICE_MS;
    while (this.next < this.queue.length && performance.now() < end) {
      const item = this.queue[this.next++];
      try {
        item.resolve(this.vertices.add(item.block, item.origin));
      } catch (error) {
        item.reject(error);
      } finally {
        this.forget(item.block);
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
