/**
 * The node's thread blocking on an agent (issue #16): `agent.blocking.x()`,
 * `agent.callBlocking`, call-backs served while parked, timeouts and the agent's death
 * while the node is parked, `spawnAgentSync` and its start-up failures, and the inline
 * and process rules. Nothing here asserts on timing.
 */
import { tracingChannel } from 'node:diagnostics_channel';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import { DEFAULT_NODE_BLOCKING_TIMEOUT_MS, resolveAgentOptions } from '../src/spawn-options.ts';
import {
  AgentExitedError,
  BlockingNotAllowedError,
  ConnectionClosedError,
  DeadlockError,
  ProtocolError,
  StartupTimeoutError,
  TimeoutError,
  UnknownMethodError,
  spawnAgent,
  spawnAgentSync,
  type Agent,
  type CallTraceContext,
  type SpawnAgentSyncOptions,
} from '../src/index.ts';
import type SyncMainAgent from './fixtures/sync-main/agent.ts';
import { FormatError, type SyncMainNodeApi } from './fixtures/sync-main/agent.ts';

const fixture = (name: string): URL => new URL(`./fixtures/sync-main/${name}`, import.meta.url);
const entry = fixture('agent.ts');

type Context = { teardown(fn: () => unknown): void };

interface NodeState {
  agent?: Agent<typeof SyncMainAgent>;
  served: string[];
}

function nodeApi(state: NodeState): SyncMainNodeApi {
  return {
    config(key) {
      state.served.push(key);
      return `cfg:${key}`;
    },
    async configLater(key) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      return `later:${key}`;
    },
    refuse(message): never {
      throw new RangeError(message);
    },
    bigConfig: (size) => new Uint8Array(size).fill(3),
  };
}

/** Starts the test agent synchronously; it is closed when the test ends, pass or fail. */
function start(t: Context, options: SpawnAgentSyncOptions<SyncMainNodeApi> = {}) {
  const state: NodeState = { served: [] };
  const agent = spawnAgentSync<typeof SyncMainAgent, SyncMainNodeApi>(entry, { expose: nodeApi(state), ...options });
  state.agent = agent;
  t.teardown(() => agent.close({ timeoutMs: 1000 }));
  return { agent, state };
}

// ── agent.blocking and callBlocking ────────────────────────────────────────────────

test('agent.blocking returns the result of sync and async agent methods', async (t) => {
  const { agent } = start(t);
  t.is(agent.blocking.add(2, 40), 42);
  t.is(agent.blocking.addLater(1, 2), 3);
  t.is(agent.blocking.format('  hello '), 'HELLO');
  const value = { m: new Map([[1, { d: new Date(3) }]]), b: 5n, s: 'héllo ✓', n: [1.5, null, undefined] };
  t.deepEqual(agent.blocking.echo(value), value);
  // The async form is still there, and both forms mix.
  t.is(await agent.remote.add(1, 1), 2);
  t.is(agent.blocking.add(3, 3), 6);
  t.true(agent.stats.callsOut >= 6);
});

test("errors of the agent's method are thrown with their class, message, properties and stack", (t) => {
  const { agent } = start(t);
  const sync = t.throws(() => agent.blocking.fail('bad indent'), { instanceOf: FormatError, message: 'bad indent' });
  t.is((sync as FormatError).line, 7);
  t.regex(sync!.stack ?? '', /sync-main\/agent\.ts/);
  const later = t.throws(() => agent.blocking.failLater('bad brace'), { instanceOf: FormatError, message: 'bad brace' });
  t.is((later as FormatError).line, 9);
  t.throws(() => (agent.blocking as unknown as Record<string, () => unknown>).missing!(), { instanceOf: UnknownMethodError });
  // The agent is fine afterwards.
  t.is(agent.blocking.add(1, 2), 3);
});

test('bodies larger than the mailbox go both ways', (t) => {
  const { agent } = start(t);
  const big = agent.blocking.big(300_000);
  t.is(big.length, 300_000);
  t.is(big[299_999], 7);
  t.is(agent.blocking.size(new Uint8Array(200_000)), 200_000);
  t.is(agent.blocking.add(1, 1), 2);
});

test('callBlocking is the byte layer, with a per-call timeout', (t) => {
  const { agent } = start(t);
  const bytes = agent.callBlocking('big', new Uint8Array(0));
  t.true(bytes instanceof Uint8Array);
  // 'size' answers a number: not bytes.
  t.throws(() => agent.callBlocking('size', new Uint8Array(5)), { instanceOf: ProtocolError, message: /answered a byte-layer call with a number/ });
  t.throws(() => agent.callBlocking('echo', 'text' as unknown as Uint8Array), { instanceOf: TypeError, message: /payload must be a Uint8Array/ });
  t.throws(() => agent.callBlocking('echo', new Uint8Array(1), { timeoutMs: -1 }), { instanceOf: TypeError, message: /timeoutMs/ });
  t.deepEqual(agent.callBlocking('echo', Uint8Array.of(1, 2, 3)), Uint8Array.of(1, 2, 3));
  const error = t.throws(() => agent.callBlocking('hold', Uint8Array.of(5), { timeoutMs: 30 }), { instanceOf: TimeoutError });
  t.is((error as TimeoutError).timeoutMs, 30);
  t.deepEqual(agent.callBlocking('hold', Uint8Array.of(0, 1)), Uint8Array.of(0, 1));
});

test("the agent's timeoutMs applies to blocking calls, and a late answer is not taken for the next call's", (t) => {
  const { agent } = start(t, { timeoutMs: 40 });
  t.throws(() => agent.blocking.sleep(300), { instanceOf: TimeoutError, message: /'sleep' timed out after 40 ms/ });
  // The agent is still sleeping on the first call; this one is answered on its own.
  t.is(agent.blocking.add(20, 22), 42);
  t.is(agent.blocking.echo('mine'), 'mine');
});

test('async calls made before a blocking call are started first', async (t) => {
  const { agent } = start(t);
  const pending = agent.remote.echo('first');
  t.is(agent.blocking.add(1, 1), 2);
  t.is(await pending, 'first');
});

// ── call-backs while the node is parked ────────────────────────────────────────────

test("the agent's blocking and async call-backs to synchronous handlers are served while the node is parked", (t) => {
  const { agent, state } = start(t);
  t.is(agent.blocking.callbackBlocking('a'), 'cfg:a!');
  t.is(agent.blocking.callbackAsync('b'), 'cfg:b?');
  // Several call-backs, one answer over the mailbox size.
  t.is(agent.blocking.callbackMany(3, 150_000), 3 * 'cfg:kN'.length + 150_000);
  t.deepEqual(state.served, ['a', 'b', 'k0', 'k1', 'k2']);
  // A call-back whose request and answer go through the call-back side port.
  t.is(agent.blocking.callbackHuge(200_000), 200_000 + 'cfg:'.length);
  // A handler that throws: its error reaches the agent's method.
  t.is(agent.blocking.callbackRefused('no'), 'RangeError: no');
});

test('call-backs to async handlers fail at once with DeadlockError saying why', (t) => {
  const { agent } = start(t);
  t.regex(agent.blocking.callbackBlockingToAsync('x'), /^DeadlockError: .*'configLater'.*parked.*returned a promise/);
  t.regex(agent.blocking.callbackAsyncToAsync('y'), /^DeadlockError: .*'configLater'.*parked.*returned a promise/);
});

test('the same call-backs, made while the node is not parked, are served as usual', async (t) => {
  const { agent } = start(t);
  t.is(await agent.remote.callbackBlockingToAsync('x'), 'later:x');
  t.is(await agent.remote.callbackAsyncToAsync('y'), 'later:y');
  t.is(await agent.remote.callbackBlocking('z'), 'cfg:z!');
});

test('a blocking call into the agent from a handler served while parked is a DeadlockError', (t) => {
  const outcome: string[] = [];
  const agent: Agent<typeof SyncMainAgent> = spawnAgentSync<typeof SyncMainAgent>(entry, {
    expose: {
      config(key: string): string {
        try {
          return String(agent.blocking.add(1, 2));
        } catch (error) {
          outcome.push((error as Error).name);
          return key;
        }
      },
    },
  });
  t.teardown(() => agent.close({ timeoutMs: 1000 }));
  t.is(agent.blocking.callbackBlocking('k'), 'k!');
  t.deepEqual(outcome, ['DeadlockError']);
  t.true(new DeadlockError('a', 'b') instanceof Error);
});

// ── the agent ends while the node is parked ────────────────────────────────────────

test('an agent that calls process.exit wakes the parked node with AgentExitedError', async (t) => {
  const { agent } = start(t);
  const error = t.throws(() => agent.blocking.exitLater(3, 20), { instanceOf: AgentExitedError });
  t.is((error as AgentExitedError).exitCode, 3);
  t.is((await agent.exited).code, 3);
  t.throws(() => agent.blocking.add(1, 1), { instanceOf: AgentExitedError });
});

test('an agent that exits at once, inside the call, wakes the parked node', (t) => {
  const { agent } = start(t);
  t.throws(() => agent.blocking.exitNow(5), { instanceOf: AgentExitedError, message: /exited with code 5/ });
});

test('an agent that crashes while the node is parked wakes it with the crash as cause', (t) => {
  const { agent } = start(t);
  const error = t.throws(() => agent.blocking.crashLater('boom'), { instanceOf: AgentExitedError });
  t.regex(error!.message, /boom/);
});

test('an agent stopped at its heap limit (no JavaScript runs on the way out) wakes the parked node; later calls fail at once, unsent', (t) => {
  const { agent } = start(t, { resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 } });
  t.throws(() => agent.blocking.exhaustHeap(), { instanceOf: AgentExitedError });
  // Before the event loop reports the exit: the stop the probe saw is remembered, so no
  // request goes out (each used to be sent, counted and waited on for a slice).
  const sent = agent.stats.callsOut;
  for (let i = 0; i < 3; i++) t.throws(() => agent.blocking.exhaustHeap(), { instanceOf: AgentExitedError });
  t.is(agent.stats.callsOut, sent);
});

test('the node closing the agent from a handler served while parked wakes the wait with ConnectionClosedError', async (t) => {
  let closing: Promise<void> | undefined;
  const agent: Agent<{ closeThroughNode(): Promise<string> }> = spawnAgentSync<{ closeThroughNode(): Promise<string> }>(fixture('closing-agent.ts'), {
    expose: {
      closeMe(): string {
        closing = agent.close({ timeoutMs: 1000 });
        return 'closing';
      },
    },
  });
  t.teardown(() => agent.close({ timeoutMs: 1000 }));
  t.throws(() => agent.blocking.closeThroughNode(), { instanceOf: ConnectionClosedError });
  await closing;
  t.throws(() => agent.blocking.closeThroughNode(), { instanceOf: ConnectionClosedError });
});

// ── spawnAgentSync ─────────────────────────────────────────────────────────────────

test('spawnAgentSync returns a started agent, usable at once both ways', async (t) => {
  const { agent } = start(t, { name: 'formatter', data: { x: 1 } });
  t.is(agent.name, 'formatter');
  t.is(agent.isolation, 'thread');
  t.is(agent.blocking.name(), 'formatter');
  t.is(await agent.remote.add(1, 2), 3);
});

test('spawnAgentSync throws a syntax error of the module at once', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'agent-ipc-sync-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'broken.mjs');
  writeFileSync(file, 'export default {{ not javascript\n');
  t.throws(() => spawnAgentSync(pathToFileURL(file)), { instanceOf: SyntaxError });
});

test('spawnAgentSync throws the error a module throws at import, with its class name, message and stack', (t) => {
  const error = t.throws(() => spawnAgentSync(fixture('throw-at-import.ts')));
  t.is(error!.name, 'ImportTimeError');
  t.regex(error!.message, /the module refused to load/);
  t.regex(error!.stack ?? '', /throw-at-import\.ts/);
});

test("spawnAgentSync throws the factory's error with its class and code", (t) => {
  const error = t.throws(() => spawnAgentSync(new URL('./fixtures/throwing-factory-agent.ts', import.meta.url)), {
    instanceOf: RangeError,
    message: 'factory refused to start',
  });
  t.is((error as RangeError & { code: string }).code, 'E_FACTORY');
});

test('spawnAgentSync gives AgentExitedError for a module that exits while loading', (t) => {
  t.throws(() => spawnAgentSync(fixture('exit-at-import.ts')), { instanceOf: AgentExitedError, message: /code 4/ });
});

test('spawnAgentSync times out an agent that never gets ready, waiting or busy (StartupTimeoutError, as spawnAgent)', (t) => {
  const error = t.throws(() => spawnAgentSync(fixture('never-ready.ts'), { startupTimeoutMs: 300 }), { instanceOf: StartupTimeoutError });
  t.is((error as StartupTimeoutError).timeoutMs, 300);
  t.is((error as StartupTimeoutError).agentName.length > 0, true);
  t.throws(() => spawnAgentSync(fixture('busy-at-import.ts'), { startupTimeoutMs: 300 }), { instanceOf: StartupTimeoutError, message: /not ready within 300 ms/ });
});

test('spawnAgentSync validates its options and refuses inline and process isolation with a TypeError', (t) => {
  t.throws(() => spawnAgentSync(entry, { startupTimeoutMs: -5 }), { instanceOf: TypeError, message: /startupTimeoutMs/ });
  // The types refuse both (SpawnAgentSyncOptions allows only 'thread'); plain JavaScript gets a TypeError.
  // @ts-expect-error -- inline is not an isolation spawnAgentSync starts
  t.throws(() => spawnAgentSync(entry, { isolation: 'inline' }), { instanceOf: TypeError, message: /isolation 'thread'.*event loop/ });
  // @ts-expect-error -- process is not an isolation spawnAgentSync starts
  t.throws(() => spawnAgentSync(entry, { isolation: 'process' }), { instanceOf: TypeError, message: /isolation 'thread'.*process/ });
  t.throws(() => spawnAgentSync(entry, { bogus: 1 } as SpawnAgentSyncOptions), { instanceOf: TypeError, message: /unknown option 'bogus'/ });
  // sandbox is for process agents, which spawnAgentSync does not start.
  // @ts-expect-error -- sandbox is not an option of spawnAgentSync
  t.throws(() => spawnAgentSync(entry, { sandbox: true }), { instanceOf: TypeError, message: /sandbox/ });
});

// ── observed like every other call ─────────────────────────────────────────────────

/** Every event of the call tracing channel while `body` runs, by context, in order. */
function traced(body: () => void): Map<CallTraceContext, string[]> {
  const calls = new Map<CallTraceContext, string[]>();
  const on = (event: string) => (message: unknown) => {
    const context = message as CallTraceContext;
    calls.set(context, [...(calls.get(context) ?? []), event]);
  };
  const handlers = { start: on('start'), end: on('end'), asyncStart: on('asyncStart'), asyncEnd: on('asyncEnd'), error: on('error') };
  const calling = tracingChannel('agent-ipc:call');
  calling.subscribe(handlers);
  try {
    body();
  } finally {
    calling.unsubscribe(handlers);
  }
  return calls;
}

test.serial("node → agent blocking calls and the call-backs served while parked show in stats, metrics and tracing", async (t) => {
  const { agent } = start(t, { timeoutMs: 10_000 });
  const calls = traced(() => {
    t.is(agent.blocking.add(1, 2), 3);
    t.throws(() => agent.blocking.fail('x'), { instanceOf: FormatError });
    t.is(agent.blocking.callbackBlocking('a'), 'cfg:a!');
    t.is(agent.blocking.callbackAsync('b'), 'cfg:b?');
    t.regex(agent.blocking.callbackBlockingToAsync('c'), /^DeadlockError/);
    t.throws(() => agent.callBlocking('hold', Uint8Array.of(3), { timeoutMs: 30 }), { instanceOf: TimeoutError });
  });
  const seen = [...calls].filter(([context]) => context.agent === agent.name);
  const nodeBlocking = seen.filter(([context]) => context.direction === 'node-to-agent' && context.kind === 'blocking');
  t.deepEqual(
    nodeBlocking.map(([context, events]) => [context.method, context.outcome, events]),
    [
      ['add', 'ok', ['start', 'end']],
      ['fail', 'error', ['start', 'error', 'end']],
      ['callbackBlocking', 'ok', ['start', 'end']],
      ['callbackAsync', 'ok', ['start', 'end']],
      ['callbackBlockingToAsync', 'ok', ['start', 'end']],
      ['hold', 'timeout', ['start', 'error', 'end']],
    ],
  );
  t.deepEqual(
    nodeBlocking.map(([context]) => context.callId),
    [1, 2, 3, 4, 5, 6],
  );
  for (const [context] of nodeBlocking) t.is(context.parentCallId, undefined);
  t.true(nodeBlocking[1]![0].error instanceof FormatError);
  t.true(nodeBlocking[5]![0].error instanceof TimeoutError);
  // The call-backs served while parked are traced as the agent's calls.
  const callbacks = seen.filter(([context]) => context.direction === 'agent-to-node').map(([context]) => [context.kind, context.method, context.outcome]);
  t.deepEqual(callbacks, [
    ['blocking', 'config', 'ok'],
    ['async', 'config', 'ok'],
    ['blocking', 'configLater', 'error'],
  ]);
  const metrics = await agent.metrics({ timeoutMs: 10_000 });
  const of = (direction: string, kind: string) => metrics.calls.find((calls) => calls.direction === direction && calls.kind === kind);
  t.like(of('node-to-agent', 'blocking'), { calls: 6, inFlight: 0, ok: 4, errors: 1, timeouts: 1, aborted: 0, closed: 0 });
  t.is(of('node-to-agent', 'blocking')!.latency.count, 6);
  t.true(of('node-to-agent', 'blocking')!.latency.maxMs >= 30, 'the timed-out call waited its timeout');
  t.like(of('agent-to-node', 'blocking'), { calls: 2, ok: 1, errors: 1 });
  t.like(of('agent-to-node', 'async'), { calls: 1, ok: 1 });
  t.like(of('node-to-agent', 'async'), { calls: 0 });
  t.deepEqual({ ...agent.stats }, { callsOut: 6, callsIn: 1, blockingCalls: 2, errors: 2 });
});

test('a node → agent blocking call into an agent that exits is observed as closed; inline calls are observed too', async (t) => {
  const { agent } = start(t);
  t.throws(() => agent.blocking.exitNow(3), { instanceOf: AgentExitedError });
  await agent.exited;
  t.like((await agent.metrics()).calls.find((calls) => calls.direction === 'node-to-agent' && calls.kind === 'blocking'), { calls: 1, closed: 1, inFlight: 0 });
  const inline = await spawnAgent<typeof SyncMainAgent>(entry, { isolation: 'inline', expose: nodeApi({ served: [] }) });
  t.teardown(() => inline.close({ timeoutMs: 1000 }));
  t.is(inline.blocking.add(2, 3), 5);
  t.throws(() => inline.blocking.addLater(1, 2), { instanceOf: BlockingNotAllowedError });
  const metrics = await inline.metrics({ timeoutMs: 10_000 });
  t.like(metrics.calls.find((calls) => calls.direction === 'node-to-agent' && calls.kind === 'blocking'), { calls: 2, ok: 1, errors: 1, inFlight: 0 });
  t.deepEqual({ ...inline.stats }, { callsOut: 2, callsIn: 0, blockingCalls: 0, errors: 1 });
});

// ── inline and process isolation ───────────────────────────────────────────────────

test("inline: agent.blocking runs a synchronous method directly; an async one is BlockingNotAllowedError", async (t) => {
  const agent = await spawnAgent<typeof SyncMainAgent>(entry, { isolation: 'inline', expose: nodeApi({ served: [] }) });
  t.teardown(() => agent.close({ timeoutMs: 1000 }));
  t.is(agent.blocking.add(2, 3), 5);
  t.is(agent.blocking.callbackBlocking('i'), 'cfg:i!');
  t.throws(() => agent.blocking.fail('inline'), { instanceOf: FormatError, message: 'inline' });
  t.throws(() => agent.blocking.addLater(1, 2), { instanceOf: BlockingNotAllowedError, message: /inline isolation.*agent\.remote\.addLater/ });
  t.deepEqual(agent.callBlocking('echo', Uint8Array.of(9)), Uint8Array.of(9));
});

test('process: agent.blocking is a TypeError naming the isolation', async (t) => {
  const agent = await spawnAgent<typeof SyncMainAgent>(entry, { isolation: 'process' });
  t.teardown(() => agent.close({ timeoutMs: 1000 }));
  t.throws(() => agent.blocking.add(1, 2), { instanceOf: TypeError, message: /isolation 'thread' or 'inline'.*'process'/ });
  t.is(await agent.remote.add(1, 2), 3);
});

test("the node's blocking calls default to a 60 s timeout when the agent's timeoutMs is left out; 0 means none, a value applies as given", (t) => {
  t.is(DEFAULT_NODE_BLOCKING_TIMEOUT_MS, 60_000);
  t.like(resolveAgentOptions({}), { timeoutMs: 0, nodeBlockingTimeoutMs: DEFAULT_NODE_BLOCKING_TIMEOUT_MS });
  t.like(resolveAgentOptions({ timeoutMs: 0 }), { timeoutMs: 0, nodeBlockingTimeoutMs: 0 });
  t.like(resolveAgentOptions({ timeoutMs: 250 }), { timeoutMs: 250, nodeBlockingTimeoutMs: 250 });
  // timeoutMs: 0 (no limit) still gets its answers.
  const { agent } = start(t, { timeoutMs: 0 });
  t.is(agent.blocking.add(1, 2), 3);
});
