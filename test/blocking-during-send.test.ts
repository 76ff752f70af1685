/**
 * A blocking call made while agent-ipc serialises a batch of async calls, from a getter
 * (or `toJSON`) of one of their arguments. The blocking call's ordering fence names those
 * async calls, which cannot leave while the thread is parked in it: it used to wait until
 * its timeout (for ever without one) in every direction and isolation (an outside review,
 * 2026-12-07). It is now refused at once with `DeadlockError`, and frames queued from such
 * a getter go after the batch being sent. Nothing here asserts on timing.
 */
import test from 'ava';
import { DeadlockError, spawnAgent, spawnAgentSync, type Agent } from '../src/index.ts';
import { FLUSH_FRAMES } from '../src/connection.ts';
import { connectionPair, table } from './helpers/connection-pair.ts';
import type DuringSendAgent from './fixtures/blocking-during-send/agent.ts';
import type { Caught, DuringSendNodeApi } from './fixtures/blocking-during-send/agent.ts';

const entry = new URL('./fixtures/blocking-during-send/agent.ts', import.meta.url);

test('connection: the fence of a blocking call made while a batch holding requests is serialised is refused', async (t) => {
  const pair = connectionPair(new Map(), table({ echo: (v: unknown) => v }));
  t.teardown(() => pair.close());
  let inner: unknown;
  const sent = pair.a.request('echo', [
    {
      get x() {
        try {
          inner = pair.a.blockingFence('probe');
        } catch (error) {
          inner = error;
        }
        return 1;
      },
    },
  ]);
  t.deepEqual(await sent, { x: 1 });
  t.true(inner instanceof DeadlockError, String(inner));
  t.is((inner as DeadlockError).code, 'ERR_AGENT_IPC_DEADLOCK');
  t.regex((inner as Error).message, /^\[agent-ipc\] call 'probe' cannot be served: .*getter or toJSON/);
  // Once the batch is out, the fence is the last request's id.
  t.is(pair.a.blockingFence('probe'), pair.a.lastOutgoingRequestId);
});

test('connection: a batch that holds no request (an answer) does not refuse the fence', async (t) => {
  let inner: unknown;
  const pair = connectionPair(
    new Map(),
    table({
      withGetter: () => ({
        get x() {
          try {
            inner = pair.b.blockingFence('probe');
          } catch (error) {
            inner = error;
          }
          return 2;
        },
      }),
    }),
  );
  t.teardown(() => pair.close());
  t.deepEqual(await pair.a.request('withGetter', []), { x: 2 });
  t.is(inner, pair.b.lastOutgoingRequestId);
});

test('connection: requests queued from a getter while a batch is sent go after that batch', async (t) => {
  const order: string[] = [];
  const pair = connectionPair(new Map(), table({ mark: (label: string) => void order.push(label), echo: (v: unknown) => v }));
  t.teardown(() => pair.close());
  const inner: Array<Promise<unknown>> = [];
  const outer = pair.a.request('echo', [
    {
      get x() {
        // Enough frames to flush at once, which used to post them before the batch being serialised.
        if (inner.length === 0) for (let i = 0; i < FLUSH_FRAMES + 1; i++) inner.push(pair.a.request('mark', [`inner ${i}`]));
        return 1;
      },
    },
  ]);
  const first = pair.a.request('mark', ['outer']);
  await Promise.all([outer, first]);
  // The getter ran when the batch was sent, after the calls above were made.
  t.is(inner.length, FLUSH_FRAMES + 1);
  await Promise.all(inner);
  t.is(order[0], 'outer');
  t.is(order.length, FLUSH_FRAMES + 2);
});

function start(t: { teardown(fn: () => unknown): void }): Agent<typeof DuringSendAgent> {
  const expose: DuringSendNodeApi = {
    take: (value) => typeof value,
    y: () => 'Y',
    // The node's answer has a getter that calls the agent (blocking): it runs while the node sends that answer.
    answerWithGetter: () => ({
      get value() {
        return agent.blocking.add(2, 3);
      },
    }),
  };
  // A long timeout: without the check, the call would wait all of it.
  const agent: Agent<typeof DuringSendAgent> = spawnAgentSync<typeof DuringSendAgent, DuringSendNodeApi>(entry, { expose, timeoutMs: 60_000 });
  t.teardown(() => agent.close({ timeoutMs: 1000 }));
  return agent;
}

test("node → thread agent: agent.blocking from a getter of agent.remote's argument is a DeadlockError at once, and the agent stays usable", async (t) => {
  t.timeout(30_000);
  const agent = start(t);
  let inner: unknown = 'getter not read';
  const echoed = await agent.remote.echo({
    get x() {
      try {
        inner = agent.blocking.add(1, 2);
      } catch (error) {
        inner = error;
      }
      return 1;
    },
  });
  t.deepEqual(echoed, { x: 1 });
  t.true(inner instanceof DeadlockError, String(inner));
  t.regex((inner as Error).message, /call 'add' cannot be served/);
  t.is(agent.blocking.add(1, 2), 3);
  // A getter in an *answer* the node sends: that batch holds no request, so the call is served.
  t.is(await agent.remote.answerGetter(), 5);
});

for (const isolation of ['thread', 'process'] as const) {
  test(`${isolation} agent → node: main.blocking from a getter of main.async's argument is a DeadlockError at once`, async (t) => {
    t.timeout(30_000);
    const agent = await spawnAgent<typeof DuringSendAgent, DuringSendNodeApi>(entry, {
      isolation,
      timeoutMs: 60_000,
      expose: { take: (value) => typeof value, y: () => 'Y', answerWithGetter: () => ({ value: 0 }) },
    });
    t.teardown(() => agent.close({ timeoutMs: 1000 }));
    const { sent, inner } = await agent.remote.blockInGetter();
    t.is(sent, 'object');
    t.like(inner as Caught, { name: 'DeadlockError', code: 'ERR_AGENT_IPC_DEADLOCK' });
    t.regex((inner as Caught).message, /call 'y' cannot be served: .*getter or toJSON/);
    t.is(await agent.remote.y(), 'Y');
  });
}
