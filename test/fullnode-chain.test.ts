/**
 * The reference full node's chain: block and transaction encodings, the proof of work,
 * the generator, and the storage-dependent block rules.
 */
import test from 'ava';
import { decodeBlock, encodeBlock, transactionRoot, type Block } from '../examples/fullnode/chain/block.ts';
import type { BlockMeta } from '../examples/fullnode/chain/block-meta.ts';
import { checkBlockRules, type ChainView } from '../examples/fullnode/chain/block-rules.ts';
import { ChainGenerator } from '../examples/fullnode/chain/chain-generator.ts';
import { DecodeError } from '../examples/fullnode/chain/decode-error.ts';
import { InvalidBlockError } from '../examples/fullnode/chain/invalid-block-error.ts';
import { DEFAULT_NETWORK, genesisBlock } from '../examples/fullnode/chain/network-params.ts';
import { hasValidProofOfWork, meetsTarget, mine } from '../examples/fullnode/chain/proof-of-work.ts';
import type { Hash } from '../examples/fullnode/chain/sha256.ts';
import { decodeTransaction, encodeTransaction, type Transaction } from '../examples/fullnode/chain/transaction.ts';
import { TEST_NETWORK } from './fixtures/fullnode/test-nodes.ts';

function metaOf(block: Block): BlockMeta {
  return { hash: block.hash, height: block.height, parent: block.parent, timestamp: block.timestamp, txCount: block.transactions.length };
}

/** A chain of `n` generated blocks after genesis, and an in-memory view of it. */
function generatedChain(n: number): { blocks: Block[]; view: ChainView & { add(block: Block): void } } {
  const txs = new Map<Hash, Transaction>();
  const view = {
    getBlockMeta: () => undefined,
    getTransaction: (txid: Hash) => txs.get(txid),
    hasTransaction: (txid: Hash) => txs.has(txid),
    add(block: Block) {
      for (const tx of block.transactions) txs.set(tx.txid, tx);
    },
  };
  const generator = new ChainGenerator(TEST_NETWORK, 42);
  const blocks: Block[] = [];
  let parent = metaOf(genesisBlock(TEST_NETWORK));
  for (let i = 0; i < n; i++) {
    const block = generator.next(parent, 1_700_000_000_000 + i);
    blocks.push(block);
    parent = metaOf(block);
  }
  return { blocks, view };
}

test('a block and its transactions survive encoding and decoding', (t) => {
  const { blocks } = generatedChain(20);
  for (const block of blocks) {
    const decoded = decodeBlock(block.bytes);
    t.is(decoded.hash, block.hash);
    t.deepEqual(
      decoded.transactions.map((tx) => tx.txid),
      block.transactions.map((tx) => tx.txid),
    );
    t.is(decoded.height, block.height);
    t.is(decoded.timestamp, block.timestamp);
  }
  const tx = encodeTransaction({ lockHeight: 3, inputs: [{ txid: 'ab'.repeat(32), index: 2 }], outputs: [{ amount: 5, address: 'cd'.repeat(20) }] });
  t.deepEqual(decodeTransaction(tx.bytes), tx);
});

test('generated blocks spend earlier outputs', (t) => {
  const { blocks } = generatedChain(30);
  const inputs = blocks.flatMap((block) => block.transactions.flatMap((tx) => tx.inputs));
  t.true(inputs.length > 30, `only ${inputs.length} inputs in 30 blocks`);
});

test('decoding refuses truncated, padded and inconsistent blocks', (t) => {
  const [block] = generatedChain(1).blocks;
  t.throws(() => decodeBlock(block.bytes.subarray(0, block.bytes.length - 1)), { instanceOf: DecodeError });
  t.throws(() => decodeBlock(new Uint8Array([...block.bytes, 0])), { instanceOf: DecodeError, message: /trailing/ });
  const otherRoot = encodeBlock({ ...block, txRoot: transactionRoot([]) }, block.transactions);
  t.throws(() => decodeBlock(otherRoot.bytes), { instanceOf: DecodeError, message: /txRoot/ });
  const badVersion = Uint8Array.from(block.bytes);
  badVersion[0] = 9;
  t.throws(() => decodeBlock(badVersion), { instanceOf: DecodeError, message: /version/ });
});

test('the proof of work holds for mined headers and breaks when the header changes', (t) => {
  const params = { powIterations: 20, difficultyBits: 6 };
  const header = mine({ height: 1, parent: 'aa'.repeat(32), timestamp: 1, txRoot: 'bb'.repeat(32) }, params);
  const block = encodeBlock(header, []);
  t.true(hasValidProofOfWork(block.header, params));
  let broken = 0;
  for (let nonce = header.nonce + 1; nonce < header.nonce + 40; nonce++) {
    if (!hasValidProofOfWork(encodeBlock({ ...header, nonce }, []).header, params)) broken++;
  }
  t.true(broken > 30, 'most other nonces miss a 6-bit target');
  t.true(meetsTarget(new Uint8Array([0, 0x0f, 0xff]), 12));
  t.false(meetsTarget(new Uint8Array([0, 0x1f, 0xff]), 12));
  t.true(meetsTarget(new Uint8Array([0xff]), 0));
});

test('each network has its own genesis block', (t) => {
  t.not(genesisBlock(TEST_NETWORK).hash, genesisBlock(DEFAULT_NETWORK).hash);
  t.is(genesisBlock(TEST_NETWORK).hash, genesisBlock({ ...TEST_NETWORK }).hash);
});

test('a generated chain meets the block rules', (t) => {
  const { blocks, view } = generatedChain(40);
  let parent = metaOf(genesisBlock(TEST_NETWORK));
  for (const block of blocks) {
    t.notThrows(() => checkBlockRules(block, parent, view, TEST_NETWORK, 1_800_000_000_000));
    view.add(block);
    parent = metaOf(block);
  }
});

test('the block rules refuse what breaks them', (t) => {
  const { blocks, view } = generatedChain(12);
  let parent = metaOf(genesisBlock(TEST_NETWORK));
  for (const block of blocks.slice(0, 10)) {
    view.add(block);
    parent = metaOf(block);
  }
  const now = 1_800_000_000_000;
  const next = blocks[10];
  const rebuild = (transactions: Transaction[], height = next.height): Block =>
    encodeBlock({ height, parent: next.parent, timestamp: next.timestamp, txRoot: transactionRoot(transactions), nonce: 0 }, transactions);
  const refused = (block: Block, message: RegExp): void => {
    const error = t.throws(() => checkBlockRules(block, parent, view, TEST_NETWORK, now), { instanceOf: InvalidBlockError, message });
    t.is(error?.block, block.hash);
  };
  const [coinbase, ...rest] = next.transactions;
  const spendable = blocks[0].transactions[0];

  refused(rebuild(next.transactions, next.height + 1), /height should be/);
  refused(rebuild(rest.length > 0 ? rest : [spendable]), /coinbase|already in the chain/);
  refused(rebuild([encodeTransaction({ lockHeight: 99, inputs: [], outputs: coinbase.outputs })]), /height/);
  refused(rebuild([encodeTransaction({ lockHeight: next.height, inputs: [], outputs: [{ amount: 10_000, address: '00'.repeat(20) }] })]), /reward/);
  const unknown = encodeTransaction({ lockHeight: 0, inputs: [{ txid: 'ee'.repeat(32), index: 0 }], outputs: [{ amount: 1, address: '00'.repeat(20) }] });
  refused(rebuild([coinbase, unknown]), /unknown transaction/);
  const outpoint = { txid: spendable.txid, index: 0 };
  const minted = encodeTransaction({ lockHeight: 0, inputs: [outpoint], outputs: [{ amount: spendable.outputs[0].amount + 1, address: '00'.repeat(20) }] });
  refused(rebuild([coinbase, minted]), /out of nothing/);
  const spendA = encodeTransaction({ lockHeight: 0, inputs: [outpoint], outputs: [{ amount: 1, address: '01'.repeat(20) }] });
  const spendB = encodeTransaction({ lockHeight: 0, inputs: [outpoint], outputs: [{ amount: 1, address: '02'.repeat(20) }] });
  refused(rebuild([coinbase, spendA, spendB]), /spent twice/);
  refused(rebuild([coinbase, spendable]), /already in the chain/);
});
