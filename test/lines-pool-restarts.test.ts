/**
 * A line server's pool while its agents are being replaced and the replacements fail to
 * start: a connection that arrives when no agent is healthy waits for one — through failed
 * starts and their back-off — and is served by the first agent that becomes ready, in
 * whichever place of the pool; it gives up only after `startupTimeoutMs` (with
 * `StartupTimeoutError`) or when the server closes (`ConnectionClosedError`, not an `error` event).
 *
 * Starts fail for real (the protocol module throws while loading, while a toggle file says
 * so), or, where the test must choose which place of the pool fails, by a hook on the
 * agent start that holds starts back until the test lets each go or fail. Hooks wrap
 * internals of this process (ava runs each test file in a process of its own), so the
 * tests run one at a time. Nothing here measures time: waits are on events, a hang is
 * ava's timeout.
 */
import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StartupTimeoutError, type Isolation } from '../src/index.ts';
import { restartDelayMs } from '../src/lines/agent-pool.ts';
import { createLineServer, type AgentRestartInfo, type LineConnectionInfo, type LineServer } from '../src/lines/index.ts';
import { LineAgent } from '../src/lines/line-agent.ts';
import { LineClient, TestNode } from './fixtures/lines/line-client.ts';
import { AgentCensus } from './helpers/agent-census.ts';
import { eventWaits } from './helpers/event-waits.ts';
import { countAcquires } from './helpers/pool-acquires.ts';

const protocol = new URL('./fixtures/lines/start-toggle-protocol.ts', import.meta.url);

// --- the toggle file: whether the protocol module loads ------------------------------------

const toggleDir = mkdtempSync(join(tmpdir(), 'agent-ipc-pool-restarts-'));
const toggleFile = join(toggleDir, 'toggle');
// Read by every agent the tests start (thread agents copy the environment, process agents inherit it).
process.env.AGENT_IPC_TEST_START_TOGGLE = toggleFile;
/** From now on the protocol module loads (`ok`) or throws while loading (`fail`). */
function agentsStart(ok: boolean): void {
  writeFileSync(toggleFile, ok ? 'ok' : 'fail');
}
test.after.always(() => rmSync(toggleDir, { recursive: true, force: true }));

// --- hooks ------------------------------------------------------------------------------

/** Waits for what the hooks below record: `changed()` after each event, `until(done)` to wait. */
const { changed, until } = eventWaits();

/** Calls of the pool's `acquire`: a new connection asked for an agent. */
const acquires = countAcquires(changed);

/** An agent start the hook holds back: nothing is spawned until `release()`; `fail()` rejects it. */
interface HeldStart {
  name: string;
  release(): void;
  fail(error: Error): void;
}
/** While true, agent starts are held back (see {@link HeldStart}). */
let holdStarts = false;
const held: HeldStart[] = [];
/**
 * While true, the agents' own start-up is not bounded: the server's `startupTimeoutMs` then
 * bounds only how long a connection waits for an agent, which is what is tested, not how
 * long one agent takes to load on a loaded machine.
 */
let unboundedStarts = false;
/** Agent starts of the line server, and what happened between them, in order. */
const history: string[] = [];
const start = LineAgent.start.bind(LineAgent);
LineAgent.start = (...args: Parameters<typeof start>): Promise<LineAgent> => {
  const [options, name, onDeath, how] = args;
  history.push(`start ${name}`);
  let started: Promise<LineAgent>;
  if (holdStarts) {
    started = new Promise<LineAgent>((resolve, reject) => {
      // Like a real start, a held one gives up when the server closes.
      const signal = how?.signal;
      const abort = (): void => reject(signal!.reason);
      signal?.addEventListener('abort', abort, { once: true });
      held.push({
        name,
        release: () => {
          signal?.removeEventListener('abort', abort);
          start(...args).then(resolve, reject);
        },
        fail: (error) => {
          signal?.removeEventListener('abort', abort);
          reject(error);
        },
      });
    });
  } else {
    started = start(unboundedStarts ? { ...options, startupTimeoutMs: 0 } : options, name, onDeath, how);
  }
  started.then(changed, changed);
  changed();
  return started;
};

/** Agents as the public lifecycle channels report them. */
const census = new AgentCensus(changed);

test.beforeEach(() => {
  acquires.reset();
  holdStarts = false;
  held.length = 0;
  unboundedStarts = false;
  history.length = 0;
  census.clear();
  agentsStart(true);
});

// --- a server and what it reports ---------------------------------------------------------

interface Seen {
  server: LineServer;
  port: number;
  restarts: AgentRestartInfo[];
  errors: Array<{ error: Error; info: LineConnectionInfo | undefined }>;
  disconnects: Array<{ info: LineConnectionInfo; reason: Error | undefined }>;
  clients: LineClient[];
  connect(): Promise<LineClient>;
}

async function listening(options: { isolation: Isolation; pool: number; startupTimeoutMs: number }): Promise<Seen> {
  const node = new TestNode();
  const server = createLineServer({ agent: protocol, expose: node.api, isolation: options.isolation, agents: { pool: options.pool }, startupTimeoutMs: options.startupTimeoutMs });
  const seen: Seen = {
    server,
    port: 0,
    restarts: [],
    errors: [],
    disconnects: [],
    clients: [],
    connect: async () => {
      const client = await LineClient.connect(seen.port);
      seen.clients.push(client);
      return client;
    },
  };
  server.on('agentRestart', (info) => {
    seen.restarts.push(info);
    history.push(`restart ${info.agent}`);
    changed();
  });
  server.on('error', (error, info) => {
    seen.errors.push({ error, info });
    changed();
  });
  server.on('disconnect', (info, reason) => {
    seen.disconnects.push({ info, reason });
    changed();
  });
  seen.port = (await server.listen(0, '127.0.0.1')).port;
  return seen;
}

async function closeAll(seen: Seen): Promise<void> {
  for (const client of seen.clients) client.socket.destroy();
  await seen.server.close();
}

/** Asks the test protocol which agent serves `client`; `undefined` if the connection closed instead. */
async function agentOf(client: LineClient): Promise<string | undefined> {
  client.send('INFO');
  const line = await client.next();
  return line === undefined ? undefined : (JSON.parse(line) as { agent: string }).agent;
}

/** Makes the agent serving `client` crash, and waits until the pool reported it (the `n`th report). */
async function crash(seen: Seen, client: LineClient, n: number): Promise<void> {
  client.send('CRASH');
  await client.closed;
  await until(() => seen.restarts.length >= n);
}

/** Connects `count` clients and waits until each asked the pool for an agent. */
async function arriving(seen: Seen, count: number): Promise<LineClient[]> {
  const asked = acquires.count;
  const clients = await Promise.all(Array.from({ length: count }, () => seen.connect()));
  await until(() => acquires.count >= asked + count);
  return clients;
}

/**
 * The `error` events of connections that were never given an agent: those that waited (not
 * the pool's failed starts, which concern no connection, nor the crashed agent's connection).
 */
function waitersErrors(seen: Seen): Array<{ error: Error; info: LineConnectionInfo | undefined }> {
  return seen.errors.filter(({ info }) => info !== undefined && info.agent === undefined);
}

/**
 * Every replacement was reported before it started — so it waited the back-off the report
 * announced — and the reports count failures in a row with the documented back-off: no
 * start came from elsewhere (a waiting connection, a retry without a report).
 */
function assertBackedOff(t: ExecutionContext, seen: Seen): void {
  const starts = history.filter((entry) => entry.startsWith('start '));
  const pairs = history.slice(1).filter((entry) => entry !== 'close');
  t.is(history[0], starts[0], 'the first start is the pool filling');
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    t.true(pairs[i]!.startsWith('restart ') && pairs[i + 1]!.startsWith('start '), `every replacement start follows a report: ${history.join(', ')}`);
  }
  seen.restarts.forEach(({ failures, delayMs }, i) => {
    t.is(failures, i + 1, 'failures in a row');
    t.is(delayMs, restartDelayMs(failures), 'the documented back-off');
  });
}

// --- 1. waiting through failed restarts -----------------------------------------------------------

for (const isolation of ['thread', 'process'] as const) {
  test.serial(`${isolation}: a connection arriving while the pool's agent is replaced waits through failed starts and is served by the first agent that starts`, async (t) => {
    t.timeout(180_000);
    // No bound on the wait: how long starts take on a loaded machine is not what is tested.
    const seen = await listening({ isolation, pool: 1, startupTimeoutMs: 0 });
    const peerSockets: net.Socket[] = [];
    const peer = net.createServer((socket) => peerSockets.push(socket.on('error', () => undefined)));
    try {
      const first = await seen.connect();
      const agent1 = await agentOf(first);

      // The agent crashes; from now on its replacements fail to start.
      agentsStart(false);
      await crash(seen, first, 1);
      t.like(seen.restarts[0], { agent: agent1, failures: 1, delayMs: 0 });

      // A connection arrives, and the server dials one: neither has a healthy agent to go to.
      const [inbound] = await arriving(seen, 1);
      await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
      let outboundSettled = false;
      const asked = acquires.count;
      const outbound = seen.server.connect((peer.address() as net.AddressInfo).port, '127.0.0.1');
      outbound.then(
        () => (outboundSettled = true),
        () => (outboundSettled = true),
      );
      await until(() => acquires.count > asked || outboundSettled);

      // Two more starts fail while they wait (the second after a back-off: whatever the
      // failure of the first did to them has happened by then).
      const failed = seen.restarts.length;
      await until(() => seen.restarts.length >= failed + 2);
      t.deepEqual(waitersErrors(seen), [], 'no connection failed because a start did');

      // Agents start again: the next replacement serves both.
      agentsStart(true);
      const agent = await agentOf(inbound!);
      t.truthy(agent, 'the waiting connection is served');
      t.not(agent, agent1);
      t.is(agent, history.at(-1)?.slice('start '.length), 'by the replacement that started');
      t.is((await outbound).agent, agent, 'the dialled connection too');
      inbound!.send('ECHO served');
      t.is(await inbound!.next(), 'served');

      const poolErrors = seen.errors.filter(({ info }) => info === undefined);
      for (const { error } of poolErrors) t.regex(error.message, /fails to start on purpose/);
      t.is(poolErrors.length, seen.restarts.length - 1, 'each failed start is one error event');
      assertBackedOff(t, seen);
    } finally {
      for (const socket of peerSockets) socket.destroy();
      peer.close();
      await closeAll(seen);
    }
    census.assertNoneLeft(t, isolation);
  });
}

// --- 2. a pool of two: never the place whose start failed ---------------------------------------

test.serial('thread: with every agent of a pool of two being replaced, a waiting connection goes to the one that starts, not to the one whose start failed', async (t) => {
  t.timeout(180_000);
  const seen = await listening({ isolation: 'thread', pool: 2, startupTimeoutMs: 0 });
  try {
    const [a, b] = [await seen.connect(), await seen.connect()];
    const [agentA, agentB] = [await agentOf(a!), await agentOf(b!)];
    t.not(agentA, agentB, 'one connection per agent');

    // Both agents crash; their replacements are held back.
    holdStarts = true;
    await crash(seen, a!, 1);
    await until(() => held.length >= 1);
    await crash(seen, b!, 2);
    await until(() => held.length >= 2 && seen.disconnects.length >= 2);
    const [first, second] = held;

    const [waiting] = await arriving(seen, 1);
    // The first replacement fails to start, the second starts.
    first!.fail(new Error('this replacement fails to start on purpose'));
    second!.release();
    t.is(await agentOf(waiting!), second!.name, 'served by the replacement that started');
    t.deepEqual(waitersErrors(seen), [], 'no connection failed because a start did');
    t.is(seen.restarts.at(-1)?.agent, first!.name, 'the failed start is reported');
    t.regex(seen.restarts.at(-1)!.reason.message, /fails to start on purpose/);
  } finally {
    holdStarts = false;
    await closeAll(seen);
  }
  census.assertNoneLeft(t, 'thread');
});

// --- 3. every start fails: the bound, the back-off, the close ----------------------------------

for (const isolation of ['thread', 'process'] as const) {
  test.serial(`${isolation}: while every start fails, waiting connections end with StartupTimeoutError after startupTimeoutMs; the pool backs off; close() ends the back-off`, async (t) => {
    t.timeout(180_000);
    unboundedStarts = true;
    const startupTimeoutMs = 3000;
    const seen = await listening({ isolation, pool: 1, startupTimeoutMs });
    let closing: Promise<void> | undefined;
    try {
      const first = await seen.connect();
      const agent1 = await agentOf(first);
      agentsStart(false);
      await crash(seen, first, 1);
      t.like(seen.restarts[0], { agent: agent1, failures: 1, delayMs: 0 });

      const waiting = await arriving(seen, 3);
      await Promise.all(waiting.map((client) => client.closed));
      const errors = waitersErrors(seen);
      t.is(errors.length, 3, 'each waiting connection failed once');
      for (const { error } of errors) {
        t.true(error instanceof StartupTimeoutError, `${error.name}: ${error.message}`);
        t.like(error as StartupTimeoutError, { code: 'ERR_AGENT_IPC_STARTUP_TIMEOUT', timeoutMs: startupTimeoutMs });
        t.regex(error.message, /no agent of the pool was ready within 3000 ms/);
        t.true(error.stack?.startsWith(`StartupTimeoutError: ${error.message}\n`), error.stack);
        t.true(error.cause instanceof Error, 'the last failure of the pool is the cause');
      }
      t.deepEqual(
        seen.disconnects.filter(({ info }) => info.agent !== agent1),
        [],
        'the waiting connections were never live',
      );

      // The next failure is reported: the pool now waits out its back-off, and close() ends that wait.
      const failed = seen.restarts.length;
      await until(() => seen.restarts.length > failed);
      t.true(seen.restarts.at(-1)!.delayMs > 0);
      history.push('close');
      closing = seen.server.close();
      await closing;
      t.is(history.at(-1), 'close', 'no agent started after close()');
      assertBackedOff(t, seen);
      for (const { reason } of seen.restarts.slice(1)) t.regex(reason.message, /fails to start on purpose/);
    } finally {
      await (closing ?? closeAll(seen));
    }
    census.assertNoneLeft(t, isolation);
  });
}

// --- 4. no bound: waiting until the server closes -------------------------------------------

test.serial('thread: without startupTimeoutMs, a connection waits through failing starts until close(), which ends it without an error event', async (t) => {
  t.timeout(180_000);
  const seen = await listening({ isolation: 'thread', pool: 1, startupTimeoutMs: 0 });
  let closing: Promise<void> | undefined;
  try {
    const first = await seen.connect();
    agentsStart(false);
    await crash(seen, first, 1);
    const [waiting] = await arriving(seen, 1);
    // Two failures while it waits (the second after a back-off).
    const failed = seen.restarts.length;
    await until(() => seen.restarts.length >= failed + 2);
    t.deepEqual(waitersErrors(seen), [], 'the waiting connection is still waiting');

    history.push('close');
    closing = seen.server.close();
    await Promise.all([closing, waiting!.closed]);
    t.is(history.at(-1), 'close', 'no agent started after close()');
    // Ended by the server's own close, like an open connection it closes: not a failure.
    t.deepEqual(waitersErrors(seen), [], 'no error event for the connection close() ended');
    assertBackedOff(t, seen);
  } finally {
    await (closing ?? closeAll(seen));
  }
  census.assertNoneLeft(t, 'thread');
});
