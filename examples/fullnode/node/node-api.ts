/**
 * The node's IPC surface: the methods a peer's protocol may call (the line server's
 * `expose`, an allowlist). Under `--p2p-multiprocess` they are the only way from an
 * agent to the node; inline, they are plain calls. The protocol calls nearly all of them
 * through `main.blocking` — its code is synchronous, as a legacy node's is — and the
 * few that are notifications, long waits or pipelined writes through `main.async`.
 *
 * Storage reads return `null` for "absent": it crosses every isolation unchanged.
 */
import type { BestBlock, BlockMeta } from '../chain/block-meta.ts';
import type { Hash } from '../chain/sha256.ts';
import type { TxOutput } from '../chain/transaction.ts';
import type { ChainStorage } from '../storage/chain-storage.ts';
import type { BlockQueue } from './block-queue.ts';
import type { PeerRegistry, PeerSyncReport, PeerVerdict } from './peer-registry.ts';
import type { RelayBatch, RelayHub } from './relay-hub.ts';
import type { BlockOrigin, NewBlockResult, VertexHandler } from './vertex-handler.ts';

export type { BlockOrigin, NewBlockResult, PeerSyncReport, PeerVerdict, RelayBatch };

/** What `claimBlocks` says of a block: known to the node, claimed now for the caller, or in flight for another connection. */
export type BlockClaim = 'known' | 'claimed' | 'in-flight';

/** The storage questions a streamed block raises (sync-v2's "can validate full"), asked at once. */
export interface BlockDependencyQuery {
  hash: Hash;
  parent: Hash;
  /** The block's transactions. */
  txids: Hash[];
  /** Every input of the block's transactions, in order: `[txid, index]`. */
  inputs: Array<[Hash, number]>;
}

/**
 * The node's answers to a `BlockDependencyQuery`, all read in one snapshot. "Known"
 * means stored, or queued for storage (`queueBlock`, from any connection): a queued
 * block is as good as stored for the checks of the blocks after it.
 */
export interface BlockDependencies {
  /** The block itself is known. */
  known: boolean;
  /** The parent's height, `null` if the parent is not known. */
  parentHeight: number | null;
  /** Those of `txids` that are known. */
  knownTxids: Hash[];
  /** The output each input spends, `null` where the node knows none (one per input, in order). */
  outputs: Array<TxOutput | null>;
}

export interface NodeApi {
  // storage reads (blocking in the protocol)
  getBestBlock(): BestBlock;
  getBlockHashAtHeight(height: number): Hash | null;
  getBlockMeta(hash: Hash): BlockMeta | null;
  getBlockBytes(hash: Hash): Uint8Array | null;
  blockExists(hash: Hash): boolean;
  transactionExists(txid: Hash): boolean;
  getTransactionOutput(txid: Hash, index: number): TxOutput | null;
  /**
   * For each block, the answers of `blockExists`, `getBlockMeta(parent)`,
   * `transactionExists` and `getTransactionOutput` — counting the blocks queued for
   * storage as stored — all from one snapshot:
   * under `--p2p-multiprocess` one blocking round trip for a batch of blocks instead of
   * one per question (step 7 of the walkthrough).
   */
  getBlockDependencies(queries: BlockDependencyQuery[]): BlockDependencies[];
  /**
   * Blocks in flight: for each hash, `known` (stored or queued), else `claimed` for
   * `connection` (it verifies the block; a claim it already holds counts), else
   * `in-flight` (another connection is verifying it).
   */
  claimBlocks(connection: number, hashes: Hash[]): BlockClaim[];
  // writes
  /** Validates and saves at once (blocking: a relayed block). */
  onNewBlock(bytes: Uint8Array, origin: BlockOrigin): NewBlockResult;
  /** Queues a streamed block; resolves once it was validated and saved (`main.async` only). */
  queueBlock(bytes: Uint8Array, origin: BlockOrigin): Promise<NewBlockResult>;
  // peers
  /** Where this node accepts connections (`tcp://host:port`), for PEER-ID. */
  entrypoints(): string[];
  peerReady(connection: number, peer: { id: string; entrypoints: string[] }): PeerVerdict;
  /** A notification: the protocol calls it with `main.async` and does not wait. */
  peerSyncState(connection: number, report: PeerSyncReport): void;
  // relay of new blocks to the other peers
  relayCursor(): number;
  /** A long wait: `main.async` only (it resolves when there is something to relay). */
  nextRelayed(connection: number, cursor: number): Promise<RelayBatch>;
}

export interface NodeParts {
  entrypoints: () => string[];
  storage: ChainStorage;
  vertices: VertexHandler;
  blockQueue: BlockQueue;
  peers: PeerRegistry;
  relay: RelayHub;
}

/** The object given to `createLineServer({ expose })`. */
export function createNodeApi({ entrypoints, storage, vertices, blockQueue, peers, relay }: NodeParts): NodeApi {
  return {
    getBestBlock: () => storage.best,
    getBlockHashAtHeight: (height) => storage.getHashAtHeight(height) ?? null,
    getBlockMeta: (hash) => storage.getBlockMeta(hash) ?? null,
    getBlockBytes: (hash) => storage.getBlockBytes(hash) ?? null,
    blockExists: (hash) => storage.hasBlock(hash),
    transactionExists: (txid) => storage.hasTransaction(txid),
    getTransactionOutput: (txid, index) => storage.getTransaction(txid)?.outputs[index] ?? null,
    getBlockDependencies: (queries) =>
      queries.map(({ hash, parent, txids, inputs }) => ({
        known: storage.hasBlock(hash) || blockQueue.block(hash) !== undefined,
        parentHeight: storage.getBlockMeta(parent)?.height ?? blockQueue.block(parent)?.height ?? null,
        knownTxids: txids.filter((txid) => storage.hasTransaction(txid) || blockQueue.transaction(txid) !== undefined),
        outputs: inputs.map(([txid, index]) => (blockQueue.transaction(txid) ?? storage.getTransaction(txid))?.outputs[index] ?? null),
      })),
    claimBlocks: (connection, hashes) =>
      hashes.map((hash) => {
        if (storage.hasBlock(hash) || blockQueue.block(hash) !== undefined) return 'known';
        return blockQueue.claim(hash, connection) === connection ? 'claimed' : 'in-flight';
      }),
    onNewBlock: (bytes, origin) => vertices.onNewBlock(bytes, origin),
    queueBlock: (bytes, origin) => blockQueue.push(bytes, origin),
    entrypoints,
    peerReady: (connection, peer) => peers.ready(connection, peer),
    peerSyncState: (connection, report) => peers.syncState(connection, report),
    relayCursor: () => relay.cursor,
    // A connection that is gone gets `closed` at once, so its protocol stops asking.
    nextRelayed: (connection, cursor) => (peers.has(connection) ? relay.next(connection, cursor) : Promise.resolve({ cursor, blocks: [], closed: true })),
  };
}
