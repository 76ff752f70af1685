/**
 * What every node of a network must agree on. The genesis block is derived from these
 * parameters, so nodes with different ones have different genesis hashes and refuse
 * each other in the handshake (HELLO carries the genesis hash).
 */
import { encodeBlock, transactionRoot, type Block } from './block.ts';
import { sha256Hex } from './sha256.ts';

export interface NetworkParams {
  /** Network name, checked in HELLO. */
  name: string;
  /** sha256 rounds of the proof of work: what verifying a block costs. */
  powIterations: number;
  /** Leading zero bits the work hash needs: what mining costs, relative to verifying. */
  difficultyBits: number;
  /** What a coinbase may create, besides the fees of its block. */
  blockReward: number;
}

/**
 * The CLI's network. 640 rounds cost ~0.4 ms on the project's 2-core machines when they
 * are idle (one `crypto.hash` round of 32 bytes is ~0.6 µs, more under load); 2
 * difficulty bits make mining ~4 verifications a block.
 */
export const DEFAULT_NETWORK: NetworkParams = Object.freeze({
  name: 'fullnode-demo',
  powIterations: 640,
  difficultyBits: 2,
  blockReward: 6400,
});

const GENESIS_TIMESTAMP = Date.UTC(2024, 8, 25);

/**
 * The network's first block. It has no transactions and no real parent, so its parent
 * field commits to the parameters instead: another network, another genesis hash.
 */
export function genesisBlock(params: NetworkParams): Block {
  const parent = sha256Hex(new TextEncoder().encode(JSON.stringify([params.name, params.powIterations, params.difficultyBits, params.blockReward])));
  return encodeBlock({ height: 0, parent, timestamp: GENESIS_TIMESTAMP, txRoot: transactionRoot([]), nonce: 0 }, []);
}
