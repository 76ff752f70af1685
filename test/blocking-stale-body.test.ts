/**
 * The node's blocking call into a thread agent that times out while the agent writes a
 * large answer (one that travels on the mailbox's side port): the body the agent posts
 * afterwards is dropped as soon as the node can know it is stale — at its next call,
 * or on its event loop without one — and never waits on the port for a later call, so
 * it can never be taken for another call's answer and the node holds one at most.
 * The agent's writing waits on a gate the test opens: no sleep is tuned to timing, and
 * nothing here asserts on timing.
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import test from 'ava';
import { TimeoutError, spawnAgentSync, type Agent } from '../src/index.ts';
import type StaleBodyAgent from './fixtures/stale-body/agent.ts';
import { answeredOnceReleased } from './fixtures/answered-once-released.ts';

type Context = { teardown(fn: () => unknown): void };

/** What the test reads of the node's side of the reverse mailbox (internals). */
interface NodeCallerInternals {
  sidePort: MessagePort;
  givenUpPending: boolean;
}

function start(t: Context): { agent: Agent<typeof StaleBodyAgent>; caller: NodeCallerInternals; open(ticket: number): void } {
  const gate = new SharedArrayBuffer(4);
  const agent = spawnAgentSync<typeof StaleBodyAgent>(new URL('./fixtures/stale-body/agent.ts', import.meta.url), { data: { gate }, timeoutMs: 200 });
  t.teardown(() => agent.close({ timeoutMs: 1000 }));
  const caller = (agent as unknown as { nodeCaller: NodeCallerInternals }).nodeCaller;
  const word = new Int32Array(gate);
  return {
    agent,
    caller,
    open(ticket) {
      Atomics.store(word, 0, ticket);
      Atomics.notify(word, 0);
    },
  };
}

test('the body of an answer given up is dropped by the next call, however small its own answer', (t) => {
  t.timeout(60_000);
  const { agent, caller, open } = start(t);
  t.throws(() => agent.blocking.gatedLarge('s', 1), { instanceOf: TimeoutError });
  open(1);
  answeredOnceReleased(t, () => agent.blocking.small(), 1, 'small()');
  // Nothing is left on the side port: the stale body did not wait there for a later call.
  t.is(receiveMessageOnPort(caller.sidePort), undefined);
  // A large answer afterwards is the call's own.
  t.is(agent.blocking.large('n'), 'n'.repeat(1 << 20));
});

test('without a next call, the body of an answer given up is dropped on the event loop once the agent has written it', async (t) => {
  t.timeout(60_000);
  const { agent, caller, open } = start(t);
  t.throws(() => agent.blocking.gatedLarge('s', 1), { instanceOf: TimeoutError });
  t.true(caller.givenUpPending);
  open(1);
  // No call: the event loop looks until the agent has let go (ava's timeout bounds it).
  while (caller.givenUpPending) await new Promise((resolve) => setTimeout(resolve, 10));
  t.is(receiveMessageOnPort(caller.sidePort), undefined);
  t.is(agent.blocking.large('n'), 'n'.repeat(1 << 20));
});

test('many calls given up this way leave no bodies behind', (t) => {
  t.timeout(60_000);
  const { agent, caller, open } = start(t);
  for (let ticket = 1; ticket <= 3; ticket++) {
    t.throws(() => agent.blocking.gatedLarge(String(ticket), ticket), { instanceOf: TimeoutError });
    open(ticket);
    answeredOnceReleased(t, () => agent.blocking.small(), 1, 'small()');
  }
  t.is(receiveMessageOnPort(caller.sidePort), undefined);
});
