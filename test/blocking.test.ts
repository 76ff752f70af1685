/**
 * Blocking calls through real worker threads: answers, errors, large bodies, timeouts
 * and late answers, close while parked, deadlock detection, ordering, liveness of the
 * node's event loop, the byte layer, and the inline rules.
 */
import test from 'ava';
import { AgentExitedError, BlockingNotAllowedError, DeadlockError, MessageTooLargeError, spawnAgent, type Agent, type Isolation, type SpawnAgentOptions } from '../src/index.ts';
import type BlockingAgent from './fixtures/blocking-agent.ts';
import { LedgerError, type BlockingNodeApi } from './fixtures/blocking-agent.ts';
import { spawnForTest } from './helpers/agents.ts';

const entry = new URL('./fixtures/blocking-agent.ts', import.meta.url);

/** The node's side: every handler a test needs; `agent` is set once spawned (for re-entry). */
interface NodeState {
  agent?: Agent<typeof BlockingAgent>;
  records: string[];
  ticks: number;
  gates: Map<number, (answer: Uint8Array) => void>;
  onRecord?: (label: string) => void;
}

function newState(): NodeState {
  return { records: [], ticks: 0, gates: new Map() };
}

function nodeApi(state: NodeState): BlockingNodeApi {
  return {
    add: (a, b) => a + b,
    addLater: async (a, b) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return a + b;
    },
    big: (size) => {
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i += 4099) bytes[i] = (i >>> 12) & 0xff;
      bytes[0] = 1;
      bytes[size - 1] = 2;
      return bytes;
    },
    sizeOf: (bytes) => (bytes instanceof Uint8Array && bytes[255] === 255 ? bytes.length : -1),
    echo: (value) => value,
    fail(message): never {
      throw new LedgerError(message, 7);
    },
    async failLater(message): Promise<never> {
      await new Promise((resolve) => setTimeout(resolve, 5));
      const error = new RangeError(message) as RangeError & { code: string };
      error.code = 'E_LATER';
      error.cause = new TypeError('why');
      throw error;
    },
    slow: (ms, value) => new Promise((resolve) => setTimeout(() => resolve(value), ms)),
    never: () => new Promise(() => undefined),
    record(label) {
      state.records.push(label);
      state.onRecord?.(label);
      return state.records.join(',');
    },
    ticks: () => state.ticks,
    async reenter() {
      await new Promise((resolve) => setTimeout(resolve, 1));
      try {
        await state.agent!.remote.aborted();
        return 'no deadlock detected';
      } catch (error) {
        return (error as Error).name;
      }
    },
    reenterSync() {
      // Calling into the agent that is parked on this very call.
      const attempt = state.agent!.remote.aborted();
      attempt.catch(() => undefined);
      throw Object.assign(new Error('see cause'), { cause: attempt });
    },
    bytes: (payload) => payload.slice().reverse(),
    notBytes: () => ({ not: 'bytes' }),
    gate(payload) {
      // Gate 1 is answered only once gate 2 is asked for: its answer is then late.
      return new Promise((resolve) => {
        state.gates.set(payload[0]!, resolve);
        if (payload[0] === 2) {
          state.gates.get(1)?.(Uint8Array.of(0xee));
          setTimeout(() => resolve(Uint8Array.of(2, 2)), 20);
        }
      });
    },
  };
}

type Context = { teardown(fn: () => unknown): void };

/** Spawns the blocking agent; it is closed when the test ends, pass or fail. */
async function start(t: Context, isolation: Isolation = 'thread', options: SpawnAgentOptions = {}) {
  const state = newState();
  const agent = await spawnForTest<typeof BlockingAgent>(t, entry, { isolation, expose: nodeApi(state), ...options });
  state.agent = agent;
  return { agent, state };
}

test('a blocking call returns the value of a sync or an async node handler', async (t) => {
  const { agent } = await start(t);
  t.is(await agent.remote.add(2, 40), 42);
  t.is(await agent.remote.addLater(1, 2), 3);
  const value = { m: new Map([[1, { d: new Date(3) }]]), b: 5n, u: new Uint8Array([1, 2]), s: 'héllo ✓', n: [1.5, -0, null, undefined] };
  t.deepEqual(await agent.remote.echo(value), value);
  t.true(agent.stats.blockingCalls >= 3);
  await agent.close();
});

test('errors thrown or rejected by the node handler are thrown in the agent with fidelity', async (t) => {
  const { agent } = await start(t);
  const thrown = (await agent.remote.failure('fail', 'missing block')) as Record<string, unknown>;
  t.like(thrown, { name: 'LedgerError', message: 'missing block', height: 7, isLedgerError: true, isError: true });
  t.regex(thrown.stack as string, /thrown in the node, received at/);
  const rejected = (await agent.remote.failure('failLater', 'later')) as Record<string, unknown>;
  t.like(rejected, { name: 'RangeError', message: 'later', code: 'E_LATER', cause: 'TypeError: why' });
  await agent.close();
});

test('answers of 8 MiB and 40 MiB arrive whole; large requests too', async (t) => {
  const { agent } = await start(t);
  for (const size of [8 * 1024 * 1024, 40 * 1024 * 1024]) {
    const got = await agent.remote.bigChecksum(size);
    t.is(got.length, size);
    t.is(got.first, 1);
    t.is(got.last, 2);
    // Recompute the checksum the agent computed, over the same pattern.
    const expected = nodeApi(newState()).big(size);
    let sum = 0;
    for (let i = 0; i < expected.length; i += 4099) sum = (sum * 31 + expected[i]!) >>> 0;
    t.is(got.checksum, (sum + size) >>> 0);
  }
  t.is(await agent.remote.sendBig(8 * 1024 * 1024), 8 * 1024 * 1024);
  await agent.close();
});

test('an answer over maxMessageBytes is a MessageTooLargeError in the agent, and the mailbox stays usable', async (t) => {
  const { agent } = await start(t, 'thread', { maxMessageBytes: 1024 * 1024 });
  const error = await t.throwsAsync(agent.remote.bigChecksum(2 * 1024 * 1024));
  t.true(error instanceof MessageTooLargeError);
  t.is(await agent.remote.add(1, 1), 2);
  await agent.close();
});

test('a timed-out blocking call throws TimeoutError; its late answer is dropped and the next call gets its own', async (t) => {
  const { agent, state } = await start(t);
  const recorded = new Promise<string>((resolve) => (state.onRecord = resolve));
  t.is(await agent.remote.timeoutThenNext(), 'started');
  // An agent that dies before it records must fail the test, not stall it (seen once on
  // Node 24, not reproduced since: this says how, if it happens again).
  const died = agent.exited.then((exit) => Promise.reject(new Error(`the agent exited before recording: ${JSON.stringify(exit)}`)));
  const result = JSON.parse(await Promise.race([recorded, died])) as { first: string; second: number[] };
  t.is(result.first, 'TimeoutError');
  // Gate 1's late answer [0xee] was written while call 2 was in flight; call 2 got its own.
  t.deepEqual(result.second, [2, 2]);
});

test('a value that cannot be sent is an error at the call site, not a hang', async (t) => {
  const { agent } = await start(t);
  const error = (await agent.remote.sendFunction()) as Record<string, unknown>;
  t.like(error, { name: 'DataCloneError' });
  t.regex(error.message as string, /an argument of blocking call 'echo' cannot be sent/);
  t.is(await agent.remote.add(1, 2), 3);
  await agent.close();
});

test('close() wakes an agent parked in a blocking call, which then exits gracefully', async (t) => {
  const { agent } = await start(t);
  const parked = agent.remote.parkForever();
  await new Promise((resolve) => setTimeout(resolve, 50));
  // A 30 s grace period: the agent must leave by itself, long before it would be forced.
  await agent.close({ timeoutMs: 30_000 });
  t.is((await agent.exited).code, 0, 'exited by itself, not terminated');
  // The parked call woke with an error, so the method returned before the exit.
  const woke = (await parked.catch((error: Error) => ({ rejected: error.name }))) as Record<string, unknown>;
  t.true(woke.name === 'ConnectionClosedError' || woke.rejected === 'AgentExitedError', JSON.stringify(woke));
});

test('a parked agent whose thread is terminated rejects the in-flight call with AgentExitedError', async (t) => {
  const { agent } = await start(t);
  const parked = agent.remote.parkForever();
  await new Promise((resolve) => setTimeout(resolve, 50));
  (agent as unknown as { terminate(): void }).terminate();
  await t.throwsAsync(parked, { instanceOf: AgentExitedError });
});

test('deadlock: the handler of a blocking call calling into the same agent fails at once with DeadlockError', async (t) => {
  const { agent } = await start(t);
  // Through awaits: the handler awaits a call into the agent parked on it.
  t.is(await agent.remote.failure('reenter'), DeadlockError.name);
  // Directly: the call is refused synchronously inside the handler.
  const direct = (await agent.remote.failure('reenterSync')) as Record<string, unknown>;
  t.is(direct.name, 'Error');
  // Calls from outside the blocking context are not refused: they wait their turn.
  const [fromOutside, parkedResult] = await Promise.all([agent.remote.aborted(), agent.remote.addLater(2, 2)]);
  t.false(fromOutside);
  t.is(parkedResult, 4);
  await agent.close();
});

test('the re-entrant call itself rejects with DeadlockError', async (t) => {
  const state = newState();
  let inner: Promise<unknown> | undefined;
  const api = nodeApi(state);
  api.reenterSync = () => {
    inner = state.agent!.remote.aborted();
    inner.catch(() => undefined);
    return 'called';
  };
  const agent = await spawnAgent<typeof BlockingAgent>(entry, { expose: api });
  state.agent = agent;
  t.teardown(() => agent.close({ timeoutMs: 1000 }));
  t.is(await agent.remote.failure('reenterSync'), 'called');
  await t.throwsAsync(inner!, { instanceOf: DeadlockError, message: /while serving that agent's blocking call/ });
  await agent.close();
});

test('a blocking call after an async call that could not be sent does not wait for it', async (t) => {
  const { agent } = await start(t);
  t.deepEqual(await agent.remote.cloneFailThenBlocking(), { name: 'DataCloneError', sum: 42 });
});

test('ordering: async calls sent before a blocking call start before it', async (t) => {
  const { agent, state } = await start(t);
  for (let round = 0; round < 20; round++) {
    state.records.length = 0;
    t.is(await agent.remote.ordering(), 'async-1,async-2,blocking-3');
  }
  await agent.close();
});

test("the node's event loop keeps running during an agent's burst of blocking calls", async (t) => {
  const { agent, state } = await start(t);
  const timer = setInterval(() => state.ticks++, 1);
  // The agent spins on blocking calls until the node's timer has fired 20 times (seen
  // between its first call and its last): if the node's loop were starved, this would
  // never return. Not "at least two calls in the loop": an agent thread descheduled for
  // 20 ms on a loaded machine rightly sees all the ticks at its next call (seen under a
  // load average of 16); hence a burst of a set length that must also see the ticks.
  const calls = await agent.remote.burstUntilTicks(20, 1_000);
  clearInterval(timer);
  t.true(calls >= 1_000, 'the agent kept calling');
  t.true(state.ticks >= 20);
  t.is(await agent.remote.burst(20_000), 20_000);
  await agent.close();
});

test('the byte layer: callBlocking with bytes, a non-bytes answer, and a per-call timeout', async (t) => {
  const { agent } = await start(t);
  const result = (await agent.remote.byteLayer(new Uint8Array([1, 2, 3]))) as Record<string, Record<string, unknown>>;
  t.deepEqual(result.answer, new Uint8Array([3, 2, 1]) as unknown as Record<string, unknown>);
  t.like(result.notBytes, { name: 'ProtocolError' });
  t.like(result.timeout, { name: 'TimeoutError' });
  await agent.close();
});

test('unknown methods are refused in blocking calls too', async (t) => {
  const { agent } = await start(t, 'thread', { expose: { add: (a: number, b: number) => a + b } });
  t.is(await agent.remote.add(1, 1), 2);
  const error = (await agent.remote.failure('fail', 'x')) as Record<string, unknown>;
  t.is(error.name, 'UnknownMethodError');
  await agent.close();
});

test('inline: async calls sent before a blocking call start before it, as with threads', async (t) => {
  const { agent } = await start(t, 'inline');
  t.is(await agent.remote.ordering(), 'async-1,async-2,blocking-3');
});

test('inline: a blocking call runs a synchronous handler directly', async (t) => {
  const { agent } = await start(t, 'inline');
  t.is(await agent.remote.add(2, 3), 5);
  const thrown = (await agent.remote.failure('fail', 'inline failure')) as Record<string, unknown>;
  t.like(thrown, { name: 'LedgerError', isLedgerError: true });
  await agent.close();
});

test('inline: a blocking call whose handler returns a promise is BlockingNotAllowedError, saying why', async (t) => {
  const { agent } = await start(t, 'inline');
  const error = (await agent.remote.failure('failLater', 'x')) as Record<string, unknown>;
  t.is(error.name, BlockingNotAllowedError.name);
  t.regex(error.message as string, /inline isolation got a promise from its handler/);
  t.regex(error.message as string, /main\.async\.failLater/);
  await agent.close();
});
