/**
 * The node's thread blocking on an agent against answers an honest agent can give, which
 * an outside review (2026-12-07) found the node could not bound or rebuild: a getter in
 * the answer (it runs while the agent writes the answer, when the call could not be
 * withdrawn), data nested deeper than the node's stack rebuilds, a value V8 serializes
 * but will not deserialize on another thread. Each must end as a typed error for that
 * call, and the next call must work. Nothing here asserts on timing.
 */
import test from 'ava';
import { AgentExitedError, ConnectionClosedError, DataCloneError, ProtocolError, TimeoutError, spawnAgentSync, type Agent } from '../src/index.ts';
import type HostileAgent from './fixtures/sync-main-hostile/agent.ts';
import type { HostileNodeApi } from './fixtures/sync-main-hostile/agent.ts';
import { answeredOnceReleased } from './fixtures/answered-once-released.ts';

type Context = { teardown(fn: () => unknown): void };

function start(t: Context, timeoutMs: number): Agent<typeof HostileAgent> {
  const agent = spawnAgentSync<typeof HostileAgent, HostileNodeApi>(new URL('./fixtures/sync-main-hostile/agent.ts', import.meta.url), {
    expose: { take: (value) => (value === null ? 'null' : typeof value) },
    startupTimeoutMs: 3_000,
    timeoutMs,
  });
  t.teardown(() => agent.close({ timeoutMs: 1000 }));
  return agent;
}

test('a getter in the answer that outlasts the timeout: TimeoutError, and later calls wait for the area, then work', (t) => {
  t.timeout(60_000);
  const agent = start(t, 200);
  // The getter sleeps 3 s while the agent writes the answer. The call used to wait for it
  // (it could not be withdrawn then) and return its value long after its deadline.
  t.throws(() => agent.blocking.slowGetter(3000), { instanceOf: TimeoutError });
  // Until the agent lets go of the area, calls time out unsent; then they are answered.
  answeredOnceReleased(t, () => agent.blocking.add(1, 2), 3, 'add(1, 2)');
  t.is(agent.blocking.add(2, 3), 5);
});

test('a getter in the answer that never returns: the call and the next time out, and close() finishes', async (t) => {
  t.timeout(60_000);
  const agent = start(t, 200);
  t.throws(() => agent.blocking.stuckGetter(), { instanceOf: TimeoutError });
  t.throws(() => agent.blocking.add(1, 2), { instanceOf: TimeoutError });
  // Forced: the agent's thread is still in the getter.
  await agent.close({ timeoutMs: 500 });
  t.like(await agent.exited, { signal: null });
  t.throws(() => agent.blocking.add(1, 2), { instanceOf: ConnectionClosedError });
});

test("an answer nested deeper than the node's stack rebuilds: ProtocolError for that call, and the next call works", (t) => {
  t.timeout(30_000);
  const agent = start(t, 10_000);
  t.is(agent.blocking.add(1, 2), 3);
  // A plain linked list: the agent's thread (4 MB of stack) writes it, the node's main thread cannot rebuild it in one piece.
  const error = t.throws(() => agent.blocking.list(3_000), { instanceOf: ProtocolError });
  t.regex(error!.message, /answer to blocking call 'list' cannot be rebuilt on this thread/);
  t.is(agent.blocking.add(2, 3), 5);
  // Shallow enough: rebuilt as sent.
  t.like(agent.blocking.list(3), { i: 2, next: { i: 1, next: { i: 0, next: null } } });
});

test('an answer V8 writes but will not rebuild on another thread (a WebAssembly.Module): ProtocolError, and the next call works', (t) => {
  t.timeout(30_000);
  const agent = start(t, 10_000);
  t.throws(() => agent.blocking.wasm(), { instanceOf: ProtocolError });
  t.is(agent.blocking.add(1, 2), 3);
});

test('an async answer nested too deep for the node fails alone with DataCloneError; the calls beside it are answered', async (t) => {
  t.timeout(30_000);
  const agent = start(t, 0);
  // The agent's sending side refuses it (the node could not rebuild it): that call alone
  // fails. Before, the whole batch reached the node, which could not read it, and every
  // call in it waited for ever.
  const [before, deep, after] = await Promise.allSettled([agent.remote.add(1, 2), agent.remote.list(3_000), agent.remote.add(3, 4)]);
  t.deepEqual(before, { status: 'fulfilled', value: 3 });
  t.deepEqual(after, { status: 'fulfilled', value: 7 });
  t.is(deep.status, 'rejected');
  const error = (deep as PromiseRejectedResult).reason as Error;
  t.true(error instanceof DataCloneError, String(error));
  t.regex(error.message, /nested more than 1000 levels deep/);
  t.like(await agent.remote.list(2), { i: 1, next: { i: 0, next: null } });
});

test('an async call-back nested too deep fails alone in the agent; the node is not disturbed', (t) => {
  t.timeout(30_000);
  const agent = start(t, 10_000);
  t.is(agent.blocking.deepCallback(3_000), 'sent');
  let outcome = 'pending';
  for (let call = 0; call < 10_000 && outcome === 'pending'; call++) outcome = agent.blocking.lastCallback();
  t.is(outcome, 'DataCloneError');
  t.is(agent.blocking.add(1, 2), 3);
});

test('a batch posted around the sending side that the node cannot rebuild, read while parked: the parked call fails with ProtocolError at once', async (t) => {
  t.timeout(30_000);
  const agent = start(t, 0);
  // No timeout: the wait used to throw a RangeError (losing this call's answer), and on
  // the event loop the batch was dropped without a word.
  t.throws(() => agent.blocking.postDeep(3_000, 2000), { instanceOf: ProtocolError, message: /cannot be rebuilt on this thread/ });
  // The agent broke the protocol, so it was stopped; its exit says why.
  await agent.exited;
  const exited = t.throws(() => agent.blocking.add(1, 2), { instanceOf: AgentExitedError });
  t.true(exited!.cause instanceof ProtocolError, String(exited!.cause));
});

test('a batch posted around the sending side that the node cannot rebuild, read on the event loop: the connection closes with ProtocolError and calls in flight settle', async (t) => {
  t.timeout(30_000);
  const agent = start(t, 0);
  const outcomes = await Promise.allSettled([agent.remote.postDeep(3_000, 0), agent.remote.add(1, 2)]);
  // What was answered before the deep batch arrived is kept; nothing waits for ever.
  for (const outcome of outcomes) {
    if (outcome.status === 'rejected') t.true(outcome.reason instanceof ProtocolError, String(outcome.reason));
  }
  t.true(outcomes.some((outcome) => outcome.status === 'rejected'));
  await agent.exited;
  await t.throwsAsync(agent.remote.add(1, 2), { instanceOf: ProtocolError });
});

test("an agent that floods its port while the node is parked cannot hold the wait past its deadline", (t) => {
  t.timeout(30_000);
  const agent = start(t, 300);
  // The flood lasts 3 s; the wait read batches for as long as they came and returned 'done' (or timed out late).
  t.throws(() => agent.blocking.flood(3000), { instanceOf: TimeoutError });
});
