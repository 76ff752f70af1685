/**
 * The deadlock check's context: which agent's blocking call is being served. It is
 * switched off between turns when no async handler runs (its promise hook is costly on
 * Node 20), so the context must survive every await of a handler still running, across
 * turns and across other blocking calls served meanwhile.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import test from 'ava';
import { AsyncLocalStorage } from 'node:async_hooks';
import { IDLE_OFF_MS, serveBlocking, servingBlockingOf, type HandlerRunner } from '../src/blocking/serving-context.ts';

/** Runs the handler as it is (no observer stores). */
const direct: HandlerRunner = { run: (_token, fn, a, b, c) => fn(a, b, c) };

test('a sync handler sees its agent; nothing is served outside it', async (t) => {
  const agent = {};
  t.is(serveBlocking(agent, () => servingBlockingOf(), undefined, direct, undefined), agent);
  t.is(servingBlockingOf(), undefined);
  await nextTurn();
  t.is(servingBlockingOf(), undefined);
  // Switched off and on again: still right.
  t.is(serveBlocking(agent, () => servingBlockingOf(), undefined, direct, undefined), agent);
});

test("an async handler keeps its agent across turns, while other agents' calls come and go", async (t) => {
  const first = {};
  const second = {};
  const seen: unknown[] = [];
  const running = serveBlocking(
    first,
    async () => {
      seen.push(servingBlockingOf());
      await nextTurn();
      seen.push(servingBlockingOf());
      await nextTurn();
      await nextTurn();
      seen.push(servingBlockingOf());
      return 'done';
    },
    undefined,
    direct,
    undefined,
  ) as Promise<string>;
  // Another agent's sync blocking call served in between, and whole turns passing.
  await nextTurn();
  t.is(serveBlocking(second, () => servingBlockingOf(), undefined, direct, undefined), second);
  await nextTurn();
  t.is(await running, 'done');
  t.deepEqual(seen, [first, first, first]);
  t.is(servingBlockingOf(), undefined);
  // Once nothing runs, the next turn switches it off; a later call switches it on again.
  await nextTurn();
  const later = serveBlocking(first, async () => (await nextTurn(), servingBlockingOf()), undefined, direct, undefined);
  t.is(await later, first);
});

test('a handler that throws still leaves the context consistent', async (t) => {
  const agent = {};
  t.throws(() => serveBlocking(agent, () => {
    throw new Error('boom');
  }, undefined, direct, undefined), { message: 'boom' });
  t.is(servingBlockingOf(), undefined);
  await t.throwsAsync(serveBlocking(agent, async () => {
    await nextTurn();
    throw new Error('later');
  }, undefined, direct, undefined) as Promise<unknown>, { message: 'later' });
  await nextTurn();
  t.is(serveBlocking(agent, () => servingBlockingOf(), undefined, direct, undefined), agent);
});

test('the context survives being switched off and on again, for every agent', async (t) => {
  const first = {};
  const second = {};
  t.is(serveBlocking(first, () => servingBlockingOf(), undefined, direct, undefined), first);
  t.is(serveBlocking(second, () => servingBlockingOf(), undefined, direct, undefined), second);
  // Idle for longer than the switch-off delay (twice: the first check re-arms).
  await new Promise((resolve) => setTimeout(resolve, IDLE_OFF_MS * 3));
  t.is(servingBlockingOf(), undefined);
  const later = serveBlocking(first, async () => (await nextTurn(), servingBlockingOf()), undefined, direct, undefined);
  t.is(serveBlocking(second, () => servingBlockingOf(), undefined, direct, undefined), second);
  t.is(await later, first);
});

test("the runner's stores are in effect in the handler, with the agent's, across await", async (t) => {
  // What tracing's bindStore does: the observer runs the handler inside a store of its own.
  const traced = new AsyncLocalStorage<string>();
  const runner: HandlerRunner = { run: (token, fn, a, b, c) => traced.run(token as string, fn, a, b, c) };
  const agent = {};
  const seen = await (serveBlocking(
    agent,
    async () => {
      const before = [traced.getStore(), servingBlockingOf()];
      await nextTurn();
      return [...before, traced.getStore(), servingBlockingOf()];
    },
    undefined,
    runner,
    'span-1',
  ) as Promise<unknown[]>);
  t.deepEqual(seen, ['span-1', agent, 'span-1', agent]);
  t.is(traced.getStore(), undefined);
});
