/**
 * The node's block queue: queued blocks are known to the node before they are saved,
 * and blocks in flight (claimed by the connection verifying them) belong to one
 * connection until they are queued or that connection closes.
 */
import test from 'ava';
import { ChainGenerator } from '../examples/fullnode/chain/chain-generator.ts';
import { genesisBlock } from '../examples/fullnode/chain/network-params.ts';
import { BlockQueue } from '../examples/fullnode/node/block-queue.ts';
import type { BlockOrigin, NewBlockResult, VertexHandler } from '../examples/fullnode/node/vertex-handler.ts';
import { TEST_NETWORK } from './fixtures/fullnode/test-nodes.ts';

function firstBlock() {
  const genesis = genesisBlock(TEST_NETWORK);
  return new ChainGenerator(TEST_NETWORK, 1).next({ hash: genesis.hash, height: 0, parent: genesis.parent, timestamp: genesis.timestamp, txCount: genesis.transactions.length });
}

test('a queued block is known until the vertex handler took it; claims end when it is queued or the connection closes', async (t) => {
  const block = firstBlock();
  const taken: string[] = [];
  const vertices = {
    add: (b: { hash: string; height: number }, _origin: BlockOrigin): NewBlockResult => {
      taken.push(b.hash);
      return { status: 'added', hash: b.hash, height: b.height, best: true };
    },
  } as unknown as VertexHandler;
  const queue = new BlockQueue(vertices);

  t.is(queue.claim(block.hash, 1), 1);
  t.is(queue.claim(block.hash, 2), 1, 'in flight for connection 1');
  queue.releaseClaims(1);
  t.is(queue.claim(block.hash, 2), 2, 'released when connection 1 closed');

  const stored = queue.push(block.bytes, { connection: 2, relayed: false });
  t.is(queue.block(block.hash)?.height, 1);
  t.deepEqual(queue.transaction(block.transactions[0].txid)?.outputs, block.transactions[0].outputs);
  t.is(queue.claim(block.hash, 3), 3, 'queued: the claim ended');
  t.like(await stored, { status: 'added' });
  t.deepEqual(taken, [block.hash]);
  t.is(queue.block(block.hash), undefined);
  t.is(queue.transaction(block.transactions[0].txid), undefined);
  queue.close();
});
