/**
 * Process isolation: the agent in a child process, with the same API as a thread
 * agent — async calls both ways, blocking calls on the agent's blocking socket, error
 * fidelity, ordering, deadlock detection, counters, and the ways an agent can end.
 * Serial: each test starts a process, and a dozen starting at once on two cores would
 * stretch the one-second bounds under test.
 */
import test from 'ava';
import { AgentExitedError, ConnectionClosedError, MessageTooLargeError, UnknownMethodError, registerError, spawnAgent, type Agent, type SpawnAgentOptions } from '../src/index.ts';
import type LifecycleAgent from './fixtures/lifecycle-agent.ts';
import { VaultError, checksum, type LifecycleNodeApi } from './fixtures/lifecycle-agent.ts';
import { spawnForTest, within } from './helpers/agents.ts';
import { gone } from './helpers/process-gone.ts';

registerError(VaultError);

const entry = new URL('./fixtures/lifecycle-agent.ts', import.meta.url);

function bigPattern(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 4099) bytes[i] = (i >>> 12) & 0xff;
  return bytes;
}

function nodeApi(state: { records: string[]; agent?: Agent<typeof LifecycleAgent> }): LifecycleNodeApi {
  return {
    add: (a, b) => a + b,
    addLater: async (a, b) => {
      await new Promise((resolve) => setTimeout(resolve, 2));
      return a + b;
    },
    big: bigPattern,
    fail(message): never {
      throw Object.assign(new VaultError(message, 7), { code: 'E_NODE' });
    },
    async failLater(message): Promise<never> {
      await new Promise((resolve) => setTimeout(resolve, 2));
      throw Object.assign(new RangeError(message), { code: 'E_LATER', cause: new TypeError('why') });
    },
    never: () => new Promise(() => undefined),
    record(label) {
      state.records.push(label);
      return state.records.join(',');
    },
    async reenter() {
      try {
        await state.agent!.remote.echo(1);
        return 'no deadlock detected';
      } catch (error) {
        return (error as Error).name;
      }
    },
    bytes: (payload) => payload.slice().reverse(),
  };
}

type Context = { teardown(fn: () => unknown): void };

async function start(t: Context, options: SpawnAgentOptions = {}) {
  const state: { records: string[]; agent?: Agent<typeof LifecycleAgent> } = { records: [] };
  const agent = await spawnForTest<typeof LifecycleAgent>(t, entry, { isolation: 'process', expose: nodeApi(state), ...options });
  state.agent = agent;
  return { agent, state };
}

test.serial('the agent runs in its own process, a child of the node, with the node\'s Node.js options', async (t) => {
  const { agent } = await start(t, { name: 'proc-1' });
  const who = await agent.remote.whoami();
  t.is(agent.isolation, 'process');
  t.is(agent.threadId, undefined);
  t.is(agent.pid, who.pid);
  t.not(who.pid, process.pid);
  t.is(who.ppid, process.pid);
  t.deepEqual(who, { ...who, name: 'proc-1', isolation: 'process' });
  t.true(who.argv.some((arg) => arg.includes('tsx')), 'loads .ts agents the way the node does');
});

test.serial('async calls both ways keep structured-clone fidelity', async (t) => {
  const data = { when: new Date(5), ids: new Map([['a', 1n]]), raw: new Uint8Array([9, 8]) };
  const { agent } = await start(t, { data });
  const value = { nested: { list: [1, 'x', null, { deep: new Set([1]) }] }, big: 2n ** 70n, bytes: new Uint8Array([1, 2, 3]), f: new Float64Array([1.5]) };
  t.deepEqual(await agent.remote.echo(value), value);
  t.is(await agent.remote.asyncAdd(2, 3), 5);
  const fromBuffer = (await agent.remote.echo(Buffer.from('ab'))) as Uint8Array;
  t.true(fromBuffer instanceof Uint8Array);
  t.deepEqual([...fromBuffer], [97, 98]);
});

test.serial('errors cross with fidelity in both directions', async (t) => {
  const { agent } = await start(t);
  const error = await t.throwsAsync(agent.remote.fail('sealed'));
  t.true(error instanceof VaultError);
  t.like(error as unknown as Record<string, unknown>, { message: 'sealed', slot: 3, code: 'E_VAULT' });
  t.true(error.cause instanceof TypeError);
  t.regex(error.stack!, /thrown in agent/);
  await t.throwsAsync((agent.remote as unknown as Record<string, () => Promise<unknown>>).nope!(), { instanceOf: UnknownMethodError });
});

test.serial('blocking calls: sync and async node handlers, both layers', async (t) => {
  const { agent } = await start(t);
  t.is(await agent.remote.blockingAdd(40, 2), 42);
  t.is(await agent.remote.blockingAddLater(1, 2), 3);
  t.is(await agent.remote.burst(500), 500);
  t.deepEqual(await agent.remote.bytes(new Uint8Array([1, 2, 3])), new Uint8Array([3, 2, 1]));
  t.true(agent.stats.blockingCalls >= 503);
});

test.serial('a blocking call answers 8 MiB whole', async (t) => {
  const { agent } = await start(t);
  const size = 8 * 1024 * 1024;
  t.deepEqual(await agent.remote.bigChecksum(size), { length: size, checksum: checksum(bigPattern(size)) });
});

test.serial('errors of blocking calls arrive with fidelity, and are counted', async (t) => {
  const { agent } = await start(t);
  const thrown = (await agent.remote.failure('fail', 'locked')) as Record<string, unknown>;
  t.like(thrown, { name: 'VaultError', message: 'locked', slot: 7, code: 'E_NODE', isVaultError: true });
  t.regex(thrown.stack as string, /thrown in the node, received at/);
  const rejected = (await agent.remote.failure('failLater', 'later')) as Record<string, unknown>;
  t.like(rejected, { name: 'RangeError', message: 'later', code: 'E_LATER', cause: 'TypeError: why' });
  const unknown = (await agent.remote.failure('nope')) as Record<string, unknown>;
  t.like(unknown, { name: 'UnknownMethodError' });
  t.is(agent.stats.errors, 3);
  await t.throwsAsync(agent.remote.fail('x'));
  t.is(agent.stats.errors, 4);
});

test.serial('a blocking call starts after the async calls the agent sent before it', async (t) => {
  const { agent } = await start(t);
  t.is(await agent.remote.ordering(), 'async-1,async-2,blocking-3');
});

test.serial('calling into an agent while serving its blocking call fails fast with DeadlockError', async (t) => {
  const { agent } = await start(t);
  t.is(await agent.remote.failure('reenter'), 'DeadlockError');
});

test.serial('a request over maxMessageBytes fails at the call site; the connection stays up', async (t) => {
  const { agent } = await start(t, { maxMessageBytes: 64 * 1024 });
  await t.throwsAsync(agent.remote.echo(new Uint8Array(128 * 1024)), { instanceOf: MessageTooLargeError });
  const answer = await t.throwsAsync(agent.remote.bigChecksum(128 * 1024));
  t.is(answer.name, 'MessageTooLargeError');
  t.is(await agent.remote.blockingAdd(1, 1), 2);
});

test.serial('stats count calls both ways', async (t) => {
  const { agent } = await start(t);
  await agent.remote.asyncAdd(1, 2);
  await agent.remote.blockingAdd(1, 2);
  t.like(agent.stats, { callsOut: 2, callsIn: 1, blockingCalls: 1, errors: 0 });
});

test.serial('close() wakes an agent parked in a blocking call that is never answered', async (t) => {
  const { agent } = await start(t);
  const parked = agent.remote.parkForever();
  // Let it park.
  await new Promise((resolve) => setTimeout(resolve, 50));
  await agent.close({ timeoutMs: 5000 });
  // The blocked call threw ConnectionClosedError in the agent; the agent then answered or exited.
  const outcome = await parked.then(
    (value) => String(value.name),
    (error: Error) => error.name,
  );
  t.true(['ConnectionClosedError', 'AgentExitedError'].includes(outcome), outcome);
  t.deepEqual(await agent.exited, { code: 0, signal: null });
});

test.serial('close() lets calls in progress finish, then the process exits with code 0', async (t) => {
  const { agent } = await start(t);
  const inProgress = agent.remote.sleep(30);
  await new Promise((resolve) => setTimeout(resolve, 5));
  const closing = agent.close();
  await t.throwsAsync(agent.remote.echo(1), { instanceOf: ConnectionClosedError });
  t.is(await inProgress, 'slept');
  await closing;
  t.deepEqual(await agent.exited, { code: 0, signal: null });
  t.true(gone(agent.pid));
});

test.serial('close({ timeoutMs }) forces down an agent whose call never finishes', async (t) => {
  const { agent } = await start(t);
  const hung = agent.remote.hang();
  await agent.close({ timeoutMs: 100 });
  const error = await t.throwsAsync(hung, { instanceOf: AgentExitedError });
  t.is((error as AgentExitedError).signal, 'SIGKILL');
});

test.serial('SIGKILL of an agent mid-call rejects the call with AgentExitedError at once', async (t) => {
  const { agent } = await start(t);
  const hung = agent.remote.hang();
  const parked = agent.remote.parkSoon().then(() => agent.remote.hang());
  await new Promise((resolve) => setTimeout(resolve, 50));
  process.kill(agent.pid, 'SIGKILL');
  let settled = false;
  const outcome = hung.catch((error: unknown) => {
    settled = true;
    return error;
  });
  // A liveness bound, generous for a loaded machine: the call must not wait for a timeout that is never set.
  t.true(await within(10_000, () => settled), 'rejected soon after the kill');
  const error = (await outcome) as AgentExitedError;
  t.true(error instanceof AgentExitedError);
  t.is(error.signal, 'SIGKILL');
  t.is(error.exitCode, null);
  t.regex(error.message, /killed by SIGKILL/);
  await t.throwsAsync(parked, { instanceOf: AgentExitedError });
  t.deepEqual(await agent.exited, { code: null, signal: 'SIGKILL' });
  await t.throwsAsync(agent.remote.echo(1), { instanceOf: AgentExitedError });
});

test.serial('an agent that crashes rejects in-flight calls with AgentExitedError carrying the crash', async (t) => {
  const { agent } = await start(t);
  const inFlight = agent.remote.hang();
  t.is(await agent.remote.crashSoon(), 'ok');
  const error = await t.throwsAsync(inFlight, { instanceOf: AgentExitedError });
  t.is((error as AgentExitedError).exitCode, 1);
  t.regex(error.message, /crashed \(boom from the agent\)/);
  const exit = await agent.exited;
  t.is(exit.code, 1);
  t.is(exit.error?.message, 'boom from the agent');
});

test.serial('an agent that exits with a code reports it', async (t) => {
  const { agent } = await start(t);
  const inFlight = agent.remote.hang();
  await agent.remote.exitWith(7);
  const error = await t.throwsAsync(inFlight, { instanceOf: AgentExitedError });
  t.regex(error.message, /exited with code 7/);
  t.deepEqual(await agent.exited, { code: 7, signal: null });
});

test.serial('a factory that throws makes spawnAgent reject with that error, and the process is gone', async (t) => {
  const error = await t.throwsAsync(spawnAgent(new URL('./fixtures/throwing-factory-agent.ts', import.meta.url), { isolation: 'process' }));
  t.true(error instanceof RangeError);
  t.is(error.message, 'factory refused to start');
  await t.throwsAsync(spawnAgent(new URL('./fixtures/does-not-exist.ts', import.meta.url), { isolation: 'process' }), {
    message: /Cannot find module|does-not-exist/,
  });
});

test.serial('process agents run in parallel, one process each', async (t) => {
  const agents = await Promise.all([1, 2, 3].map((n) => spawnAgent<typeof LifecycleAgent>(entry, { isolation: 'process', name: `pp${n}` })));
  t.is(new Set(agents.map((a) => a.pid)).size, 3);
  await Promise.all(agents.map((a) => a.close()));
  t.true(agents.every((a) => gone(a.pid)));
});
