/**
 * The node's storage: one LMDB environment in the data directory, so the chain survives
 * a restart. Reads are synchronous and cheap (~1–2 µs), which is what the sync code's
 * many small reads assume; a block is saved in one synchronous write transaction, so a
 * block is either fully stored (bytes, metadata, transactions, best chain) or not at all.
 *
 * Layout (sub-databases):
 *   blocks        hash → block bytes
 *   block-meta    hash → { hash, height, parent, timestamp, txCount }
 *   best-chain    height (uint32) → hash of the best chain's block at that height
 *   transactions  txid → transaction bytes
 *   node-state    'best' → { hash, height }; 'network' → { name, genesis }; 'peer-id' → hex
 *
 * Writes use `noSync`: a commit reaches the OS at once but is not fsync'ed, so a crash of
 * the process loses nothing and a crash of the machine may lose the last blocks — which
 * the next sync fetches again.
 */
import { randomBytes } from 'node:crypto';
import { open, type Database, type RootDatabase } from 'lmdb';
import type { Block } from '../chain/block.ts';
import type { BestBlock, BlockMeta } from '../chain/block-meta.ts';
import { genesisBlock, type NetworkParams } from '../chain/network-params.ts';
import type { Hash } from '../chain/sha256.ts';
import { decodeTransaction, type Transaction } from '../chain/transaction.ts';

interface NetworkRecord {
  name: string;
  genesis: Hash;
}

/** How saving a block changed the best chain. */
export interface SaveResult {
  /** The block is the new tip. */
  best: boolean;
  /** Blocks of the old best chain that left it (a reorganisation), 0 for a plain extension. */
  reorgDepth: number;
}

export class ChainStorage {
  private readonly blocks: Database<Uint8Array, Hash>;
  private readonly meta: Database<BlockMeta, Hash>;
  private readonly bestChain: Database<Hash, number>;
  private readonly transactions: Database<Uint8Array, Hash>;
  private readonly state: Database<unknown, string>;
  private bestBlock: BestBlock;
  private closed = false;
  readonly genesis: BlockMeta;

  private constructor(
    private readonly env: RootDatabase,
    params: NetworkParams,
  ) {
    this.blocks = env.openDB({ name: 'blocks', encoding: 'binary' });
    this.meta = env.openDB({ name: 'block-meta' });
    this.bestChain = env.openDB({ name: 'best-chain', keyEncoding: 'uint32', encoding: 'string' });
    this.transactions = env.openDB({ name: 'transactions', encoding: 'binary' });
    this.state = env.openDB({ name: 'node-state' });

    const genesis = genesisBlock(params);
    this.genesis = metaOf(genesis);
    const network = this.state.get('network') as NetworkRecord | undefined;
    if (network === undefined) {
      this.env.transactionSync(() => {
        this.state.putSync('network', { name: params.name, genesis: genesis.hash } satisfies NetworkRecord);
        this.writeBlock(genesis, this.genesis);
        this.bestChain.putSync(0, genesis.hash);
        this.state.putSync('best', { hash: genesis.hash, height: 0 } satisfies BestBlock);
      });
    } else if (network.name !== params.name || network.genesis !== genesis.hash) {
      throw new Error(
        `the data directory holds network '${network.name}' (genesis ${network.genesis.slice(0, 16)}…), ` +
          `not '${params.name}' (genesis ${genesis.hash.slice(0, 16)}…): use another --data-dir`,
      );
    }
    this.bestBlock = this.state.get('best') as BestBlock;
  }

  /** Opens (or creates) the storage in `path`. */
  static open(path: string, params: NetworkParams): ChainStorage {
    const env = open({ path, noSync: true, compression: false });
    try {
      return new ChainStorage(env, params);
    } catch (error) {
      void env.close();
      throw error;
    }
  }

  get best(): BestBlock {
    return this.bestBlock;
  }

  /** This node's peer id: random on first start, then kept. */
  peerId(): string {
    let id = this.state.get('peer-id') as string | undefined;
    if (id === undefined) {
      id = randomBytes(32).toString('hex');
      this.state.putSync('peer-id', id);
    }
    return id;
  }

  hasBlock(hash: Hash): boolean {
    return this.blocks.doesExist(hash);
  }

  getBlockBytes(hash: Hash): Uint8Array | undefined {
    return this.blocks.get(hash);
  }

  getBlockMeta(hash: Hash): BlockMeta | undefined {
    return this.meta.get(hash);
  }

  /** The best chain's block at `height`. */
  getHashAtHeight(height: number): Hash | undefined {
    return this.bestChain.get(height);
  }

  hasTransaction(txid: Hash): boolean {
    return this.transactions.doesExist(txid);
  }

  getTransactionBytes(txid: Hash): Uint8Array | undefined {
    return this.transactions.get(txid);
  }

  getTransaction(txid: Hash): Transaction | undefined {
    const bytes = this.transactions.get(txid);
    return bytes === undefined ? undefined : decodeTransaction(bytes);
  }

  /**
   * Stores a validated block whose parent is stored. The highest block is the best
   * (the first one seen wins a tie); a better block on another branch rewrites the
   * best-chain index from the fork point up.
   */
  saveBlock(block: Block): SaveResult {
    this.checkOpen();
    const meta = metaOf(block);
    return this.env.transactionSync(() => {
      this.writeBlock(block, meta);
      if (block.height <= this.bestBlock.height) return { best: false, reorgDepth: 0 };
      let reorgDepth = 0;
      if (block.parent !== this.bestBlock.hash) {
        // Walk down the new branch until it meets the best chain.
        let cursor = this.meta.get(block.parent)!;
        const branch: BlockMeta[] = [];
        while (this.bestChain.get(cursor.height) !== cursor.hash) {
          branch.push(cursor);
          cursor = this.meta.get(cursor.parent)!;
        }
        reorgDepth = this.bestBlock.height - cursor.height;
        for (const entry of branch) this.bestChain.putSync(entry.height, entry.hash);
      }
      this.bestChain.putSync(block.height, block.hash);
      const best = { hash: block.hash, height: block.height };
      this.state.putSync('best', best);
      this.bestBlock = best;
      return { best: true, reorgDepth };
    });
  }

  /** Flushes and closes; reads and writes fail afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.env.close();
  }

  private writeBlock(block: Block, meta: BlockMeta): void {
    this.blocks.putSync(block.hash, block.bytes);
    this.meta.putSync(block.hash, meta);
    for (const tx of block.transactions) this.transactions.putSync(tx.txid, tx.bytes);
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('storage is closed');
  }
}

function metaOf(block: Block): BlockMeta {
  return { hash: block.hash, height: block.height, parent: block.parent, timestamp: block.timestamp, txCount: block.transactions.length };
}
