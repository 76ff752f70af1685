/**
 * The deadlock check's context: which agent's blocking call is being served. It is
 * switched off between turns when no async handler runs (its promise hook is costly on
 * Node 20), so the context must survive every await of a handler still running, across
 * turns and across other blocking calls served meanwhile.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import test from 'ava';
import { serveBlocking, servingBlockingOf } from '../src/blocking/serving-context.ts';

test('a sync handler sees its agent; nothing is served outside it', async (t) => {
  const agent = {};
  t.is(serveBlocking(agent, () => servingBlockingOf(), undefined), agent);
  t.is(servingBlockingOf(), undefined);
  await nextTurn();
  t.is(servingBlockingOf(), undefined);
  // Switched off and on again: still right.
  t.is(serveBlocking(agent, () => servingBlockingOf(), undefined), agent);
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
  ) as Promise<string>;
  // Another agent's sync blocking call served in between, and whole turns passing.
  await nextTurn();
  t.is(serveBlocking(second, () => servingBlockingOf(), undefined), second);
  await nextTurn();
  t.is(await running, 'done');
  t.deepEqual(seen, [first, first, first]);
  t.is(servingBlockingOf(), undefined);
  // Once nothing runs, the next turn switches it off; a later call switches it on again.
  await nextTurn();
  const later = serveBlocking(first, async () => (await nextTurn(), servingBlockingOf()), undefined);
  t.is(await later, first);
});

test('a handler that throws still leaves the context consistent', async (t) => {
  const agent = {};
  t.throws(() => serveBlocking(agent, () => {
    throw new Error('boom');
  }, undefined), { message: 'boom' });
  t.is(servingBlockingOf(), undefined);
  await t.throwsAsync(serveBlocking(agent, async () => {
    await nextTurn();
    throw new Error('later');
  }, undefined) as Promise<unknown>, { message: 'later' });
  await nextTurn();
  t.is(serveBlocking(agent, () => servingBlockingOf(), undefined), agent);
});
