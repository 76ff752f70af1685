/**
 * Where every new block enters the node, whoever found it: a sync stream, a relay, or
 * this node's own generator. It validates against storage (the rules that need it),
 * saves, hands real-time blocks to the relay, and tells listeners. It runs on the node's
 * thread in every mode; the stateless checks happened before (in the agent for peers'
 * blocks), so what it costs the node per block is a few dozen storage reads and a write.
 */
import { decodeBlock, type Block } from '../chain/block.ts';
import { checkBlockRules } from '../chain/block-rules.ts';
import type { NetworkParams } from '../chain/network-params.ts';
import type { Hash } from '../chain/sha256.ts';
import type { ChainStorage } from '../storage/chain-storage.ts';
import type { RelayHub } from './relay-hub.ts';

/** Where a block came from. */
export interface BlockOrigin {
  /** The connection that delivered it, `null` for this node's own blocks. */
  connection: number | null;
  /** True for real-time blocks (relayed or generated), false for sync streams. */
  relayed: boolean;
}

export interface NewBlockResult {
  /** `missing-parent`: not stored; the sender is ahead of us (sync will fetch the gap). */
  status: 'added' | 'duplicate' | 'missing-parent';
  hash: Hash;
  height: number;
  /** The block is now the best block. */
  best: boolean;
}

/** A block was stored. */
export interface BlockAdded {
  hash: Hash;
  height: number;
  best: boolean;
  origin: BlockOrigin;
}

export interface VertexStats {
  added: number;
  duplicates: number;
  missingParent: number;
}

export class VertexHandler {
  readonly stats: VertexStats = { added: 0, duplicates: 0, missingParent: 0 };
  private readonly listeners = new Set<(event: BlockAdded) => void>();

  constructor(
    private readonly storage: ChainStorage,
    private readonly params: NetworkParams,
    private readonly relay: RelayHub,
  ) {}

  /** A block's bytes from a peer's protocol. Throws `DecodeError` or `InvalidBlockError`. */
  onNewBlock(bytes: Uint8Array, origin: BlockOrigin): NewBlockResult {
    return this.add(decodeBlock(bytes), origin);
  }

  add(block: Block, origin: BlockOrigin): NewBlockResult {
    const storage = this.storage;
    if (storage.hasBlock(block.hash)) {
      this.stats.duplicates++;
      return { status: 'duplicate', hash: block.hash, height: block.height, best: false };
    }
    const parent = storage.getBlockMeta(block.parent);
    if (parent === undefined) {
      this.stats.missingParent++;
      return { status: 'missing-parent', hash: block.hash, height: block.height, best: false };
    }
    checkBlockRules(block, parent, storage, this.params, Date.now());
    const { best } = storage.saveBlock(block);
    this.stats.added++;
    if (origin.relayed) this.relay.publish(block.hash, block.bytes, origin.connection);
    const event: BlockAdded = { hash: block.hash, height: block.height, best, origin };
    for (const listener of this.listeners) listener(event);
    return { status: 'added', hash: block.hash, height: block.height, best };
  }

  /** Calls `listener` after each stored block. Returns a function that removes it. */
  onBlockAdded(listener: (event: BlockAdded) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
