/**
 * Pools supervise their agents: an agent that exits, crashes or hangs is replaced; its
 * connections close with a typed reason; failures in a row back off (0, then 100 ms
 * doubling, at most 10 s) and each replacement is reported as an `agentRestart` event;
 * new connections are served throughout. No assertion on timing: the back-off figures
 * checked are the ones the pool reports, computed, not measured.
 */
import test from 'ava';
import { AgentExitedError, AgentUnresponsiveError } from '../src/index.ts';
import { createLineServer, type AgentRestartInfo, type LineConnectionInfo, type LineServer } from '../src/lines/index.ts';
import { RESTART_MAX_MS, restartDelayMs } from '../src/lines/agent-pool.ts';
import { LineClient, TestNode } from './fixtures/lines/line-client.ts';

const protocol = new URL('./fixtures/lifecycle/supervised-protocol.ts', import.meta.url);
/** Start-up time is not what these tests are about: on a loaded machine it may exceed the 30 s default. */
const noStartupLimit = { startupTimeoutMs: 0 };

interface Watched {
  server: LineServer;
  port: number;
  restarts: AgentRestartInfo[];
  disconnects: Array<{ info: LineConnectionInfo; reason: Error | undefined }>;
  /** Resolves once `n` agentRestart events were seen. */
  restarted(n: number): Promise<void>;
  /** Resolves once `n` disconnect events were seen. */
  disconnected(n: number): Promise<void>;
}

async function withPool(options: { isolation: 'thread' | 'process'; pool: number; timeoutMs?: number }, body: (w: Watched) => Promise<void>): Promise<void> {
  const node = new TestNode();
  const server = createLineServer({ agent: protocol, expose: node.api, isolation: options.isolation, agents: { pool: options.pool }, timeoutMs: options.timeoutMs ?? 0, ...noStartupLimit });
  const waiters: Array<() => void> = [];
  const until = (done: () => boolean): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (!done()) return;
        waiters.splice(waiters.indexOf(check), 1);
        resolve();
      };
      waiters.push(check);
      check();
    });
  const notify = (): void => {
    for (const check of [...waiters]) check();
  };
  const watched: Watched = {
    server,
    port: 0,
    restarts: [],
    disconnects: [],
    restarted: (n) => until(() => watched.restarts.length >= n),
    disconnected: (n) => until(() => watched.disconnects.length >= n),
  };
  server.on('agentRestart', (info) => {
    watched.restarts.push(info);
    notify();
  });
  server.on('disconnect', (info, reason) => {
    watched.disconnects.push({ info, reason });
    notify();
  });
  server.on('error', () => undefined);
  try {
    watched.port = (await server.listen(0, '127.0.0.1')).port;
    await body(watched);
  } finally {
    await server.close();
  }
}

/** Connects and asks which agent serves the connection. */
async function connectInfo(port: number): Promise<{ client: LineClient; agent: string; id: number }> {
  const client = await LineClient.connect(port);
  client.send('INFO');
  const { agent, id } = JSON.parse((await client.next())!) as { agent: string; id: number };
  return { client, agent, id };
}

test('restart back-off: 0 after a first failure, then 100 ms doubling, capped at 10 s', (t) => {
  t.deepEqual([1, 2, 3, 4, 5, 8].map(restartDelayMs), [0, 100, 200, 400, 800, 6400]);
  t.is(restartDelayMs(9), RESTART_MAX_MS);
  t.is(restartDelayMs(1000), RESTART_MAX_MS);
  t.is(RESTART_MAX_MS, 10_000);
});

for (const isolation of ['thread', 'process'] as const) {
  test(`${isolation}: a pool agent that hangs is stopped and replaced; its connections close with AgentUnresponsiveError; new connections are served`, async (t) => {
    // Generous: only a stuck agent exceeds it (a healthy one answers the probe whatever the load).
    await withPool({ isolation, pool: 2, timeoutMs: 2000 }, async ({ port, restarts, restarted, disconnects, disconnected }) => {
      // The fewest-connections rule puts the first and third connection on one agent.
      const victim = await connectInfo(port);
      const neighbour = await connectInfo(port);
      const sharer = await connectInfo(port);
      t.not(victim.agent, neighbour.agent);
      t.is(sharer.agent, victim.agent);
      victim.client.send('HANG');
      t.deepEqual(await victim.client.rest(), [], 'the connection whose line hung is closed');
      t.deepEqual(await sharer.client.rest(), [], 'so is the other connection of the hung agent');
      await restarted(1);
      await disconnected(2);
      t.is(restarts[0]!.agent, victim.agent);
      t.true(restarts[0]!.reason instanceof AgentUnresponsiveError);
      t.true(restarts[0]!.reason instanceof AgentExitedError, 'an unresponsive agent is an exited one');
      t.is((restarts[0]!.reason as AgentUnresponsiveError).code, 'ERR_AGENT_IPC_AGENT_UNRESPONSIVE');
      t.is(restarts[0]!.failures, 1);
      t.is(restarts[0]!.delayMs, 0);
      // The line that hung timed out; the agent's other connection lost it as unresponsive.
      t.is(disconnects.find(({ info }) => info.id === victim.id)?.reason?.name, 'TimeoutError');
      t.true(disconnects.find(({ info }) => info.id === sharer.id)?.reason instanceof AgentUnresponsiveError);

      // Every new connection is served, none by the hung agent.
      const fresh = await Promise.all(Array.from({ length: 4 }, () => connectInfo(port)));
      t.false(fresh.some(({ agent }) => agent === victim.agent));
      for (const [i, { client }] of fresh.entries()) {
        client.send(`ECHO ${i}`);
        t.is(await client.next(), String(i));
      }
      neighbour.client.send('ECHO still here');
      t.is(await neighbour.client.next(), 'still here');
      await Promise.all([...fresh.map(({ client }) => client.close()), neighbour.client.close()]);
    });
  });

  test(`${isolation}: a slow handler alone does not get its pool agent replaced (the probe is answered)`, async (t) => {
    await withPool({ isolation, pool: 1, timeoutMs: 2000 }, async ({ port, restarts, disconnects, disconnected }) => {
      const slow = await connectInfo(port);
      const other = await connectInfo(port);
      // GATE waits for the node without blocking the agent's event loop: its delivery times out.
      slow.client.send('GATE never');
      t.deepEqual(await slow.client.rest(), []);
      await disconnected(1);
      t.is(disconnects.length, 1);
      t.is(disconnects[0]!.reason?.name, 'TimeoutError');
      // The agent answered the probe: it still serves the other connection, and was not replaced.
      other.client.send('ECHO alive');
      t.is(await other.client.next(), 'alive');
      const again = await connectInfo(port);
      t.is(again.agent, slow.agent);
      t.deepEqual(restarts, []);
      await Promise.all([other.client.close(), again.client.close()]);
    });
  });

  test(`${isolation}: pool agents that exit or crash are replaced, with back-off when it happens again and again`, async (t) => {
    await withPool({ isolation, pool: 1 }, async ({ port, restarts, restarted }) => {
      // An exit, then three crashes in a row: each replacement is reported, waits longer, and serves.
      for (const [i, command] of ['EXIT', 'CRASH', 'CRASH', 'CRASH'].entries()) {
        const { client, agent } = await connectInfo(port);
        client.send(command);
        await client.rest();
        await restarted(i + 1);
        t.is(restarts[i]!.agent, agent);
        t.true(restarts[i]!.reason instanceof AgentExitedError);
      }
      // Each agent ran far less than 10 s before failing, so the failures count in a row.
      t.deepEqual(
        restarts.map(({ failures, delayMs }) => [failures, delayMs]),
        [
          [1, 0],
          [2, 100],
          [3, 200],
          [4, 400],
        ],
      );
      t.regex(restarts[0]!.reason.message, /exited with code 0/);
      t.regex(restarts[1]!.reason.message, /crashed/);
      const { client, agent } = await connectInfo(port);
      t.false(restarts.some((restart) => restart.agent === agent), 'served by a new agent');
      client.send('ECHO back');
      t.is(await client.next(), 'back');
      await client.close();
    });
  });
}

test('without a listener, agentRestart is logged and the server goes on', async (t) => {
  const node = new TestNode();
  const records: Array<Record<string, unknown>> = [];
  const { pino } = await import('pino');
  const logger = pino({ level: 'warn' }, { write: (line: string) => void records.push(JSON.parse(line) as Record<string, unknown>) });
  const server = createLineServer({ agent: protocol, expose: node.api, isolation: 'thread', agents: { pool: 1 }, logger, ...noStartupLimit });
  server.on('error', () => undefined);
  try {
    const { port } = await server.listen(0, '127.0.0.1');
    const { client, agent } = await connectInfo(port);
    client.send('EXIT');
    await client.rest();
    let replaced = await connectInfo(port);
    // The connection may reach the old agent in its last moments; ask again until the new one serves.
    while (replaced.agent === agent) replaced = await connectInfo(port);
    t.true(records.some((record) => record.agent === agent && typeof record.msg === 'string' && /replacing agent/.test(record.msg)));
    await replaced.client.close();
  } finally {
    await server.close();
  }
});
