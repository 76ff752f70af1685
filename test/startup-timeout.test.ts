/**
 * startupTimeoutMs: an agent that never becomes ready — its module's top-level await
 * never settles, or its async factory never does — is stopped and its start rejects
 * with StartupTimeoutError, in every isolation. The line server passes the option to
 * its agents, and its close() (and a pool's listen()) settle even while an agent is
 * stuck starting.
 */
import { readdirSync, readFileSync } from 'node:fs';
import test from 'ava';
import { ConnectionClosedError, StartupTimeoutError, spawnAgent, type Isolation } from '../src/index.ts';
import { createLineServer, type LineConnectionInfo } from '../src/lines/index.ts';
import { DEFAULT_STARTUP_TIMEOUT_MS, resolveSpawnOptions } from '../src/spawn-options.ts';
import { LineClient, TestNode } from './fixtures/lines/line-client.ts';
import { gone } from './helpers/process-gone.ts';

const neverLoads = new URL('./fixtures/lifecycle/never-loads-agent.ts', import.meta.url);
const neverReady = new URL('./fixtures/lifecycle/never-ready-agent.ts', import.meta.url);
const minimal = new URL('./fixtures/minimal-agent.ts', import.meta.url);
const isolations: Isolation[] = ['inline', 'thread', 'process'];

/** The process whose command line mentions `name`, if any (Linux /proc). */
function processNamed(name: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(name)) return Number(entry);
    } catch {
      // Gone meanwhile.
    }
  }
  return undefined;
}

for (const isolation of isolations) {
  test(`${isolation}: a module whose top-level await never settles is stopped; spawnAgent rejects with StartupTimeoutError`, async (t) => {
    const error = await t.throwsAsync(spawnAgent(neverLoads, { isolation, name: `stuck-${isolation}`, startupTimeoutMs: 300 }), { instanceOf: StartupTimeoutError });
    t.is(error!.code, 'ERR_AGENT_IPC_STARTUP_TIMEOUT');
    t.is(error!.agentName, `stuck-${isolation}`);
    t.is(error!.timeoutMs, 300);
    t.regex(error!.message, /^\[agent-ipc\] agent 'stuck-.*' was not ready within 300 ms/);
  });

  test(`${isolation}: a factory whose promise never settles is stopped; spawnAgent rejects with StartupTimeoutError`, async (t) => {
    await t.throwsAsync(spawnAgent(neverReady, { isolation, startupTimeoutMs: 300 }), { instanceOf: StartupTimeoutError });
  });

  test(`${isolation}: startupTimeoutMs 0 means no limit; a healthy agent starts`, async (t) => {
    const agent = await spawnAgent<{ twice(n: number): number }>(minimal, { isolation, startupTimeoutMs: 0, expose: { inc: (n: number) => n + 1 } });
    t.is(await agent.remote.twice(2), 5);
    await agent.close();
  });
}

test('process: the stuck agent process is gone once spawnAgent rejected', async (t) => {
  const name = `stuck-process-${process.pid}`;
  const spawning = spawnAgent(neverLoads, { isolation: 'process', name, startupTimeoutMs: 3000 });
  let settled = false;
  const outcome = spawning.then(
    () => undefined,
    (error: unknown) => error,
  );
  void outcome.finally(() => (settled = true));
  // The child's command line carries the agent's name (see src/isolation/process.ts).
  let pid: number | undefined;
  while (pid === undefined && !settled) {
    pid = processNamed(name);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  t.true((await outcome) instanceof StartupTimeoutError);
  t.not(pid, undefined, 'the agent process was seen while it started');
  t.true(gone(pid!), 'the child process was killed before the rejection');
  t.is(processNamed(name), undefined);
});

test('startupTimeoutMs: default 30 s; anything but a non-negative number of ms is a TypeError naming it', async (t) => {
  t.is(resolveSpawnOptions({}).startupTimeoutMs, DEFAULT_STARTUP_TIMEOUT_MS);
  t.is(DEFAULT_STARTUP_TIMEOUT_MS, 30_000);
  for (const bad of [-1, Number.NaN, Infinity, '100', null]) {
    await t.throwsAsync(spawnAgent(minimal, { startupTimeoutMs: bad as number }), { instanceOf: TypeError, message: /option 'startupTimeoutMs'/ });
    t.throws(() => createLineServer({ agent: minimal, startupTimeoutMs: bad as number }), { instanceOf: TypeError, message: /option 'startupTimeoutMs'/ });
  }
});

for (const isolation of ['thread', 'process'] as const) {
  test(`${isolation}: a pool whose agents never load makes listen() reject with StartupTimeoutError; close() settles`, async (t) => {
    const server = createLineServer({ agent: neverLoads, isolation, agents: { pool: 2 }, startupTimeoutMs: 300 });
    await t.throwsAsync(server.listen(0, '127.0.0.1'), { instanceOf: StartupTimeoutError });
    t.deepEqual(server.addresses, []);
    await server.close();
    t.pass();
  });

  test(`${isolation}: with no start-up limit, close() settles while a pool agent is stuck starting, and listen() rejects`, async (t) => {
    const server = createLineServer({ agent: neverLoads, isolation, agents: { pool: 1 }, startupTimeoutMs: 0 });
    const listening = server.listen(0, '127.0.0.1');
    const rejected = t.throwsAsync(listening, { instanceOf: ConnectionClosedError });
    // Close once the stuck start is under way (its listen() is waiting on it).
    await new Promise((resolve) => setImmediate(resolve));
    await server.close();
    await rejected;
  });

  test(`${isolation}: per-connection agents: a stuck start closes its connection; close() settles while another is stuck`, async (t) => {
    const node = new TestNode();
    const listener = createLineServer({ agent: neverLoads, isolation, expose: node.api, startupTimeoutMs: 300 });
    const errors: Array<{ error: Error; connection: LineConnectionInfo | undefined }> = [];
    const failed = new Promise<void>((resolve) =>
      listener.on('error', (error, connection) => {
        errors.push({ error, connection });
        resolve();
      }),
    );
    const { port } = await listener.listen(0, '127.0.0.1');
    const client = await LineClient.connect(port);
    await failed;
    t.true(errors[0]!.error instanceof StartupTimeoutError);
    t.deepEqual(await client.rest(), [], 'the connection was closed');

    // No limit: a connection whose agent never loads, then close().
    const unlimited = createLineServer({ agent: neverLoads, isolation, startupTimeoutMs: 0 });
    unlimited.on('error', () => undefined);
    const other = await LineClient.connect((await unlimited.listen(0, '127.0.0.1')).port);
    await unlimited.close();
    await other.closed;
    await listener.close();
    t.pass();
  });
}
