/**
 * The depth measure of the agent's sending side (src/transports/nesting-guard.ts), on
 * its own: trees, shared and cyclic objects, Maps and Sets, leaves that are not walked,
 * and values whose reading throws.
 */
import test from 'ava';
import { MAX_SENT_DEPTH, nestedDeeperThan, refuseDeeperThan } from '../src/transports/nesting-guard.ts';

/** An object chain `n` objects deep (the outermost at depth 0). */
function chain(n: number): unknown {
  let head: unknown = null;
  for (let i = 0; i < n; i++) head = { next: head };
  return head;
}

test('a chain is too deep exactly when it has more than limit + 1 objects; leaves do not count', (t) => {
  t.false(nestedDeeperThan(chain(11), 10));
  t.true(nestedDeeperThan(chain(12), 10));
  t.false(nestedDeeperThan(5, 0));
  t.false(nestedDeeperThan('text', 0));
  t.false(nestedDeeperThan(new Uint8Array(1 << 20), 0), 'byte arrays are leaves, never walked');
  t.false(nestedDeeperThan([new ArrayBuffer(8), new Float64Array(4)], 0));
  t.true(nestedDeeperThan([[1]], 0));
});

test('Maps and Sets nest like arrays, through keys and values', (t) => {
  t.true(nestedDeeperThan(new Map([['k', chain(5)]]), 4));
  t.false(nestedDeeperThan(new Map([['k', chain(5)]]), 5));
  t.true(nestedDeeperThan(new Map([[chain(5), 1]]), 4));
  t.true(nestedDeeperThan(new Set([chain(5)]), 4));
});

test('a cycle or a shared object is one object: a short cycle is shallow, sharing is not multiplied', (t) => {
  const a: Record<string, unknown> = { name: 'a' };
  const b: Record<string, unknown> = { name: 'b', a };
  a.b = b;
  t.false(nestedDeeperThan(a, 5), 'a two-object cycle is two levels, not endless');
  // Each level refers to the next twice: 2^40 paths, 41 objects.
  let shared: unknown = {};
  for (let i = 0; i < 40; i++) shared = { left: shared, right: shared };
  t.false(nestedDeeperThan(shared, 100));
  t.true(nestedDeeperThan(shared, 30));
  // A deep chain reached again through a shortcut is measured along the first path the serializer takes.
  const deep = chain(50);
  t.true(nestedDeeperThan([deep, { again: deep }], 40));
});

test('a value whose reading throws counts as not deep (the serializer refuses it with its own error)', (t) => {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  t.false(nestedDeeperThan([{ inner: proxy }], 10));
  const throwing = { get boom(): never {
    throw new Error('getter');
  } };
  t.false(nestedDeeperThan([throwing], 10));
});

test('refuseDeeperThan throws a RangeError over the limit, and nothing at it', (t) => {
  t.notThrows(() => refuseDeeperThan([5, 'x', chain(MAX_SENT_DEPTH - 2)], MAX_SENT_DEPTH));
  t.throws(() => refuseDeeperThan([5, 'x', chain(MAX_SENT_DEPTH + 5)], MAX_SENT_DEPTH), { instanceOf: RangeError, message: /nested more than 1000 levels deep/ });
});

test('a sparse array is walked by the elements it has, not the length it claims', (t) => {
  const list: unknown[] = [];
  list[2 ** 31] = chain(3);
  t.false(nestedDeeperThan([list], 10));
  t.true(nestedDeeperThan([list], 2));
});
