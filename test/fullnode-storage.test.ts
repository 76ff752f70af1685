/**
 * The reference full node's LMDB storage: it survives a restart, refuses another
 * network's directory, and follows the highest branch.
 */
import test from 'ava';
import type { Block } from '../examples/fullnode/chain/block.ts';
import type { BlockMeta } from '../examples/fullnode/chain/block-meta.ts';
import { ChainGenerator } from '../examples/fullnode/chain/chain-generator.ts';
import { ChainStorage } from '../examples/fullnode/storage/chain-storage.ts';
import { TEST_NETWORK, tempDir } from './fixtures/fullnode/test-nodes.ts';

function extend(storage: ChainStorage, generator: ChainGenerator, from: BlockMeta, count: number): Block[] {
  const blocks: Block[] = [];
  let parent = from;
  for (let i = 0; i < count; i++) {
    const block = generator.next(parent);
    storage.saveBlock(block);
    blocks.push(block);
    parent = storage.getBlockMeta(block.hash)!;
  }
  return blocks;
}

test('blocks, transactions, the best block and the peer id survive a restart', async (t) => {
  const dir = tempDir(t);
  const first = ChainStorage.open(dir, TEST_NETWORK);
  const blocks = extend(first, new ChainGenerator(TEST_NETWORK), first.genesis, 25);
  const peerId = first.peerId();
  const best = first.best;
  await first.close();

  const again = ChainStorage.open(dir, TEST_NETWORK);
  t.teardown(() => again.close());
  t.deepEqual(again.best, best);
  t.is(again.best.height, 25);
  t.is(again.peerId(), peerId);
  for (const block of blocks) {
    t.deepEqual(Uint8Array.from(again.getBlockBytes(block.hash)!), block.bytes);
    t.is(again.getHashAtHeight(block.height), block.hash);
    for (const tx of block.transactions) t.true(again.hasTransaction(tx.txid));
  }
  t.is(again.getHashAtHeight(0), again.genesis.hash);
  t.is(again.getHashAtHeight(26), undefined);
});

test("a data directory of another network is refused with a clear message", async (t) => {
  const dir = tempDir(t);
  await ChainStorage.open(dir, TEST_NETWORK).close();
  t.throws(() => ChainStorage.open(dir, { ...TEST_NETWORK, name: 'other' }), { message: /holds network 'fullnode-test'.*use another --data-dir/ });
});

test('the highest branch becomes the best chain; a tie keeps the first', async (t) => {
  const storage = ChainStorage.open(tempDir(t), TEST_NETWORK);
  t.teardown(() => storage.close());
  const main = extend(storage, new ChainGenerator(TEST_NETWORK, 1), storage.genesis, 10);
  const fork = storage.getBlockMeta(main[4].hash)!; // height 5
  const branch = extend(storage, new ChainGenerator(TEST_NETWORK, 2), fork, 5); // up to height 10: a tie
  t.is(storage.best.hash, main[9].hash);
  t.is(storage.getHashAtHeight(7), main[6].hash);

  const block = new ChainGenerator(TEST_NETWORK, 3).next(storage.getBlockMeta(branch[4].hash)!);
  t.deepEqual(storage.saveBlock(block), { best: true, reorgDepth: 5 });
  t.is(storage.best.height, 11);
  for (const b of branch) t.is(storage.getHashAtHeight(b.height), b.hash);
  t.is(storage.getHashAtHeight(5), main[4].hash);
  t.true(storage.hasBlock(main[9].hash), 'the losing branch stays stored');
});
