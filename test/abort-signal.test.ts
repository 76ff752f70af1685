/**
 * Many calls sharing one AbortSignal: one listener per signal and connection, not one
 * per call (an EventTarget scans its listener list on add and remove, so a listener per
 * call made N calls cost O(N²)). Checked structurally — listener registrations counted
 * on the signal — never by timing.
 */
import { getEventListeners } from 'node:events';
import test from 'ava';
import { AbortError, TimeoutError } from '../src/index.ts';
import { FrameKind } from '../src/wire.ts';
import type { IncomingCall } from '../src/connection-layer.ts';
import { connectionPair, table } from './helpers/connection-pair.ts';

const CALLS = 5000;

/** A signal whose listener registrations are counted. */
function countedSignal(): { controller: AbortController; adds: () => number; removes: () => number } {
  const controller = new AbortController();
  const signal = controller.signal;
  let adds = 0;
  let removes = 0;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((...args: Parameters<AbortSignal['addEventListener']>) => {
    adds++;
    add(...args);
  }) as AbortSignal['addEventListener'];
  signal.removeEventListener = ((...args: Parameters<AbortSignal['removeEventListener']>) => {
    removes++;
    remove(...args);
  }) as AbortSignal['removeEventListener'];
  return { controller, adds: () => adds, removes: () => removes };
}

test(`${CALLS} calls sharing a signal register one listener; aborting rejects them all and cancels each`, async (t) => {
  let started = 0;
  let abortedHandlers = 0;
  const handlers = new Map([
    [
      'hang',
      (_payload: unknown, call: IncomingCall) => {
        started++;
        call.signal.addEventListener('abort', () => abortedHandlers++);
        return new Promise(() => undefined);
      },
    ],
  ]);
  const pair = connectionPair(new Map(), handlers);
  t.teardown(() => pair.close());
  const { controller, adds } = countedSignal();
  const calls = Array.from({ length: CALLS }, () => pair.a.call('hang', new Uint8Array(), { signal: controller.signal }));
  t.is(adds(), 1, 'one listener for all the calls');
  t.is(getEventListeners(controller.signal, 'abort').length, 1);
  // Let the other side start every handler, then abort.
  while (started < CALLS) await new Promise((resolve) => setImmediate(resolve));
  controller.abort(new Error('enough'));
  const outcomes = await Promise.allSettled(calls);
  t.true(outcomes.every((o) => o.status === 'rejected' && o.reason instanceof AbortError && (o.reason.cause as Error).message === 'enough'));
  t.is(pair.a.inFlight, 0);
  t.is(getEventListeners(controller.signal, 'abort').length, 0);
  // One cancel frame per call reached the other side and aborted its handler.
  while (abortedHandlers < CALLS) await new Promise((resolve) => setImmediate(resolve));
  const cancels = pair.sentByA.flat().filter((slot, i, all) => slot === FrameKind.CANCEL && typeof all[i + 1] === 'number').length;
  t.true(cancels >= CALLS);
  t.is(abortedHandlers, CALLS);
});

test('calls that settle leave the group; the last one out removes the listener, and the signal can be reused', async (t) => {
  const pair = connectionPair(new Map(), table({ echo: (x: number) => x, hang: () => new Promise(() => undefined) }));
  t.teardown(() => pair.close());
  const { controller, adds, removes } = countedSignal();
  const signal = controller.signal;
  const answers = await Promise.all(Array.from({ length: CALLS }, (_, i) => pair.a.request('echo', [i], { signal })));
  t.deepEqual(answers, Array.from({ length: CALLS }, (_, i) => i));
  t.is(adds(), 1);
  t.is(removes(), 1);
  t.is(getEventListeners(signal, 'abort').length, 0);

  // Timed-out calls leave too; a call made later joins a fresh registration.
  await t.throwsAsync(pair.a.request('hang', [], { signal, timeoutMs: 5 }), { instanceOf: TimeoutError });
  t.is(getEventListeners(signal, 'abort').length, 0);
  const pending = pair.a.request('hang', [], { signal });
  t.is(getEventListeners(signal, 'abort').length, 1);
  controller.abort();
  await t.throwsAsync(pending, { instanceOf: AbortError });
  // Already aborted: rejects at once, nothing registered.
  await t.throwsAsync(pair.a.request('echo', [1], { signal }), { instanceOf: AbortError });
  t.is(getEventListeners(signal, 'abort').length, 0);
});

test('two connections sharing a signal register one listener each; aborting settles the calls of both', async (t) => {
  const first = connectionPair(new Map(), table({ hang: () => new Promise(() => undefined) }));
  const second = connectionPair(new Map(), table({ hang: () => new Promise(() => undefined) }));
  t.teardown(() => (first.close(), second.close()));
  const { controller, adds } = countedSignal();
  const calls = [first, second].flatMap((pair) => Array.from({ length: 100 }, () => pair.a.request('hang', [], { signal: controller.signal })));
  t.is(adds(), 2);
  controller.abort();
  const outcomes = await Promise.allSettled(calls);
  t.true(outcomes.every((o) => o.status === 'rejected' && o.reason instanceof AbortError));
});

test('closing the connection settles calls sharing a signal once, and releases the listener', async (t) => {
  const pair = connectionPair(new Map(), table({ hang: () => new Promise(() => undefined) }));
  const { controller } = countedSignal();
  const calls = Array.from({ length: 100 }, () => pair.a.request('hang', [], { signal: controller.signal }));
  pair.close();
  const outcomes = await Promise.allSettled(calls);
  t.true(outcomes.every((o) => o.status === 'rejected' && o.reason.name === 'ConnectionClosedError'));
  t.is(getEventListeners(controller.signal, 'abort').length, 0);
  // Aborting afterwards changes nothing (each call settled exactly once).
  controller.abort();
  t.pass();
});
