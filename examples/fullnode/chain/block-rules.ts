/**
 * The rules a block must meet against what is already stored. They run in the node
 * (the vertex handler), next to storage: each rule reads it directly, and a real node
 * reads it dozens of times per vertex, which is why storage stays on the node's side of
 * the IPC. Stateless checks (decoding, proof of work) are not repeated here: agents
 * run them before they submit a block.
 */
import type { Block } from './block.ts';
import type { BlockMeta } from './block-meta.ts';
import { InvalidBlockError } from './invalid-block-error.ts';
import type { NetworkParams } from './network-params.ts';
import type { Hash } from './sha256.ts';
import { isCoinbase, type Transaction, type TxOutput } from './transaction.ts';

/** Timestamps further ahead of the node's clock are refused. */
export const MAX_FUTURE_DRIFT_MS = 5 * 60_000;

/** The storage reads the rules need. */
export interface ChainView {
  getBlockMeta(hash: Hash): BlockMeta | undefined;
  getTransaction(txid: Hash): Transaction | undefined;
  hasTransaction(txid: Hash): boolean;
}

/**
 * Throws `InvalidBlockError` unless `block` may extend `parent`. Double spends across
 * blocks are not tracked (that needs a UTXO set per chain tip); within a block they are.
 */
export function checkBlockRules(block: Block, parent: BlockMeta, view: ChainView, params: NetworkParams, now: number): void {
  const fail: (reason: string) => never = (reason) => {
    throw new InvalidBlockError(`block ${block.hash} at height ${block.height}: ${reason}`, block.hash);
  };
  if (block.height !== parent.height + 1) fail(`height should be ${parent.height + 1}`);
  if (block.timestamp <= parent.timestamp) fail('timestamp is not after its parent');
  if (block.timestamp > now + MAX_FUTURE_DRIFT_MS) fail('timestamp is too far in the future');
  const [coinbase, ...rest] = block.transactions;
  if (!coinbase || !isCoinbase(coinbase)) fail('the first transaction must be a coinbase');
  if (coinbase.lockHeight !== block.height) fail("the coinbase must carry the block's height");

  const inBlock = new Map<Hash, Transaction>([[coinbase.txid, coinbase]]);
  const spent = new Set<string>();
  let fees = 0;
  for (const tx of block.transactions) {
    if (view.hasTransaction(tx.txid)) fail(`transaction ${tx.txid} is already in the chain`);
    if (tx.outputs.some((output) => output.amount <= 0)) fail(`transaction ${tx.txid} has an output without an amount`);
  }
  for (const tx of rest) {
    if (isCoinbase(tx)) fail(`transaction ${tx.txid} is a second coinbase`);
    if (inBlock.has(tx.txid)) fail(`transaction ${tx.txid} appears twice`);
    if (tx.outputs.length === 0) fail(`transaction ${tx.txid} has no outputs`);
    let total = 0;
    for (const input of tx.inputs) {
      const outpoint = `${input.txid}:${input.index}`;
      if (spent.has(outpoint)) fail(`output ${outpoint} is spent twice`);
      spent.add(outpoint);
      const source = inBlock.get(input.txid) ?? view.getTransaction(input.txid);
      if (!source) fail(`transaction ${tx.txid} spends unknown transaction ${input.txid}`);
      const output = source.outputs[input.index];
      if (!output) fail(`transaction ${tx.txid} spends missing output ${outpoint}`);
      total += output.amount;
    }
    const out = sum(tx.outputs);
    if (out > total) fail(`transaction ${tx.txid} creates ${out - total} out of nothing`);
    fees += total - out;
    inBlock.set(tx.txid, tx);
  }
  if (sum(coinbase.outputs) > params.blockReward + fees) fail('the coinbase pays more than the reward and fees');
}

function sum(outputs: readonly TxOutput[]): number {
  let total = 0;
  for (const output of outputs) total += output.amount;
  return total;
}
