/**
 * The `priority` option: an agent lowers its own CPU priority before its module loads
 * (a thread agent its thread, a process agent every thread of its process), never to
 * above the node's, and leaves the node's thread as it was. The line server passes it
 * on to the agents it starts.
 */
import { execFileSync } from 'node:child_process';
import { getPriority, setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { spawnAgent, spawnAgentSync } from '../src/index.ts';
import { lowerPriority } from '../src/isolation/agent-priority.ts';
import { createLineServer } from '../src/lines/index.ts';
import type PriorityAgent from './fixtures/priority-agent.ts';
import { recordSpawns } from './helpers/agents.ts';

const entry = new URL('./fixtures/priority-agent.ts', import.meta.url);
const linux = process.platform === 'linux';

test.serial('thread: the agent runs at the priority asked for, its module included, and the node keeps its own', async (t) => {
  const node = getPriority(0);
  const agent = await spawnAgent<typeof PriorityAgent>(entry, { priority: 17 });
  t.teardown(() => agent.close());
  const seen = await agent.remote.priority();
  t.is(seen.atLoad, 17);
  t.is(seen.now, 17);
  if (linux) t.is(seen.thread, 17);
  t.is(getPriority(0), node, "the node's thread is unchanged");
  // An agent without the option keeps the node's priority.
  const plain = await spawnAgent<typeof PriorityAgent>(entry);
  t.teardown(() => plain.close());
  t.is((await plain.remote.priority()).now, node);
});

test.serial('spawnAgentSync applies it too', async (t) => {
  const agent = spawnAgentSync<typeof PriorityAgent>(entry, { priority: 16 });
  t.teardown(() => agent.close());
  t.is((await agent.remote.priority()).atLoad, 16);
});

test.serial('process: every thread of the agent runs at the priority asked for', async (t) => {
  const agent = await spawnAgent<typeof PriorityAgent>(entry, { isolation: 'process', priority: 15 });
  t.teardown(() => agent.close());
  const seen = await agent.remote.priority();
  t.is(seen.atLoad, 15);
  t.is(getPriority(agent.pid), 15);
  if (linux) {
    t.true(seen.processThreads.length > 1, 'V8 and libuv threads are there');
    t.deepEqual([...new Set(seen.processThreads)], [15], `every thread: ${seen.processThreads.join(' ')}`);
  }
});

test.serial('the line server starts its agents at the priority asked for', async (t) => {
  const protocol = new URL('./fixtures/lines/test-protocol.ts', import.meta.url);
  const spawned = recordSpawns(t);
  const expose = { event() {}, gate: async () => {}, add: (a: number, b: number) => a + b };
  const server = createLineServer({ agent: protocol, expose, isolation: 'process', agents: { pool: 1 }, priority: 14 });
  t.teardown(() => server.close());
  await server.listen(0, '127.0.0.1');
  t.is(spawned.length, 1);
  t.is(getPriority(spawned[0]!.pid), 14);
});

test('bad values and inline agents are TypeErrors that name the option', async (t) => {
  for (const priority of [-1, 20, 1.5, '5', null, Number.NaN]) {
    await t.throwsAsync(spawnAgent(entry, { priority: priority as number }), {
      instanceOf: TypeError,
      message: /^\[agent-ipc\] option 'priority' must be an integer nice value from 0 to 19, got /,
    });
  }
  await t.throwsAsync(spawnAgent(entry, { isolation: 'inline', priority: 10 }), {
    instanceOf: TypeError,
    message: /option 'priority' must be unset under isolation 'inline' \(an inline agent runs on the node's own thread/,
  });
});

test('a process agent\'s thread that ends while it is being lowered does not fail the start', (t) => {
  // 2^30 is above Linux's pid_max: no such thread (ESRCH), as for one that just ended.
  t.notThrows(() => lowerPriority(19, 'process', () => [2 ** 30]));
});

test('a thread started while a process agent is being lowered is lowered too', (t) => {
  if (!linux) return t.pass('per-thread priorities are Linux only');
  // In a process of its own: lowering cannot be undone without privileges.
  const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(new URL('./fixtures/priority-race.ts', import.meta.url))], { encoding: 'utf8' });
  const { listings, started, nices } = JSON.parse(out) as { listings: number; started: number; nices: number[] };
  t.true(started >= 1, 'a thread was started after the first listing');
  t.true(listings >= 2, 'the threads were listed again');
  t.deepEqual([...new Set(nices)], [19], `every thread: ${nices.join(' ')}`);
});

// Last: it lowers this test file's own thread, which an unprivileged thread cannot undo.
test.serial('a value below the node\'s own priority is taken as the node\'s (an agent is never raised above it)', async (t) => {
  const before = getPriority(0);
  const node = Math.max(before, 12);
  setPriority(0, node);
  t.teardown(() => {
    try {
      setPriority(0, before);
    } catch {
      // unprivileged: the rest of this file runs lowered, which changes nothing it checks
    }
  });
  for (const isolation of ['thread', 'process'] as const) {
    const agent = await spawnAgent<typeof PriorityAgent>(entry, { isolation, priority: 3 });
    const seen = await agent.remote.priority();
    await agent.close();
    t.is(seen.now, node, isolation);
  }
});
