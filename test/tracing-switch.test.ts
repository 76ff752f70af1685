/**
 * The tracing switch (src/observability/tracing-switch.ts): every way of subscribing to
 * or leaving an event of `agent-ipc:call` turns it on or off at once — in the same turn,
 * before any backstop could run — on the Node.js versions CI runs, and the channels go
 * on behaving as Node's own.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import diagnostics, { channel, tracingChannel, type TracingChannelSubscribers } from 'node:diagnostics_channel';
import test from 'ava';
import { onTracingChange } from '../src/observability/tracing-switch.ts';

let on = false;
onTracingChange((now) => {
  on = now;
});

const EVENTS = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'] as const;
const nameOf = (event: (typeof EVENTS)[number]): string => `tracing:agent-ipc:call:${event}`;

for (const event of EVENTS) {
  test.serial(`${event}: subscribe and unsubscribe on the channel object turn tracing on and off at once`, (t) => {
    t.false(on);
    const subscriber = (): void => undefined;
    channel(nameOf(event)).subscribe(subscriber);
    t.true(on);
    t.true(channel(nameOf(event)).unsubscribe(subscriber));
    t.false(on);
  });

  test.serial(`${event}: diagnostics_channel.subscribe/unsubscribe by name turn it on and off at once`, (t) => {
    const subscriber = (): void => undefined;
    diagnostics.subscribe(nameOf(event), subscriber);
    t.true(on);
    t.true(diagnostics.unsubscribe(nameOf(event), subscriber));
    t.false(on);
  });

  test.serial(`${event}: tracingChannel.subscribe with that event alone turns it on and off at once`, (t) => {
    // Node takes any subset of the five; the types of Node 20 ask for all of them.
    const handlers = { [event]: (): void => undefined } as unknown as TracingChannelSubscribers<object>;
    tracingChannel('agent-ipc:call').subscribe(handlers);
    t.true(on);
    tracingChannel('agent-ipc:call').unsubscribe(handlers);
    t.false(on);
  });

  test.serial(`${event}: a bound store turns it on, unbinding it off`, (t) => {
    const store = new AsyncLocalStorage<unknown>();
    channel(nameOf(event)).bindStore(store);
    t.true(on);
    t.true(channel(nameOf(event)).unbindStore(store));
    t.false(on);
  });
}

test.serial('it stays on while any event has a subscriber, and the channels still deliver and answer as Node does', (t) => {
  const seen: unknown[] = [];
  const onStart = (message: unknown): void => void seen.push(['start', message]);
  const onError = (message: unknown): void => void seen.push(['error', message]);
  const start = channel(nameOf('start'));
  const error = channel(nameOf('error'));
  start.subscribe(onStart);
  error.subscribe(onError);
  t.true(start.hasSubscribers);
  start.publish(1);
  error.publish(2);
  t.deepEqual(seen, [
    ['start', 1],
    ['error', 2],
  ]);
  t.true(start.unsubscribe(onStart));
  t.false(start.hasSubscribers);
  t.true(on, 'error still has a subscriber');
  t.false(start.unsubscribe(onStart), 'a second unsubscribe answers false, as Node does');
  t.true(on);
  t.true(error.unsubscribe(onError));
  t.false(on);
  t.false(error.unbindStore(new AsyncLocalStorage()), 'unbinding a store never bound answers false');
  t.false(on);
});

test.serial('a subscription Node refuses throws Node’s error, and the switch agrees with the channel afterwards', (t) => {
  const end = channel(nameOf('end'));
  t.throws(() => end.subscribe(42 as unknown as () => void), { instanceOf: TypeError });
  // Node 20 and 22 mark the channel active before they validate, so it then says it has
  // subscribers while it has none; 24 validates first. Either way the switch agrees.
  t.is(on, end.hasSubscribers);
  const subscriber = (): void => undefined;
  end.subscribe(subscriber);
  t.true(on);
  t.true(end.unsubscribe(subscriber));
  t.false(end.hasSubscribers);
  t.false(on);
});

test.serial('another copy of the library shares the watchers: its watcher is told of every change too', (t) => {
  // What a second copy finds (and joins) on each channel: the set under the registered symbol.
  const start = channel(nameOf('start')) as unknown as Record<symbol, Set<() => void> | undefined>;
  const watchers = start[Symbol.for('agent-ipc.tracing-watchers')];
  if (!watchers) return t.fail('no watchers on the start channel');
  let told = 0;
  const other = (): void => void told++;
  watchers.add(other);
  try {
    const subscriber = (): void => undefined;
    channel(nameOf('start')).subscribe(subscriber);
    channel(nameOf('start')).unsubscribe(subscriber);
    t.true(told >= 2, `told ${told} times`);
    t.false(on);
  } finally {
    watchers.delete(other);
  }
});
