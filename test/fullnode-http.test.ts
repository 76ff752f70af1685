/**
 * The reference full node's HTTP API: GET /status and GET /block/:hash.
 */
import test from 'ava';
import { endpoint, startNode, waitForSameBest } from './fixtures/fullnode/test-nodes.ts';

async function get(port: number, path: string, method = 'GET'): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

test('GET /status tells height, best block, peers and where P2P runs', async (t) => {
  const node = await startNode(t, { httpPort: 0, generateBlocks: 5, p2p: 'thread' });
  const { status, body } = await get(node.httpPort!, '/status');
  t.is(status, 200);
  t.like(body, { height: 5, bestBlock: node.storage.best.hash, p2p: 'thread', peers: [], peerId: node.peerId });
});

test('GET /block/:hash shows a block with its transactions; unknown, malformed and other requests get errors', async (t) => {
  const node = await startNode(t, { httpPort: 0, generateBlocks: 8 });
  const port = node.httpPort!;
  const best = node.storage.best;
  const { status, body } = await get(port, `/block/${best.hash}`);
  t.is(status, 200);
  t.like(body, { hash: best.hash, height: 8, bestChain: true });
  const transactions = body.transactions as Array<{ txid: string; inputs: unknown[]; outputs: unknown[] }>;
  t.true(transactions.length >= 1);
  t.deepEqual(transactions[0].inputs, [], 'the coinbase comes first');
  t.is((await get(port, `/block/${node.storage.genesis.hash}`)).body.height, 0);

  t.is((await get(port, `/block/${'0'.repeat(64)}`)).status, 404);
  t.is((await get(port, '/block/xyz')).status, 400);
  t.is((await get(port, '/nowhere')).status, 404);
  t.is((await get(port, '/status', 'POST')).status, 405);
});

test('GET /metrics lists every peer agent in the Prometheus text format', async (t) => {
  const source = await startNode(t, { p2p: 'thread', generateBlocks: 20 });
  const node = await startNode(t, { httpPort: 0, p2p: 'thread', bootstrap: [endpoint(source)] });
  await waitForSameBest(node, source);
  const response = await fetch(`http://127.0.0.1:${node.httpPort!}/metrics`);
  t.is(response.status, 200);
  t.regex(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  // Every sample line is `name{labels} value`, every family has HELP and TYPE.
  for (const line of text.trim().split('\n')) t.regex(line, /^(# (HELP|TYPE) agent_ipc_\w+ .+|agent_ipc_\w+(\{[^}]*\})? (\d+(\.\d+)?(e[-+]?\d+)?|NaN))$/);
  t.regex(text, /# TYPE agent_ipc_calls_total counter/);
  // The syncing node's agent called the node (sync runs on main.blocking and main.async).
  const served = [...text.matchAll(/^agent_ipc_calls_total\{[^}]*direction="agent-to-node"[^}]*outcome="ok"\} (\d+)$/gm)].map((m) => Number(m[1]));
  t.true(served.reduce((a, b) => a + b, 0) > 0, 'calls from the agents are counted');
  t.regex(text, /^agent_ipc_call_duration_seconds\{[^}]*quantile="0\.99"\} /m);
  t.regex(text, /^agent_ipc_agents [1-9]/m);
});
