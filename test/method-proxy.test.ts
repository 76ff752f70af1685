/**
 * `methodProxy`, behind `agent.remote`, `agent.blocking`, `main.async` and `main.blocking`:
 * every name is a method that calls `invoke(name, args)`, the object is not thenable, and
 * it cannot be written to. The first use of a name is kept as a plain property, so these
 * hold before and after a name has been used.
 */
import test from 'ava';
import { methodProxy } from '../src/rpc.ts';

type Methods = Record<string, (...args: unknown[]) => unknown>;

function recording(): { proxy: Methods; calls: Array<[string, unknown[]]> } {
  const calls: Array<[string, unknown[]]> = [];
  const proxy = methodProxy<Methods>((name, args) => {
    calls.push([name, args]);
    return `${name}:${args.length}`;
  });
  return { proxy, calls };
}

test('every name calls invoke with its name and arguments, first use and later', (t) => {
  const { proxy, calls } = recording();
  t.is(proxy.add!(1, 2), 'add:2');
  t.is(proxy.add!(3), 'add:1');
  t.is(proxy.other!(), 'other:0');
  t.deepEqual(calls, [
    ['add', [1, 2]],
    ['add', [3]],
    ['other', []],
  ]);
  t.is(proxy.add, proxy.add, 'the same function each time');
});

test('it is not thenable, has no symbol members and shows no keys', async (t) => {
  const { proxy, calls } = recording();
  proxy.add!(1);
  t.is((proxy as { then?: unknown }).then, undefined);
  t.is(await Promise.resolve(proxy), proxy, 'awaiting it does not call anything');
  t.is((proxy as unknown as Record<symbol, unknown>)[Symbol.iterator], undefined);
  t.deepEqual(Object.keys(proxy), []);
  t.false('then' in proxy);
  t.is(calls.length, 1);
});

test('assigning to it throws (strict mode), before and after a name was used', (t) => {
  const { proxy } = recording();
  t.throws(() => {
    proxy.unused = () => 'mine';
  }, { instanceOf: TypeError });
  proxy.add!(1);
  t.throws(() => {
    proxy.add = () => 'mine';
  }, { instanceOf: TypeError });
  t.is(proxy.add!(1), 'add:1');
});
