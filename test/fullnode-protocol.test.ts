/**
 * The sync protocol's state machine, driven directly (no sockets, no agents): handshake,
 * what each state accepts, how a misbehaving peer is dropped, the serving side's answers;
 * and the n-ary search for the best common block.
 */
import test from 'ava';
import { pino } from 'pino';
import { genesisBlock } from '../examples/fullnode/chain/network-params.ts';
import type { NodeApi } from '../examples/fullnode/node/node-api.ts';
import { narrowRange, probeHeights } from '../examples/fullnode/p2p/common-block-search.ts';
import { parseLine } from '../examples/fullnode/p2p/line-format.ts';
import { PeerConnection } from '../examples/fullnode/p2p/peer-connection.ts';
import { APP_NAME, DEFAULT_TIMINGS, type ProtocolSettings } from '../examples/fullnode/p2p/protocol-settings.ts';
import { ProtocolViolation } from '../examples/fullnode/p2p/protocol-violation.ts';
import { directMain, FakeConnection } from './fixtures/fullnode/fake-connection.ts';
import { TEST_NETWORK } from './fixtures/fullnode/test-nodes.ts';

const GENESIS = genesisBlock(TEST_NETWORK).hash;
const OTHER_ID = 'ab'.repeat(32);
const CHAIN = Array.from({ length: 30 }, (_, h) => (h === 0 ? GENESIS : h.toString(16).padStart(64, '0')));

function settings(): ProtocolSettings {
  return { ...DEFAULT_TIMINGS, app: APP_NAME, peerId: 'cd'.repeat(32), network: TEST_NETWORK, genesis: GENESIS };
}

/** A node holding CHAIN (hashes only), which records the calls it gets. */
function fakeNode(overrides: Partial<NodeApi> = {}): NodeApi & { calls: string[] } {
  const calls: string[] = [];
  const node: NodeApi = {
    getBestBlock: () => ({ hash: CHAIN[CHAIN.length - 1], height: CHAIN.length - 1 }),
    getBlockHashAtHeight: (height) => CHAIN[height] ?? null,
    getBlockMeta: () => null,
    getBlockBytes: () => null,
    blockExists: (hash) => CHAIN.includes(hash),
    transactionExists: () => false,
    getTransactionOutput: () => null,
    getBlockDependencies: (queries) =>
      queries.map(({ hash, parent, inputs }) => ({
        known: CHAIN.includes(hash),
        parentHeight: CHAIN.includes(parent) ? CHAIN.indexOf(parent) : null,
        knownTxids: [],
        outputs: inputs.map(() => null),
      })),
    claimBlocks: (_connection, hashes) => hashes.map((hash) => (CHAIN.includes(hash) ? 'known' : 'claimed')),
    onNewBlock: () => {
      throw new Error('not expected');
    },
    queueBlock: () => Promise.reject(new Error('not expected')),
    entrypoints: () => ['tcp://127.0.0.1:40403'],
    peerReady: () => ({ accepted: true }),
    peerSyncState: () => undefined,
    relayCursor: () => 0,
    nextRelayed: () => new Promise(() => undefined),
    ...overrides,
  };
  const recorded = Object.fromEntries(
    Object.entries(node).map(([name, method]) => [name, (...args: unknown[]) => (calls.push(name), (method as (...a: unknown[]) => unknown)(...args))]),
  ) as unknown as NodeApi;
  return Object.assign(recorded, { calls });
}

function hello(overrides: Record<string, unknown> = {}): string {
  return `HELLO ${JSON.stringify({ app: 'other', network: TEST_NETWORK.name, genesis: GENESIS, timestamp: Date.now(), capabilities: [], syncVersions: ['v2'], ...overrides })}`;
}

function start(t: import('ava').ExecutionContext, node = fakeNode()): { peer: PeerConnection; conn: FakeConnection; node: ReturnType<typeof fakeNode> } {
  const conn = new FakeConnection();
  const peer = new PeerConnection(directMain(node), conn, settings(), pino({ level: 'silent' }));
  // Leaving READY stops its timers and its relay loop.
  t.teardown(() => peer.connectionLost());
  peer.connectionMade();
  return { peer, conn, node };
}

function handshake(peer: PeerConnection): void {
  peer.lineReceived(hello());
  peer.lineReceived(`PEER-ID ${JSON.stringify({ id: OTHER_ID, entrypoints: [] })}`);
  peer.lineReceived('READY');
}

test('the handshake goes HELLO → PEER-ID → READY, then the sync asks for the best block', (t) => {
  const { peer, conn, node } = start(t);
  t.is(peer.stateName, 'HELLO');
  const sentHello = JSON.parse(parseLine(conn.sent[0]).payload) as Record<string, unknown>;
  t.like(sentHello, { network: TEST_NETWORK.name, genesis: GENESIS, syncVersions: ['v2'] });

  peer.lineReceived(hello());
  t.is(peer.stateName, 'PEER-ID');
  t.is(conn.commands()[1], 'PEER-ID');
  peer.lineReceived(`PEER-ID ${JSON.stringify({ id: OTHER_ID, entrypoints: ['tcp://10.0.0.1:40403'] })}`);
  t.true(node.calls.includes('peerReady'));
  t.is(peer.peerId, OTHER_ID);
  t.is(conn.commands()[2], 'READY');
  peer.lineReceived('READY');
  t.is(peer.stateName, 'READY');
  t.deepEqual(conn.commands(), ['HELLO', 'PEER-ID', 'READY', 'GET-BEST-BLOCK']);
  t.is(conn.lostWith, null);
});

for (const [title, line, reason] of [
  ['another genesis', hello({ genesis: 'ee'.repeat(32) }), /different genesis/],
  ['another network', hello({ network: 'mainnet' }), /wrong network/],
  ['a clock far off', hello({ timestamp: Date.now() - 3_600_000 }), /clocks differ/],
  ['no common sync version', hello({ syncVersions: ['v1'] }), /no common sync version/],
  ['a malformed HELLO', 'HELLO {"app": 1}', /must be strings/],
  ['a command the state does not accept', 'GET-BEST-BLOCK', /not accepted in state HELLO/],
  ['garbage', '\u0000\u0001 garbage', /not a command/],
] as const) {
  test(`a peer that sends ${title} is told why and dropped`, (t) => {
    const { peer, conn } = start(t);
    peer.lineReceived(line);
    t.regex(conn.sent[conn.sent.length - 1], /^ERROR /);
    t.regex(conn.sent[conn.sent.length - 1], reason);
    t.true(conn.lostWith instanceof ProtocolViolation);
    t.false(conn.connected);
  });
}

test('READY before PEER-ID, and a peer the node refuses, are dropped', (t) => {
  const early = start(t);
  early.peer.lineReceived(hello());
  early.peer.lineReceived('READY');
  t.regex(early.conn.sent.at(-1)!, /^ERROR READY before PEER-ID/);

  const refused = start(t, fakeNode({ peerReady: () => ({ accepted: false, reason: 'connected to itself' }) }));
  refused.peer.lineReceived(hello());
  refused.peer.lineReceived(`PEER-ID ${JSON.stringify({ id: OTHER_ID, entrypoints: [] })}`);
  t.regex(refused.conn.sent.at(-1)!, /^ERROR peer refused: connected to itself/);
  t.true(refused.conn.lostWith instanceof ProtocolViolation);
});

test('ERROR from the peer closes the connection', (t) => {
  const { peer, conn } = start(t);
  peer.lineReceived('ERROR go away');
  t.regex(String(conn.lostWith?.message), /peer sent ERROR: go away/);
  t.is(conn.commands().filter((c) => c === 'ERROR').length, 0, 'no ERROR is sent back');
});

test('in READY the serving side answers from storage, and unsolicited replies are violations', (t) => {
  const { peer, conn } = start(t);
  handshake(peer);
  conn.sent.length = 0;
  peer.lineReceived('PING');
  peer.lineReceived('GET-BEST-BLOCK');
  peer.lineReceived('GET-PEER-BLOCK-HASHES [0,5,29,400]');
  t.deepEqual(conn.sent, [
    'PONG',
    `BEST-BLOCK ${JSON.stringify({ block: CHAIN[29], height: 29 })}`,
    `PEER-BLOCK-HASHES ${JSON.stringify([[0, CHAIN[0]], [5, CHAIN[5]], [29, CHAIN[29]]])}`,
  ]);
  peer.lineReceived(`GET-NEXT-BLOCKS ${JSON.stringify({ start_hash: 'ee'.repeat(32), end_hash: CHAIN[29], quantity: 5 })}`);
  t.is(conn.sent.at(-1), 'BLOCKS-END invalid-start', 'a start block off the best chain');
  t.is(conn.lostWith, null);

  peer.lineReceived('BLOCKS AAAA');
  t.regex(conn.sent.at(-1)!, /^ERROR BLOCKS without a GET-NEXT-BLOCKS/);
});

test('more than 20 heights in one GET-PEER-BLOCK-HASHES is a violation', (t) => {
  const { peer, conn } = start(t);
  handshake(peer);
  peer.lineReceived(`GET-PEER-BLOCK-HASHES ${JSON.stringify(Array.from({ length: 21 }, (_, i) => i))}`);
  t.regex(conn.sent.at(-1)!, /^ERROR GET-PEER-BLOCK-HASHES: expected at most 20 heights/);
});

test('probe heights: at most 10, ascending, ending at the top of the range', (t) => {
  t.deepEqual(probeHeights(0, 0), []);
  t.deepEqual(probeHeights(3, 7), [4, 5, 6, 7]);
  const wide = probeHeights(0, 2000);
  t.is(wide.length, 10);
  t.is(wide[9], 2000);
  t.deepEqual(wide, [...wide].sort((a, b) => a - b));
});

test('the n-ary search finds the fork point in a few round trips', (t) => {
  for (const [top, fork] of [[2000, 1234], [2000, 0], [2000, 2000], [57, 56], [1_000_000, 999_999], [10, 3]]) {
    let lo = 0;
    let hi = top;
    let rounds = 0;
    while (lo < hi) {
      const heights = probeHeights(lo, hi);
      t.true(heights.length <= 10);
      ({ lo, hi } = narrowRange(lo, heights, heights.map((h) => h <= fork)));
      rounds++;
    }
    t.is(lo, fork, `top ${top}, fork ${fork}`);
    t.true(rounds <= Math.ceil(Math.log10(top)) + 1, `${rounds} rounds for a range of ${top}`);
  }
});
