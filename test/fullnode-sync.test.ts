/**
 * The reference full node over real TCP, in every P2P mode: two nodes converge on the
 * same best block and relay new ones; one node serves two syncing peers at once; a node
 * syncs from two peers at once; a node
 * restarted mid-sync resumes from what it stored; a peer sending garbage or an over-long
 * line is dropped while the sync with the other peer goes on. Chains are small and the
 * proof of work cheap; nothing here depends on timing.
 */
import { Buffer } from 'node:buffer';
import { getPriority } from 'node:os';
import test from 'ava';
import type { Isolation } from '../src/index.ts';
import { encodeBlock, transactionRoot } from '../examples/fullnode/chain/block.ts';
import { genesisBlock } from '../examples/fullnode/chain/network-params.ts';
import { mine } from '../examples/fullnode/chain/proof-of-work.ts';
import { encodeTransaction } from '../examples/fullnode/chain/transaction.ts';
import { AGENT_PRIORITY, FullNode } from '../examples/fullnode/node/full-node.ts';
import { RawPeer } from './fixtures/fullnode/raw-peer.ts';
import { recordSpawns } from './helpers/agents.ts';
import { endpoint, startNode, tempDir, waitFor, waitForSameBest, TEST_NETWORK } from './fixtures/fullnode/test-nodes.ts';

const MODES: Isolation[] = ['inline', 'thread', 'process'];

for (const mode of MODES) {
  test.serial(`${mode}: two nodes sync to the same best block, then relay new blocks`, async (t) => {
    const spawned = recordSpawns(t);
    const source = await startNode(t, { p2p: mode, generateBlocks: 120 });
    const node = await startNode(t, { p2p: mode, bootstrap: [endpoint(source)] });
    await waitForSameBest(node, source);
    // The P2P agents run below the node's priority (process agents: seen from here).
    if (mode === 'process') {
      t.is(spawned.length, 2, 'one agent per side of the connection');
      for (const { pid } of spawned) t.is(getPriority(pid), AGENT_PRIORITY);
    }
    t.is(node.storage.best.height, 120);
    t.is(node.vertices.stats.added, 120);
    t.is(node.vertices.stats.duplicates, 0);
    const [peer] = node.peers.list();
    t.like(peer, { id: source.peerId, direction: 'outbound' });
    if (mode !== 'inline') t.truthy(peer.agent);

    // New blocks reach the other node as they are found (DATA), without a new stream.
    const blocks = await source.generateBlocks(3);
    await waitForSameBest(node, source);
    t.is(node.storage.getHashAtHeight(123), blocks[2].hash);
    t.is(node.vertices.stats.added, 123);
    // ... and the other way round.
    await node.generateBlocks(2);
    await waitForSameBest(source, node);
    t.is(source.storage.best.height, 125);
  });
}

test.serial('a node serves two syncing peers at once', async (t) => {
  const source = await startNode(t, { p2p: 'thread', generateBlocks: 150, timings: { streamLimit: 40 } });
  const [a, b] = await Promise.all([
    startNode(t, { p2p: 'thread', bootstrap: [endpoint(source)], timings: { streamLimit: 40 } }),
    startNode(t, { p2p: 'process', bootstrap: [endpoint(source)], timings: { streamLimit: 40 } }),
  ]);
  await waitFor(() => source.peers.list().length === 2, 'both peers to connect');
  await Promise.all([waitForSameBest(a, source), waitForSameBest(b, source)]);
  t.is(a.storage.best.hash, b.storage.best.hash);
  t.deepEqual(source.peers.list().map((peer) => peer.id).sort(), [a.peerId, b.peerId].sort());
});

for (const agents of ['per-connection', { pool: 2 }] as const) {
  test.serial(`thread, agents ${typeof agents === 'string' ? agents : 'in a pool of 2'}: a node syncs the same chain from two peers at once`, async (t) => {
    const timings = { streamLimit: 40 };
    const a = await startNode(t, { p2p: 'inline', generateBlocks: 150, timings });
    const b = await startNode(t, { p2p: 'inline', bootstrap: [endpoint(a)], timings });
    await waitForSameBest(b, a);
    const node = await startNode(t, { p2p: 'thread', agents, bootstrap: [endpoint(a), endpoint(b)], timings });
    let disconnects = 0;
    node.lineServer.on('disconnect', () => disconnects++);
    await waitForSameBest(node, a);
    // Both streams carry the same blocks: each is stored once (a copy the node already
    // has or has queued is skipped, or stored as a duplicate), and neither peer is
    // dropped for sending what the other one sent first.
    t.is(node.vertices.stats.added, 150);
    t.is(node.vertices.stats.missingParent, 0);
    // A peer is listed from its connection on and named once its handshake is done; the
    // sync may finish from one peer before the other's handshake has.
    await waitFor(() => node.peers.list().filter((peer) => peer.id !== null).length === 2, 'both peers to be connected and identified');
    t.deepEqual(node.peers.list().map((peer) => peer.id).sort(), [a.peerId, b.peerId].sort());
    t.is(disconnects, 0);
  });
}

test.serial('a node restarted mid-sync resumes from its storage', async (t) => {
  const STOP_AT = 60;
  const source = await startNode(t, { p2p: 'thread', generateBlocks: 200 });
  const dataDir = tempDir(t);
  // Streams of 20 blocks: once the node stops, at most the stream in flight lands.
  const timings = { streamLimit: 20 };
  const first = await FullNode.start({ network: TEST_NETWORK, dataDir, p2p: 'thread', bootstrap: [endpoint(source)], timings });
  t.teardown(() => first.stop());
  const stopped = new Promise<void>((resolve) => {
    first.vertices.onBlockAdded((block) => {
      if (block.height === STOP_AT) void first.stop().then(resolve);
    });
  });
  await stopped;
  const stored = first.storage.best.height;
  t.true(stored >= STOP_AT && stored < 200, `stopped at height ${stored}`);

  const second = await startNode(t, { dataDir, p2p: 'thread', bootstrap: [endpoint(source)], timings });
  t.is(second.storage.best.height, stored, 'the stored chain is back');
  await waitForSameBest(second, source);
  t.is(second.vertices.stats.added, 200 - stored, 'only the missing blocks were fetched');
  t.is(second.vertices.stats.duplicates, 0);
});

test.serial('a peer sending garbage or an over-long line is dropped; the sync with the other peer goes on', async (t) => {
  const source = await startNode(t, { p2p: 'thread', generateBlocks: 150, timings: { streamLimit: 25 } });
  const errors: Error[] = [];
  source.lineServer.on('error', (error) => errors.push(error));
  const node = await startNode(t, { p2p: 'thread', bootstrap: [endpoint(source)], timings: { streamLimit: 25 } });
  await waitFor(() => node.storage.best.height > 0, 'the sync to start');

  const garbage = await RawPeer.connect(source.p2pAddress.port);
  t.teardown(() => garbage.destroy());
  garbage.write('\u0000\u00ff\u0001 this is not a command\r\n');
  await garbage.closed;
  t.regex(garbage.lines.find((line) => line.startsWith('ERROR')) ?? '', /not a command/);

  const flood = await RawPeer.connect(source.p2pAddress.port);
  t.teardown(() => flood.destroy());
  flood.write(`HELLO ${'x'.repeat(70_000)}\r\n`);
  await flood.closed;
  t.true(errors.some((error) => /line|too large|65536/i.test(error.message)), errors.map((e) => e.message).join('; '));

  await waitForSameBest(node, source);
  t.is(node.storage.best.height, 150);
  await waitFor(() => source.peers.list().length === 1, 'the dropped peers to be gone');
  t.is(source.peers.list()[0].id, node.peerId);
});

for (const mode of ['thread', 'process'] as const) {
  test.serial(`${mode}: a relayed block that breaks a rule checked in the node drops its sender`, async (t) => {
    const node = await startNode(t, { p2p: mode });
    const genesis = genesisBlock(TEST_NETWORK);
    // Valid proof of work (the agent's check passes), but the coinbase pays too much (the node's rule).
    const coinbase = encodeTransaction({ lockHeight: 1, inputs: [], outputs: [{ amount: 1_000_000, address: '00'.repeat(20) }] });
    const header = mine({ height: 1, parent: genesis.hash, timestamp: Date.now(), txRoot: transactionRoot([coinbase]) }, TEST_NETWORK);
    const block = encodeBlock(header, [coinbase]);

    const peer = await RawPeer.connect(node.p2pAddress.port);
    t.teardown(() => peer.destroy());
    const hello = { app: 'test', network: TEST_NETWORK.name, genesis: genesis.hash, timestamp: Date.now(), capabilities: [], syncVersions: ['v2'] };
    peer.write(`HELLO ${JSON.stringify(hello)}\r\nPEER-ID ${JSON.stringify({ id: 'ef'.repeat(32), entrypoints: [] })}\r\nREADY\r\n`);
    await waitFor(() => node.peers.list().some((p) => p.id === 'ef'.repeat(32)), 'the handshake');
    peer.write(`DATA ${Buffer.from(block.bytes).toString('base64')}\r\n`);
    await peer.closed;
    t.regex(peer.lines.find((line) => line.startsWith('ERROR')) ?? '', /coinbase pays more than the reward/);
    t.is(node.storage.best.height, 0);
    t.false(node.storage.hasBlock(block.hash));
  });
}
