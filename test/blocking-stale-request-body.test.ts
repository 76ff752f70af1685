/**
 * Blocking requests too large for a mailbox's byte area (their bodies travel on the side
 * port) that their caller withdraws, at its timeout, before the other side claims them:
 * the body must not wait on the receiving end of the port for a later request to skip it
 * (held there for good if no later request went through the port). It is dropped under
 * the claim of the caller's next request of any size, or, in a mailbox, as soon as its
 * server sees the withdrawal. One test per mailbox that carries requests: the forward one
 * (agent → node), the reverse one (node → agent) and its call-back slot (the agent
 * calling back into a node parked on it).
 *
 * The side that must not claim in time is held on a gate or on a mailbox's STATE word
 * until the request was withdrawn: nothing depends on how long anything takes, nothing
 * asserts on timing, and every wait is bounded.
 */
import { MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import test from 'ava';
import { ProtocolError, TimeoutError, spawnAgentSync, type Agent } from '../src/index.ts';
import { Flag, Phase, SEQ_MASK, Slot, phaseOf } from '../src/blocking/mailbox.ts';
import { FixedArea, MAX_STALE_SIDE_BODIES, RequestInbox } from '../src/blocking/mailbox-body.ts';
import { ByteArea, encodeToNewBuffer } from '../src/blocking/value-codec.ts';
import type StaleRequestAgent from './fixtures/stale-request-body/agent.ts';
import { Step, waitUntil, type StaleRequestNodeApi } from './fixtures/stale-request-body/agent.ts';
import { TIMED_OUT, bounded } from './fixtures/bounded-wait.ts';

type Context = { teardown(fn: () => unknown): void };

/** What the tests read of the node's server of the forward mailbox (internals). */
interface ServerInternals {
  header: Int32Array;
  sidePort: MessagePort;
  /** The STATE word its `Atomics.waitAsync` waits on, if any. */
  parkedOn: number | undefined;
}

/** What the tests read of the node's side of the reverse mailbox (internals). */
interface NodeCallerInternals {
  callbackPort: MessagePort;
}

function nodeApi(): StaleRequestNodeApi {
  return {
    bigBytes: (bytes) => Uint8Array.of(bytes.length & 0xff),
    small: () => 1,
    hold(buffer) {
      const gate = new Int32Array(buffer);
      waitUntil(gate, 0, () => Atomics.load(gate, 0) > Step.GO, "the agent's call-back to be over");
      return 'held';
    },
  };
}

function start(t: Context): { agent: Agent<typeof StaleRequestAgent>; server: ServerInternals; nodeCaller: NodeCallerInternals } {
  const agent = spawnAgentSync<typeof StaleRequestAgent, StaleRequestNodeApi>(new URL('./fixtures/stale-request-body/agent.ts', import.meta.url), {
    expose: nodeApi(),
    startupTimeoutMs: 20_000,
  });
  t.teardown(() => agent.close({ timeoutMs: 1000 }));
  const internals = agent as unknown as { mailbox: ServerInternals; nodeCaller: NodeCallerInternals };
  return { agent, server: internals.mailbox, nodeCaller: internals.nodeCaller };
}

/** Polls (on the event loop, bounded) until `done()`. */
async function eventually(done: () => boolean): Promise<boolean> {
  const result = await bounded(
    (async () => {
      while (!done()) await new Promise((resolve) => setTimeout(resolve, 5));
    })(),
    30_000,
  );
  return result !== TIMED_OUT;
}

/**
 * Has the agent make a forward blocking call with a body on the side port while this
 * thread is held (the node's server runs on it, so cannot claim the call): it times out
 * unclaimed. Returns the agent's call, which answers once this thread lets go.
 */
async function withdrawForwardBig(
  t: { is(a: unknown, b: unknown): void; true(v: boolean): void },
  agent: Agent<typeof StaleRequestAgent>,
  server: ServerInternals,
  thenSmall: boolean,
): Promise<number> {
  const buffer = new SharedArrayBuffer(4);
  const gate = new Int32Array(buffer);
  const call = agent.remote.forwardBigThenSmall(buffer, thenSmall);
  t.true(await eventually(() => Atomics.load(gate, 0) === Step.ENTERED));
  Atomics.store(gate, 0, Step.GO);
  Atomics.notify(gate, 0);
  // Held off the event loop from here: the agent's request cannot be claimed.
  waitUntil(gate, 0, () => Atomics.load(gate, 0) > Step.GO, "the agent's big request to end");
  t.is(Atomics.load(gate, 0), Step.TIMED_OUT);
  if (thenSmall) {
    // Still held until the agent's next request is out: the server first sees that one, not the withdrawal.
    waitUntil(server.header, Slot.STATE, () => phaseOf(Atomics.load(server.header, Slot.STATE)) === Phase.REQUEST, "the agent's small request");
  }
  return call;
}

test("forward mailbox: a withdrawn side-port body is dropped under the claim of the agent's next request, however small", async (t) => {
  t.timeout(90_000);
  const { agent, server } = start(t);
  t.is(await withdrawForwardBig(t, agent, server, true), 1);
  t.is(receiveMessageOnPort(server.sidePort), undefined, 'the withdrawn body waits on the side port');
});

test('forward mailbox: without a next request, a withdrawn side-port body is dropped once the server sees the withdrawal', async (t) => {
  t.timeout(90_000);
  const { agent, server } = start(t);
  t.is(await withdrawForwardBig(t, agent, server, false), 0);
  // The server's next look at STATE finds the withdrawn request (IDLE), and it then waits on that word.
  t.true(await eventually(() => server.parkedOn !== undefined && server.parkedOn === Atomics.load(server.header, Slot.STATE)));
  t.is(phaseOf(Atomics.load(server.header, Slot.STATE)), Phase.IDLE);
  t.is(receiveMessageOnPort(server.sidePort), undefined, 'the withdrawn body waits on the side port');
});

test("reverse mailbox: a withdrawn side-port body is dropped under the claim of the node's next request, however small", async (t) => {
  t.timeout(90_000);
  const { agent } = start(t);
  const buffer = new SharedArrayBuffer(4);
  const gate = new Int32Array(buffer);
  // The agent's thread is held until the node's second request is out: the first cannot be claimed.
  const held = agent.remote.holdForTwoRequests(buffer);
  t.true(await eventually(() => Atomics.load(gate, 0) === Step.ENTERED));
  t.throws(() => agent.callBlocking('bigBytes', new Uint8Array(100_000), { timeoutMs: 100 }), { instanceOf: TimeoutError });
  t.is(agent.blocking.small(), 1);
  await held;
  t.is(await agent.remote.reverseBodiesLeft(), 0, 'the withdrawn body waits on the side port');
});

/**
 * Has the agent (called by this thread, parked on it) make a call-back with a body on the
 * call-back side port that times out unclaimed, then, if `thenSmall`, a small one.
 */
async function withdrawCallbackBig(
  t: { is(a: unknown, b: unknown): void; fail(message: string): void },
  agent: Agent<typeof StaleRequestAgent>,
  thenSmall: boolean,
): Promise<boolean> {
  // The node's `hold` (an async call the agent sends just before its call-back) holds the
  // node's thread until the call-back timed out unclaimed. Rarely the parked node looks at
  // the call-back slot before it reads that call: the call-back is then answered, and the
  // test tries again.
  for (let attempt = 0; attempt < 20; attempt++) {
    await agent.remote.setCallbackGate(new SharedArrayBuffer(4));
    const outcome = agent.blocking.callbackBigThenSmall(thenSmall);
    if (outcome.startsWith('answered')) continue;
    t.is(outcome, thenSmall ? 'timed out 1' : 'timed out 0');
    return true;
  }
  t.fail('the call-back was never withdrawn unclaimed');
  return false;
}

test("call-back slot: a withdrawn side-port body is dropped under the claim of the agent's next call-back, however small", async (t) => {
  t.timeout(90_000);
  const { agent, nodeCaller } = start(t);
  if (!(await withdrawCallbackBig(t, agent, true))) return;
  t.is(receiveMessageOnPort(nodeCaller.callbackPort), undefined, 'the withdrawn body waits on the call-back side port');
});

test('call-back slot: without a next call-back, a withdrawn side-port body is dropped as the node leaves its wait', async (t) => {
  t.timeout(90_000);
  const { agent, nodeCaller } = start(t);
  if (!(await withdrawCallbackBig(t, agent, false))) return;
  t.is(receiveMessageOnPort(nodeCaller.callbackPort), undefined, 'the withdrawn body waits on the call-back side port');
  // The slot still works: a call-back after it is served.
  t.is(agent.blocking.callbackSmall(), 1);
});

// ── the inbox's sweep against bodies posted early ─────────────────────────────────────
// A caller posts a body on the side port *before* the CAS that publishes its request, so
// a sweep of withdrawn bodies may meet the next request's live body. These run the
// reader's end directly (one thread, both ends of a channel), in the orders a sweep can
// see.

function channel(t: Context): { post(seq: number, value: unknown): void; inbox: RequestInbox; port: MessagePort; area: FixedArea } {
  const { port1, port2 } = new MessageChannel();
  t.teardown(() => {
    port1.close();
    port2.close();
  });
  const area = new FixedArea(new ByteArea(new SharedArrayBuffer(1024)));
  return {
    post(seq, value) {
      const body = encodeToNewBuffer(value);
      port1.postMessage({ seq, body }, [body.buffer as ArrayBuffer]);
    },
    inbox: new RequestInbox(port2),
    port: port2,
    area,
  };
}

test('a sweep after a withdrawal drops the bodies up to it and keeps the next request, posted before it was published', (t) => {
  const { post, inbox, port, area } = channel(t);
  post(4, ['old', []]);
  post(5, ['withdrawn', []]);
  post(6, ['next', [6]]);
  post(7, ['after', [7]]);
  inbox.dropWithdrawn(5);
  // 6 was taken off the port and kept; 7 is still there behind it.
  inbox.dropWithdrawn(5);
  t.deepEqual(inbox.read(area, 6, Flag.VIA_PORT, 0, 'body'), ['next', [6]]);
  t.deepEqual(inbox.read(area, 7, Flag.VIA_PORT, 0, 'body'), ['after', [7]]);
  t.is(receiveMessageOnPort(port), undefined);
});

test('a body kept by a sweep is dropped once its request was withdrawn too, by a sweep or under a later claim', (t) => {
  const { post, inbox, port, area } = channel(t);
  post(1, ['withdrawn', []]);
  post(2, ['withdrawn too', []]);
  inbox.dropWithdrawn(1);
  inbox.dropWithdrawn(2);
  t.is(receiveMessageOnPort(port), undefined);
  post(3, ['withdrawn', []]);
  inbox.dropWithdrawn(2); // keeps 3
  inbox.dropWithdrawn(3); // drops it
  post(4, ['withdrawn', []]);
  inbox.dropWithdrawn(3); // keeps 4
  post(5, ['on the port', [5]]);
  t.deepEqual(inbox.read(area, 5, Flag.VIA_PORT | Flag.STALE_BEFORE, 0, 'body'), ['on the port', [5]]);
  post(6, ['withdrawn', []]);
  inbox.dropWithdrawn(5); // keeps 6
  const end = area.encode(['in the area', [7]]);
  t.deepEqual(inbox.read(area, 7, Flag.STALE_BEFORE, end, 'body'), ['in the area', [7]]);
  t.is((inbox as unknown as { early: unknown }).early, undefined);
  t.is(receiveMessageOnPort(port), undefined);
});

test('a sweep orders sequence numbers across their wrap', (t) => {
  const { post, inbox, port, area } = channel(t);
  post(SEQ_MASK - 1, ['withdrawn', []]);
  post(SEQ_MASK, ['withdrawn', []]);
  post(0, ['next', [0]]);
  inbox.dropWithdrawn(SEQ_MASK);
  t.deepEqual(inbox.read(area, 0, Flag.VIA_PORT, 0, 'body'), ['next', [0]]);
  t.is(receiveMessageOnPort(port), undefined);
});

test('a body marked STALE_BEFORE drops at most 4,096 stale bodies, then is a ProtocolError', (t) => {
  const { post, inbox, area } = channel(t);
  for (let seq = 0; seq <= MAX_STALE_SIDE_BODIES; seq++) post(seq, ['withdrawn', []]);
  const end = area.encode(['in the area', []]);
  t.throws(() => inbox.read(area, MAX_STALE_SIDE_BODIES + 1, Flag.STALE_BEFORE, end, 'body'), { instanceOf: ProtocolError, message: /more than 4096 stale bodies/ });
});
