/**
 * The pending-call table: a ring indexed by request id with an overflow map for ids
 * whose slot is still taken by an older call. Both paths must find, remove and drain
 * every call exactly once.
 */
import test from 'ava';
import fc from 'fast-check';
import { PendingTable } from '../src/pending-table.ts';

interface Call {
  readonly id: number;
}

test('calls are found and taken by id, in the ring and in the overflow', (t) => {
  const table = new PendingTable<Call>();
  // 1 and 1025 share a ring slot: the second goes to the overflow.
  const calls = [1, 2, 1025, 2049, 3].map((id) => ({ id }));
  for (const call of calls) table.add(call);
  t.is(table.size, 5);
  for (const call of calls) t.is(table.get(call.id), call);
  t.is(table.get(4), undefined);
  t.is(table.take(1025), calls[2]);
  t.is(table.take(1025), undefined, 'taken once only');
  t.is(table.take(1), calls[0]);
  t.is(table.get(2049), calls[3], 'still found through the overflow after its slot was freed');
  t.is(table.size, 3);
  t.deepEqual(
    table.drain().map((call) => call.id).sort((a, b) => a - b),
    [2, 3, 2049],
  );
  t.is(table.size, 0);
  t.is(table.get(2), undefined);
});

test('any sequence of adds and takes agrees with a Map', (t) => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 5000 })), { maxLength: 400 }), (ops) => {
      const table = new PendingTable<Call>();
      const model = new Map<number, Call>();
      for (const [isAdd, id] of ops) {
        if (isAdd && !model.has(id)) {
          const call = { id };
          table.add(call);
          model.set(id, call);
        } else if (!isAdd) {
          if (table.take(id) !== model.get(id)) return false;
          model.delete(id);
        }
        if (table.size !== model.size) return false;
      }
      for (const [id, call] of model) if (table.get(id) !== call) return false;
      const drained = table.drain();
      return drained.length === model.size && drained.every((call) => model.get(call.id) === call) && table.size === 0;
    }),
    { numRuns: 300 },
  );
  t.pass();
});
