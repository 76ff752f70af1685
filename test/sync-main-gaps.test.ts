/**
 * The node's thread blocking on an agent (issue #16), the cases test/sync-main.test.ts
 * leaves out: an async factory that rejects, a call-back made by the factory while
 * `spawnAgentSync` waits, the deadline holding while the agent keeps calling back,
 * deaths around call-backs and clean exits, and the byte layer's isolation rules.
 * Nothing here asserts on timing.
 */
import test from 'ava';
import { AgentExitedError, BlockingNotAllowedError, TimeoutError, spawnAgent, spawnAgentSync, type Agent, type SpawnAgentSyncOptions } from '../src/index.ts';
import type GapsAgent from './fixtures/sync-main-gaps/agent.ts';
import type { GapsNodeApi } from './fixtures/sync-main-gaps/agent.ts';

const fixture = (name: string): URL => new URL(`./fixtures/sync-main-gaps/${name}`, import.meta.url);

type Context = { teardown(fn: () => unknown): void };

/** Starts the gaps agent synchronously, recording the call-backs the node serves. */
function start(t: Context, options: SpawnAgentSyncOptions<GapsNodeApi> = {}): { agent: Agent<typeof GapsAgent>; served: string[] } {
  const served: string[] = [];
  const agent = spawnAgentSync<typeof GapsAgent, GapsNodeApi>(fixture('agent.ts'), {
    expose: {
      config(key) {
        served.push(key);
        return `cfg:${key}`;
      },
    },
    ...options,
  });
  t.teardown(() => agent.close({ timeoutMs: 1000 }));
  return { agent, served };
}

// ── start-up ───────────────────────────────────────────────────────────────────────

test('spawnAgentSync throws the error an async factory rejects with, after an await', (t) => {
  const error = t.throws(() => spawnAgentSync(fixture('async-factory-rejects.ts')));
  t.is(error!.name, 'ConfigMissingError');
  t.is(error!.message, 'no configuration file');
  t.is((error as Error & { path?: string }).path, '/etc/formatter.json');
  t.regex(error!.stack ?? '', /async-factory-rejects\.ts/);
});

test("a blocking call-back made by the agent's factory is served while spawnAgentSync waits", async (t) => {
  const served: string[] = [];
  const agent = spawnAgentSync<{ greeting(): string }, GapsNodeApi>(fixture('callback-in-factory.ts'), {
    expose: {
      config(key) {
        served.push(key);
        return `cfg:${key}`;
      },
    },
    // Far longer than a start-up takes: reaching it would mean the call-back was not served.
    startupTimeoutMs: 60_000,
  });
  t.teardown(() => agent.close({ timeoutMs: 1000 }));
  t.deepEqual(served, ['at-start']);
  t.is(agent.blocking.greeting(), 'cfg:at-start');
  t.is(await agent.remote.greeting(), 'cfg:at-start');
});

// ── timeouts ───────────────────────────────────────────────────────────────────────

test('the deadline ends the wait even while the agent keeps calling back', (t) => {
  // The agent calls back for 20 s; the call's 150 ms timeout must end the node's wait
  // long before, between two call-backs served inside it.
  const { agent, served } = start(t, { timeoutMs: 150 });
  t.throws(() => agent.blocking.callbackFlood(20_000), { instanceOf: TimeoutError, message: /'callbackFlood' timed out after 150 ms/ });
  t.true(served.length > 0, 'call-backs were served before the deadline');
});

test("callBlocking's per-call timeoutMs overrides the agent's, both ways", (t) => {
  const { agent } = start(t, { timeoutMs: 50 });
  // The agent's 50 ms applies: the answer comes after 200 ms.
  t.throws(() => agent.callBlocking('holdBytes', Uint8Array.of(2)), { instanceOf: TimeoutError, message: /after 50 ms/ });
  // 0 lifts the limit for this call only; a longer one is taken as given.
  t.deepEqual(agent.callBlocking('holdBytes', Uint8Array.of(2, 7), { timeoutMs: 0 }), Uint8Array.of(2, 7));
  t.deepEqual(agent.callBlocking('holdBytes', Uint8Array.of(1, 8), { timeoutMs: 60_000 }), Uint8Array.of(1, 8));
  // And a shorter one than the agent's cuts sooner.
  const error = t.throws(() => agent.callBlocking('holdBytes', Uint8Array.of(5), { timeoutMs: 10 }), { instanceOf: TimeoutError });
  t.is((error as TimeoutError).timeoutMs, 10);
});

// ── the agent's death around call-backs ────────────────────────────────────────────

test('an agent that exits right after a call-back served while parked wakes the node with AgentExitedError', async (t) => {
  const { agent, served } = start(t);
  const error = t.throws(() => agent.blocking.callbackThenExit(6), { instanceOf: AgentExitedError });
  t.is((error as AgentExitedError).exitCode, 6);
  t.deepEqual(served, ['before-exit']);
  t.is((await agent.exited).code, 6);
});

test('an agent that crashes after an async call-back served while parked wakes the node with the crash as cause', (t) => {
  const { agent, served } = start(t);
  const error = t.throws(() => agent.blocking.callbackThenCrash('late crash'), { instanceOf: AgentExitedError });
  t.regex(error!.message, /late crash/);
  t.deepEqual(served, ['before-crash']);
  t.throws(() => agent.blocking.add(1, 1), { instanceOf: AgentExitedError });
});

test('an agent that exits cleanly (code 0) while the node is parked still wakes it with AgentExitedError', (t) => {
  const { agent } = start(t);
  const error = t.throws(() => agent.blocking.exitCleanLater(20), { instanceOf: AgentExitedError });
  t.is((error as AgentExitedError).exitCode, 0);
});

// ── the byte layer follows the isolation rules too ─────────────────────────────────

test('inline: callBlocking runs a synchronous method directly and refuses an async one', async (t) => {
  const agent = await spawnAgent<typeof GapsAgent>(fixture('agent.ts'), { isolation: 'inline', expose: { config: (key: string) => key } });
  t.teardown(() => agent.close({ timeoutMs: 1000 }));
  t.deepEqual(agent.callBlocking('echoBytes', Uint8Array.of(4, 2)), Uint8Array.of(4, 2));
  t.throws(() => agent.callBlocking('holdBytes', Uint8Array.of(0)), { instanceOf: BlockingNotAllowedError });
  // The agent is fine afterwards.
  t.is(agent.blocking.add(1, 2), 3);
});

test('process: callBlocking is a TypeError naming the isolation, like agent.blocking', async (t) => {
  const agent = await spawnAgent<typeof GapsAgent>(fixture('agent.ts'), { isolation: 'process' });
  t.teardown(() => agent.close({ timeoutMs: 1000 }));
  t.throws(() => agent.callBlocking('add', new Uint8Array(1)), { instanceOf: TypeError, message: /'process'/ });
  t.is(await agent.remote.add(2, 2), 4);
});
