/**
 * What storage keeps about a block besides its bytes: enough to validate a child and
 * to walk the chain without decoding.
 */
import type { Hash } from './sha256.ts';

export interface BlockMeta {
  hash: Hash;
  height: number;
  parent: Hash;
  timestamp: number;
  txCount: number;
}

/** The tip of the best chain. */
export interface BestBlock {
  hash: Hash;
  height: number;
}
