/**
 * A connection of the line server waiting for its agent: a pool's place being replaced by
 * an agent that never becomes ready, or a per-connection agent that never does, with
 * `startupTimeoutMs: 0` (no bound on the wait). Such a connection must end as soon as its
 * peer resets it — not when the wait ends, which may be never: a peer could otherwise pile
 * connections up until `close()` — and `close()` must end the waits the same way every
 * time (no `error` event, as for an open connection it closes).
 *
 * "Never becomes ready" is a hook on the agent start that holds it back until its signal
 * gives it up (the server closes, or the connection stops waiting): nothing is spawned for
 * it. The hooks wrap internals of this process (ava runs each test file in a process of
 * its own), so the tests run one at a time. Nothing here measures time: waits are on
 * events, a hang is ava's timeout.
 */
import test from 'ava';
import { once } from 'node:events';
import * as net from 'node:net';
import { ConnectionClosedError } from '../src/index.ts';
import { AgentPool } from '../src/lines/agent-pool.ts';
import { createLineServer, type LineAgents, type LineConnectionInfo, type LineServer } from '../src/lines/index.ts';
import { LineAgent } from '../src/lines/line-agent.ts';
import { ServedConnection } from '../src/lines/served-connection.ts';
import { LineClient, TestNode, testProtocol } from './fixtures/lines/line-client.ts';
import { AgentCensus } from './helpers/agent-census.ts';
import { eventWaits } from './helpers/event-waits.ts';
import { countAcquires } from './helpers/pool-acquires.ts';

// --- hooks ------------------------------------------------------------------------------

/** Waits for what the hooks below record: `changed()` after each event, `until(done)` to wait. */
const { changed, until } = eventWaits();

/** The pools that connections asked for an agent, and how many asks. */
const pools = new Set<AgentPool>();
const acquires = countAcquires((pool) => {
  pools.add(pool);
  changed();
});

/** Connections waiting for an agent in any pool. */
function poolWaiters(): number {
  let waiters = 0;
  for (const pool of pools) waiters += pool.waiters;
  return waiters;
}

/** Every connection the server took on, and which of them are finished. */
const connections: ServedConnection[] = [];
const finished = new Set<ServedConnection>();
const serve = Object.getOwnPropertyDescriptor(ServedConnection.prototype, 'start')!.value as ServedConnection['start'];
ServedConnection.prototype.start = function (this: ServedConnection): Promise<void> {
  connections.push(this);
  void this.finished.then(() => {
    finished.add(this);
    changed();
  });
  changed();
  return serve.call(this);
};

/** A start that never becomes ready: `givenUp` once its signal ended it. */
interface HeldStart {
  name: string;
  givenUp: boolean;
}
/** While true, agent starts never become ready (see {@link HeldStart}). */
let holdStarts = false;
const held: HeldStart[] = [];
const start = LineAgent.start.bind(LineAgent);
LineAgent.start = (...args: Parameters<typeof start>): Promise<LineAgent> => {
  const [, name, , how] = args;
  if (!holdStarts) return start(...args);
  const start_: HeldStart = { name, givenUp: false };
  held.push(start_);
  changed();
  return new Promise<LineAgent>((_, reject) => {
    // Like a real start, a held one gives up when its signal says so — and only then.
    const signal = how?.signal;
    const giveUp = (): void => {
      start_.givenUp = true;
      reject(signal!.reason);
      changed();
    };
    if (signal?.aborted) giveUp();
    else signal?.addEventListener('abort', giveUp, { once: true });
  });
};

/** Agents as the public lifecycle channels report them. */
const census = new AgentCensus(changed);

test.beforeEach(() => {
  pools.clear();
  acquires.reset();
  connections.length = 0;
  finished.clear();
  holdStarts = false;
  held.length = 0;
  census.clear();
});

// --- a server whose connections wait ---------------------------------------------------------

interface Seen {
  server: LineServer;
  port: number;
  errors: Array<{ error: Error; info: LineConnectionInfo | undefined }>;
  disconnects: LineConnectionInfo[];
}

/**
 * A server (`startupTimeoutMs: 0`) on which new connections wait for an agent that never
 * becomes ready: per connection, every start is held; for a pool of one, its agent
 * crashes and the replacement is held.
 */
async function waitingServer(agents: LineAgents): Promise<Seen> {
  const server = createLineServer({ agent: testProtocol, expose: new TestNode().api, isolation: 'thread', agents, startupTimeoutMs: 0 });
  const seen: Seen = { server, port: 0, errors: [], disconnects: [] };
  server.on('error', (error, info) => {
    seen.errors.push({ error, info });
    changed();
  });
  server.on('disconnect', (info) => {
    seen.disconnects.push(info);
    changed();
  });
  let restarted = false;
  server.on('agentRestart', () => {
    restarted = true;
    changed();
  });
  seen.port = (await server.listen(0, '127.0.0.1')).port;
  if (agents === 'per-connection') {
    holdStarts = true;
  } else {
    const first = await LineClient.connect(seen.port);
    // Held from now on: the replacement starts as soon as the crash is seen.
    holdStarts = true;
    first.send('CRASH');
    await first.rest();
    await until(() => restarted && held.length === 1);
    await until(() => finished.size === connections.length);
    seen.errors.length = 0;
    seen.disconnects.length = 0;
  }
  return seen;
}

/** Connects `count` peers and waits until each of their connections waits for an agent. */
async function waitingPeers(seen: Seen, agents: LineAgents, count: number): Promise<net.Socket[]> {
  const [asked, starts, served] = [acquires.count, held.length, connections.length];
  const sockets = await Promise.all(
    Array.from({ length: count }, async () => {
      const socket = net.connect({ port: seen.port, host: '127.0.0.1' });
      socket.on('error', () => undefined);
      await once(socket, 'connect');
      return socket;
    }),
  );
  await until(() => connections.length >= served + count);
  if (agents === 'per-connection') await until(() => held.length >= starts + count);
  else await until(() => acquires.count >= asked + count && poolWaiters() === count);
  return sockets;
}

const supplies: Array<[string, LineAgents]> = [
  ['pool', { pool: 1 }],
  ['per-connection', 'per-connection'],
];

// --- 1. a peer that leaves while its connection waits -----------------------------------------

for (const [supply, agents] of supplies) {
  test.serial(`${supply}: a peer that resets its connection while it waits for an agent ends it at once, with nothing handed to it`, async (t) => {
    t.timeout(120_000);
    const seen = await waitingServer(agents);
    try {
      const startsBefore = held.length;
      const waiting = connections.length;
      const sockets = await waitingPeers(seen, agents, 8);
      // No timer can end these waits (startupTimeoutMs 0, and the held starts never end on
      // their own): only the peers leaving can. Half leave first; the others wait on.
      for (const socket of sockets.slice(0, 4)) socket.resetAndDestroy();
      await until(() => finished.size === waiting + 4);
      if (agents === 'per-connection') t.is(held.slice(startsBefore).filter((start) => start.givenUp).length, 4, 'only their agent starts were given up');
      else t.is(poolWaiters(), 4, 'only they left the queue');
      for (const socket of sockets.slice(4)) socket.resetAndDestroy();
      await until(() => finished.size === connections.length);
      t.is(connections.length - waiting, 8);
      t.is(poolWaiters(), 0, 'no connection waits in the pool any more');
      if (agents === 'per-connection') t.true(held.slice(startsBefore).every((start) => start.givenUp), "each connection's agent start was given up");
      else t.is(held.length, startsBefore, 'the waits started no agent');
      t.deepEqual(seen.disconnects, [], 'none was ever live');
      // A reset is a socket failure, reported as before: once, with no agent named.
      t.deepEqual(
        seen.errors.map(({ error, info }) => [(error as NodeJS.ErrnoException).code, info?.agent]),
        Array.from({ length: 8 }, () => ['ECONNRESET', undefined]),
      );
      for (const socket of sockets) socket.destroy();
    } finally {
      await seen.server.close();
    }
    if (agents !== 'per-connection') census.assertNoneLeft(t, 'thread');
  });
}

// --- 2. close() while connections wait ---------------------------------------------------------

for (const [supply, agents] of supplies) {
  test.serial(`${supply}: close() ends the connections waiting for an agent with ConnectionClosedError and no error event, and a waiting connect() rejects with it`, async (t) => {
    t.timeout(120_000);
    const seen = await waitingServer(agents);
    const peer = net.createServer((socket) => socket.on('error', () => undefined));
    const sockets: net.Socket[] = [];
    try {
      sockets.push(...(await waitingPeers(seen, agents, 3)));
      // The server dials a peer too: its connect() waits like the inbound connections.
      peer.listen(0, '127.0.0.1');
      await once(peer, 'listening');
      const served = connections.length;
      const dialled = seen.server.connect((peer.address() as net.AddressInfo).port, '127.0.0.1');
      dialled.catch(() => undefined);
      await until(() => connections.length > served);
      if (agents === 'per-connection') await until(() => held.length >= 4);
      else await until(() => poolWaiters() === 4);

      const closes = sockets.map((socket) => once(socket, 'close'));
      await seen.server.close();
      await t.throwsAsync(dialled, { instanceOf: ConnectionClosedError });
      await Promise.all(closes);
      t.is(finished.size, connections.length, 'every connection finished');
      t.deepEqual(seen.errors, [], 'a connection the server closes has not failed');
      t.deepEqual(seen.disconnects, [], 'none was ever live');
    } finally {
      for (const socket of sockets) socket.destroy();
      peer.close();
      await seen.server.close();
    }
    if (agents !== 'per-connection') census.assertNoneLeft(t, 'thread');
  });
}
