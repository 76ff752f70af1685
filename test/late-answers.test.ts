/**
 * Late answers to calls this end gave up on are dropped, however many calls timed out;
 * only answers that could never be valid (an id never issued, a second answer to an
 * answered call) break the protocol. More calls time out here than the connection
 * remembers exactly (65,536), which once got an honest slow agent killed.
 */
import test from 'ava';
import { FrameKind } from '../src/wire.ts';
import { ProtocolError, TimeoutError, spawnAgent } from '../src/index.ts';
import { connectionPair, table } from './helpers/connection-pair.ts';

/** More than the 65,536 abandoned ids a connection remembers one by one. */
const MANY = 70_000;

test(`${MANY} timed-out calls: every late answer is dropped, the connection stays open`, async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const pair = connectionPair(new Map(), table({ hold: async () => (await gate, 'late'), fast: () => 'fast' }), {
    a: { maxInFlight: 2 * MANY },
    b: { maxInFlight: 2 * MANY },
  });
  t.teardown(() => pair.close());
  // Nothing is answered before the gate opens, and it opens after every call timed out.
  const calls = Array.from({ length: MANY }, () => pair.a.request('hold', [], { timeoutMs: 1 }));
  const outcomes = await Promise.allSettled(calls);
  t.true(outcomes.every((outcome) => outcome.status === 'rejected' && outcome.reason instanceof TimeoutError));
  t.is(pair.a.inFlight, 0);
  const answersBefore = pair.sentByB.length;
  release();
  // The other side answers in order, so this call's answer comes after all the late ones.
  t.is(await pair.a.request('fast', []), 'fast');
  const lateResponses = pair.sentByB
    .slice(answersBefore)
    .flat()
    .filter((slot) => slot === FrameKind.RESPONSE).length;
  t.true(lateResponses >= MANY, 'the late answers were all sent');
  t.false(pair.a.closed, 'late answers are not a protocol break');

  // Frames that could never be valid still are, after all those timeouts.
  const closed = new Promise<Error>((resolve) => pair.a.onClose(resolve));
  pair.portB.postMessage([FrameKind.RESPONSE, pair.a.lastOutgoingRequestId + 1000, 'never asked']);
  t.true((await closed) instanceof ProtocolError);
});

test('after many timeouts, a second answer to a call that was answered is still a protocol break', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const pair = connectionPair(new Map(), table({ hold: async () => (await gate, 'late'), fast: () => 'fast' }), {
    a: { maxInFlight: 2 * MANY },
    b: { maxInFlight: 2 * MANY },
  });
  t.teardown(() => pair.close());
  await Promise.allSettled(Array.from({ length: MANY }, () => pair.a.request('hold', [], { timeoutMs: 1 })));
  release();
  t.is(await pair.a.request('fast', []), 'fast');
  const answered = pair.a.lastOutgoingRequestId;
  const closed = new Promise<Error>((resolve) => pair.a.onClose(resolve));
  pair.portB.postMessage([FrameKind.RESPONSE, answered, 'again']);
  const reason = await closed;
  t.true(reason instanceof ProtocolError);
  t.regex(reason.message, new RegExp(`unknown request id ${answered}`));
});

test(`thread agent: ${MANY} calls time out, the slow agent answers them all late and is not stopped`, async (t) => {
  const agent = await spawnAgent<{ hold(): string; release(): number; ping(): string }>(new URL('./fixtures/lifecycle/gated-agent.ts', import.meta.url), {
    maxInFlight: 2 * MANY,
    // Start-up time is not what this test is about (a loaded machine may exceed the default).
    startupTimeoutMs: 0,
  });
  t.teardown(() => agent.close());
  const outcomes = await Promise.allSettled(Array.from({ length: MANY }, () => agent.call('hold', new Uint8Array(), { timeoutMs: 1 })));
  t.true(outcomes.every((outcome) => outcome.status === 'rejected' && outcome.reason instanceof TimeoutError));
  t.is(await agent.remote.release(), MANY);
  // The late answers leave right after release()'s; ping()'s answer comes after them all.
  t.is(await agent.remote.ping(), 'pong');
  let exited = false;
  void agent.exited.then(() => (exited = true));
  await new Promise((resolve) => setImmediate(resolve));
  t.false(exited, 'the agent was not stopped as a protocol breaker');
});
