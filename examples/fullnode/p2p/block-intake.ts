/**
 * What a connection does with a block a peer sent (in a stream or as a relay):
 *
 * 1. `checkBlock` — stateless: decode and verify the proof of work. No storage, all
 *    CPU: under `--p2p-multiprocess` this runs in the agent, off the node's thread.
 *    A streamed block is decoded at once and its proof of work checked only if the
 *    node does not know it yet (block-sync.ts), as sync-v2 skips vertices it has.
 * 2. `checkDependencies` — sync-v2's "can validate full": do we have it already, its
 *    parent, every output it spends (amounts checked on the way)? Storage is asked
 *    with one synchronous query that answers all of it for a batch of blocks
 *    (`readDependencies`); it used to be one read per transaction and per input, a
 *    dozen per block.
 * 3. The node's vertex handler (`onNewBlock`) validates against storage and saves:
 *    `submitBlock` waits for it (relays); the stream pipelines it (block-sync.ts).
 */
import { decodeBlock, type Block } from '../chain/block.ts';
import type { NetworkParams } from '../chain/network-params.ts';
import { hasValidProofOfWork } from '../chain/proof-of-work.ts';
import type { Hash } from '../chain/sha256.ts';
import { isCoinbase, type TxOutput } from '../chain/transaction.ts';
import type { Blocking } from 'agent-ipc/agent';
import type { BlockDependencies, BlockDependencyQuery, NewBlockResult, NodeApi } from '../node/node-api.ts';
import type { PendingBlocks } from './pending-blocks.ts';
import { ProtocolViolation } from './protocol-violation.ts';

/** Decodes `bytes` and checks the proof of work. Throws `DecodeError` or `ProtocolViolation`. */
export function checkBlock(bytes: Uint8Array, network: NetworkParams): Block {
  const block = decodeBlock(bytes);
  checkProofOfWork(block, network);
  return block;
}

/** Throws `ProtocolViolation` unless the decoded `block` meets the proof-of-work target. */
export function checkProofOfWork(block: Block, network: NetworkParams): void {
  if (!hasValidProofOfWork(block.header, network)) throw new ProtocolViolation(`block ${block.hash}: the proof of work misses the target`);
}

/** How many blocks one `getBlockDependencies` call asks about: bounds the node's time per call. */
export const DEPENDENCY_BATCH = 64;

/**
 * Asks the node everything `checkDependencies` needs to know about `blocks` — known
 * already (stored, or queued for storage)? the parent's height? the transactions? the
 * outputs they spend? — with one synchronous call per {@link DEPENDENCY_BATCH} blocks,
 * all answered from one snapshot. The answers are in the order of `blocks`.
 */
export function readDependencies(node: Blocking<NodeApi>, blocks: readonly Block[]): BlockDependencies[] {
  const answers: BlockDependencies[] = [];
  for (let i = 0; i < blocks.length; i += DEPENDENCY_BATCH) answers.push(...node.getBlockDependencies(blocks.slice(i, i + DEPENDENCY_BATCH).map(dependencyQuery)));
  return answers;
}

/**
 * Whether `block` can go to the node: `'ready'`, or why not. `stored` is what the node
 * said about it (`readDependencies`, or asked here if not given). Blocks in `pending`
 * (handed to the node, not yet confirmed) count as known: they override `stored`, which
 * may be older than them. Throws `ProtocolViolation` for a block that can never be valid.
 */
export function checkDependencies(
  node: Blocking<NodeApi>,
  block: Block,
  pending?: PendingBlocks,
  stored: BlockDependencies = readDependencies(node, [block])[0]!,
): 'ready' | 'duplicate' | 'missing-parent' {
  if (pending?.height(block.hash) !== undefined || stored.known) return 'duplicate';
  const parentHeight = pending?.height(block.parent) ?? stored.parentHeight;
  if (parentHeight === null) return 'missing-parent';
  if (block.height !== parentHeight + 1) throw new ProtocolViolation(`block ${block.hash}: height ${block.height} after a parent at ${parentHeight}`);
  const knownTxids = new Set(stored.knownTxids);
  const earlier = new Map<Hash, TxOutput[]>();
  let input = 0;
  for (const tx of block.transactions) {
    if (pending?.hasTransaction(tx.txid) || knownTxids.has(tx.txid)) throw new ProtocolViolation(`block ${block.hash}: transaction ${tx.txid} is already stored`);
    let spent = 0;
    for (const { txid, index } of tx.inputs) {
      const output = earlier.get(txid)?.[index] ?? pending?.output(txid, index) ?? stored.outputs[input];
      input++;
      if (!output) throw new ProtocolViolation(`block ${block.hash}: spends unknown output ${txid}:${index}`);
      spent += output.amount;
    }
    if (!isCoinbase(tx) && tx.outputs.reduce((sum, output) => sum + output.amount, 0) > spent) {
      throw new ProtocolViolation(`block ${block.hash}: transaction ${tx.txid} spends more than its inputs`);
    }
    earlier.set(tx.txid, tx.outputs);
  }
  return 'ready';
}

/** The storage questions about `block`. */
function dependencyQuery(block: Block): BlockDependencyQuery {
  const inputs: Array<[Hash, number]> = [];
  for (const tx of block.transactions) for (const { txid, index } of tx.inputs) inputs.push([txid, index]);
  return { hash: block.hash, parent: block.parent, txids: block.transactions.map((tx) => tx.txid), inputs };
}

/** Checks the dependencies of a checked block and hands it to the node, waiting for the verdict. */
export function submitBlock(node: Blocking<NodeApi>, block: Block, connection: number, relayed: boolean): NewBlockResult {
  const readiness = checkDependencies(node, block);
  if (readiness !== 'ready') return { status: readiness, hash: block.hash, height: block.height, best: false };
  return node.onNewBlock(block.bytes, { connection, relayed });
}
