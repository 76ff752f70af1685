/**
 * What a connection does with a block a peer sent (in a stream or as a relay):
 *
 * 1. `checkBlock` — stateless: decode and verify the proof of work. No storage, all
 *    CPU: under `--p2p-multiprocess` this runs in the agent, off the node's thread.
 * 2. `checkDependencies` — sync-v2's "can validate full": do we have it already, its
 *    parent, every output it spends (amounts checked on the way)? About one small
 *    synchronous storage read per transaction and one per input.
 * 3. The node's vertex handler (`onNewBlock`) validates against storage and saves:
 *    `submitBlock` waits for it (relays); the stream pipelines it (block-sync.ts).
 */
import { decodeBlock, type Block } from '../chain/block.ts';
import type { NetworkParams } from '../chain/network-params.ts';
import { hasValidProofOfWork } from '../chain/proof-of-work.ts';
import type { Hash } from '../chain/sha256.ts';
import { isCoinbase, type TxOutput } from '../chain/transaction.ts';
import type { Blocking } from '../../../src/agent.ts';
import type { NewBlockResult, NodeApi } from '../node/node-api.ts';
import type { PendingBlocks } from './pending-blocks.ts';
import { ProtocolViolation } from './protocol-violation.ts';

/** Decodes `bytes` and checks the proof of work. Throws `DecodeError` or `ProtocolViolation`. */
export function checkBlock(bytes: Uint8Array, network: NetworkParams): Block {
  const block = decodeBlock(bytes);
  if (!hasValidProofOfWork(block.header, network)) throw new ProtocolViolation(`block ${block.hash}: the proof of work misses the target`);
  return block;
}

/**
 * Whether `block` can go to the node: `'ready'`, or why not. Blocks in `pending` (handed
 * to the node, not yet confirmed) count as stored. Throws `ProtocolViolation` for a
 * block that can never be valid.
 */
export function checkDependencies(node: Blocking<NodeApi>, block: Block, pending?: PendingBlocks): 'ready' | 'duplicate' | 'missing-parent' {
  if (pending?.height(block.hash) !== undefined || node.blockExists(block.hash)) return 'duplicate';
  const parentHeight = pending?.height(block.parent) ?? node.getBlockMeta(block.parent)?.height;
  if (parentHeight === undefined) return 'missing-parent';
  if (block.height !== parentHeight + 1) throw new ProtocolViolation(`block ${block.hash}: height ${block.height} after a parent at ${parentHeight}`);
  const earlier = new Map<Hash, TxOutput[]>();
  for (const tx of block.transactions) {
    if (pending?.hasTransaction(tx.txid) || node.transactionExists(tx.txid)) throw new ProtocolViolation(`block ${block.hash}: transaction ${tx.txid} is already stored`);
    let spent = 0;
    for (const input of tx.inputs) {
      const output = earlier.get(input.txid)?.[input.index] ?? pending?.output(input.txid, input.index) ?? node.getTransactionOutput(input.txid, input.index);
      if (!output) throw new ProtocolViolation(`block ${block.hash}: spends unknown output ${input.txid}:${input.index}`);
      spent += output.amount;
    }
    if (!isCoinbase(tx) && tx.outputs.reduce((sum, output) => sum + output.amount, 0) > spent) {
      throw new ProtocolViolation(`block ${block.hash}: transaction ${tx.txid} spends more than its inputs`);
    }
    earlier.set(tx.txid, tx.outputs);
  }
  return 'ready';
}

/** Checks the dependencies of a checked block and hands it to the node, waiting for the verdict. */
export function submitBlock(node: Blocking<NodeApi>, block: Block, connection: number, relayed: boolean): NewBlockResult {
  const readiness = checkDependencies(node, block);
  if (readiness !== 'ready') return { status: readiness, hash: block.hash, height: block.height, best: false };
  return node.onNewBlock(block.bytes, { connection, relayed });
}
