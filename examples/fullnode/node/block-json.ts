/**
 * A stored block as `GET /block/:hash` shows it.
 */
import { decodeBlock } from '../chain/block.ts';
import type { Hash } from '../chain/sha256.ts';
import type { ChainStorage } from '../storage/chain-storage.ts';

export interface BlockJson {
  hash: Hash;
  height: number;
  parent: Hash;
  timestamp: number;
  nonce: number;
  txRoot: Hash;
  /** On the best chain (not a block of a branch that lost). */
  bestChain: boolean;
  transactions: Array<{
    txid: Hash;
    inputs: Array<{ txid: Hash; index: number }>;
    outputs: Array<{ amount: number; address: string }>;
  }>;
}

export function blockJson(storage: ChainStorage, hash: Hash): BlockJson | null {
  const bytes = storage.getBlockBytes(hash);
  if (bytes === undefined) return null;
  const block = decodeBlock(bytes);
  return {
    hash: block.hash,
    height: block.height,
    parent: block.parent,
    timestamp: block.timestamp,
    nonce: block.nonce,
    txRoot: block.txRoot,
    bestChain: storage.getHashAtHeight(block.height) === block.hash,
    transactions: block.transactions.map((tx) => ({ txid: tx.txid, inputs: tx.inputs, outputs: tx.outputs })),
  };
}
