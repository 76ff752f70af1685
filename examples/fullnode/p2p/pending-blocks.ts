/**
 * Blocks this connection handed to the node with an async call whose answer has not
 * come back yet. Until it does, they may not be in storage, so the dependency checks of
 * the blocks after them look here first: a parent or a spent output found here is known.
 */
import type { Block } from '../chain/block.ts';
import type { Hash } from '../chain/sha256.ts';
import type { TxOutput } from '../chain/transaction.ts';

export class PendingBlocks {
  private readonly heights = new Map<Hash, number>();
  private readonly outputs = new Map<Hash, TxOutput[]>();
  private readonly settled = new Map<Hash, Promise<unknown>>();

  get size(): number {
    return this.heights.size;
  }

  /** Counts `block` as stored from now on (until the promise given to `until` settles). */
  add(block: Block): void {
    this.heights.set(block.hash, block.height);
    for (const tx of block.transactions) this.outputs.set(tx.txid, tx.outputs);
  }

  /** The node's answer for an added block: once it settles, storage knows the block (or never will). */
  until(block: Block, stored: Promise<unknown>): void {
    const done = stored.then(
      () => this.remove(block),
      () => this.remove(block),
    );
    this.settled.set(block.hash, done);
  }

  height(hash: Hash): number | undefined {
    return this.heights.get(hash);
  }

  hasTransaction(txid: Hash): boolean {
    return this.outputs.has(txid);
  }

  output(txid: Hash, index: number): TxOutput | undefined {
    return this.outputs.get(txid)?.[index];
  }

  /** Resolves once every tracked block's call has settled. */
  async drained(): Promise<void> {
    while (this.settled.size > 0) await Promise.all(this.settled.values());
  }

  clear(): void {
    this.heights.clear();
    this.outputs.clear();
    this.settled.clear();
  }

  private remove(block: Block): void {
    this.heights.delete(block.hash);
    for (const tx of block.transactions) this.outputs.delete(tx.txid);
    this.settled.delete(block.hash);
  }
}
