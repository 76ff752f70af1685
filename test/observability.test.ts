/**
 * Tracing (`agent-ipc:call`, `agent-ipc:agent:spawn`, `agent-ipc:agent:exit`) and
 * stats/metrics, in every isolation: every call kind is seen to start and end with the
 * right fields, calls an agent makes while serving a node call name it as their parent,
 * failed calls publish `error`, and the counters agree with the calls made.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { channel, tracingChannel } from 'node:diagnostics_channel';
import test from 'ava';
import { spawnAgent, type Agent, type AgentExitMessage, type AgentSpawnMessage, type CallTraceContext, type Isolation } from '../src/index.ts';
import type TracedAgent from './fixtures/traced-agent.ts';

const tracedAgent = new URL('./fixtures/traced-agent.ts', import.meta.url);
const nodeApi = {
  add: (a: number, b: number) => a + b,
  addLater: async (a: number, b: number) => a + b,
  fail(message: string): never {
    throw new RangeError(message);
  },
};

type EventName = 'start' | 'end' | 'asyncStart' | 'asyncEnd' | 'error';

/** Every event of the call tracing channel while `body` runs, by context, in order. */
async function traced<T>(body: () => Promise<T>): Promise<{ result: T; calls: Map<CallTraceContext, EventName[]> }> {
  const calls = new Map<CallTraceContext, EventName[]>();
  const on = (event: EventName) => (message: unknown) => {
    const context = message as CallTraceContext;
    const events = calls.get(context) ?? [];
    events.push(event);
    calls.set(context, events);
  };
  const handlers = { start: on('start'), end: on('end'), asyncStart: on('asyncStart'), asyncEnd: on('asyncEnd'), error: on('error') };
  const calling = tracingChannel('agent-ipc:call');
  calling.subscribe(handlers);
  try {
    return { result: await body(), calls };
  } finally {
    calling.unsubscribe(handlers);
  }
}

function ofAgent(calls: Map<CallTraceContext, EventName[]>, agent: Agent<unknown>): Array<[CallTraceContext, EventName[]]> {
  return [...calls].filter(([context]) => context.agent === agent.name);
}

for (const isolation of ['inline', 'thread', 'process'] as const satisfies readonly Isolation[]) {
  test.serial(`${isolation}: every call kind publishes start and end with its fields; nested calls name their parent`, async (t) => {
    const agent = await spawnAgent<typeof TracedAgent>(tracedAgent, { isolation, expose: nodeApi });
    try {
      const { calls } = await traced(async () => {
        t.is(await agent.remote.echo(7), 7);
        t.deepEqual(await agent.remote.nested(5), [6, 7]);
      });
      const seen = ofAgent(calls, agent);
      const find = (method: string, direction: string, kind: string) =>
        seen.filter(([c]) => c.method === method && c.direction === direction && c.kind === kind);
      const [echo] = find('echo', 'node-to-agent', 'async');
      const [nested] = find('nested', 'node-to-agent', 'async');
      const [asyncAdd] = find('add', 'agent-to-node', 'async');
      const [blockingAdd] = find('add', 'agent-to-node', 'blocking');
      t.truthy(echo && nested && asyncAdd && blockingAdd, 'one context per call');
      t.is(seen.length, 4, 'nothing else is published (the announcements of the served call are not calls)');
      // A call into the agent always goes on after its synchronous part.
      t.deepEqual(echo![1], ['start', 'end', 'asyncStart', 'asyncEnd']);
      t.deepEqual(nested![1], ['start', 'end', 'asyncStart', 'asyncEnd']);
      // The node's handlers answered synchronously.
      t.deepEqual(asyncAdd![1], ['start', 'end']);
      t.deepEqual(blockingAdd![1], ['start', 'end']);
      for (const [context] of seen) {
        t.is(context.agent, agent.name);
        t.true(Number.isSafeInteger(context.callId) && context.callId > 0);
        t.is(context.outcome, 'ok');
        t.true(typeof context.durationMs === 'number' && context.durationMs >= 0);
        t.is(context.error, undefined);
      }
      t.is(echo![0].parentCallId, undefined);
      t.is(nested![0].parentCallId, undefined);
      t.is(asyncAdd![0].parentCallId, nested![0].callId, 'the async call names the node call it was made in');
      t.is(blockingAdd![0].parentCallId, nested![0].callId, 'so does the blocking call, made after an await');
    } finally {
      await agent.close();
    }
  });

  test.serial(`${isolation}: failed calls publish error with the error, both ways and both kinds`, async (t) => {
    // Generous: a loaded machine must not turn a prompt answer into a timeout.
    const agent = await spawnAgent<typeof TracedAgent>(tracedAgent, { isolation, expose: nodeApi, timeoutMs: 5_000 });
    try {
      const { calls } = await traced(async () => {
        await t.throwsAsync(agent.remote.fail('from the agent'), { message: /from the agent/ });
        t.deepEqual(await agent.remote.nodeFails(), ['blocking', 'async']);
        await t.throwsAsync(agent.remote.slow(60_000), { name: 'TimeoutError' });
      });
      const seen = ofAgent(calls, agent);
      const failed = (method: string, direction: string, kind: string) =>
        seen.find(([c]) => c.method === method && c.direction === direction && c.kind === kind);
      const intoAgent = failed('fail', 'node-to-agent', 'async');
      t.deepEqual(intoAgent?.[1], ['start', 'end', 'error', 'asyncStart', 'asyncEnd']);
      t.is(intoAgent?.[0].outcome, 'error');
      t.regex((intoAgent?.[0].error as Error).message, /from the agent/);
      const blocking = failed('fail', 'agent-to-node', 'blocking');
      t.deepEqual(blocking?.[1], ['start', 'error', 'end']);
      t.true(blocking?.[0].error instanceof RangeError);
      const async = failed('fail', 'agent-to-node', 'async');
      t.deepEqual(async?.[1], ['start', 'error', 'end']);
      t.is(async?.[0].outcome, 'error');
      const nodeFails = failed('nodeFails', 'node-to-agent', 'async');
      t.is(blocking?.[0].parentCallId, nodeFails?.[0].callId);
      t.is(async?.[0].parentCallId, nodeFails?.[0].callId);
      const slow = failed('slow', 'node-to-agent', 'async');
      t.deepEqual(slow?.[1], ['start', 'end', 'error', 'asyncStart', 'asyncEnd']);
      t.is(slow?.[0].outcome, 'timeout');
      t.is((slow?.[0].error as Error).name, 'TimeoutError');
    } finally {
      await agent.close();
    }
  });

  test.serial(`${isolation}: spawn and exit are published with the agent's identity`, async (t) => {
    const spawned: AgentSpawnMessage[] = [];
    const exited: AgentExitMessage[] = [];
    const onSpawn = (message: unknown) => spawned.push(message as AgentSpawnMessage);
    const onExit = (message: unknown) => exited.push(message as AgentExitMessage);
    channel('agent-ipc:agent:spawn').subscribe(onSpawn);
    channel('agent-ipc:agent:exit').subscribe(onExit);
    try {
      const agent = await spawnAgent<typeof TracedAgent>(tracedAgent, { isolation, expose: nodeApi, name: `lifecycle-${isolation}` });
      await agent.close();
      const identity = { agent: agent.name, isolation, pid: agent.pid, threadId: agent.threadId };
      const spawns = spawned.filter((m) => m.agent === agent.name);
      t.is(spawns.length, 1);
      t.like(spawns[0], identity);
      // The message reads the agent's metrics (here after its exit: at once).
      t.like((await spawns[0]!.metrics()).calls[0], { direction: 'node-to-agent', calls: 0 });
      const exits = exited.filter((m) => m.agent === agent.name);
      t.is(exits.length, 1);
      t.like(exits[0], identity);
      t.deepEqual(exits[0]!.exit, await agent.exited);
      t.is(exits[0]!.exit.code, 0);
    } finally {
      channel('agent-ipc:agent:spawn').unsubscribe(onSpawn);
      channel('agent-ipc:agent:exit').unsubscribe(onExit);
    }
  });

  test.serial(`${isolation}: a store bound to the call channel's start is in effect in the node's handlers, across await, for both kinds`, async (t) => {
    const store = new AsyncLocalStorage<CallTraceContext>();
    const start = tracingChannel('agent-ipc:call').start;
    const seen: Array<[string, CallTraceContext | undefined]> = [];
    const expose = {
      ...nodeApi,
      add(a: number, b: number): number {
        seen.push(['add', store.getStore()]);
        return a + b;
      },
      async addLater(a: number, b: number): Promise<number> {
        await new Promise((resolve) => setTimeout(resolve, 1));
        seen.push(['addLater', store.getStore()]);
        return a + b;
      },
    };
    const agent = await spawnAgent<typeof TracedAgent>(tracedAgent, { isolation, expose });
    try {
      await agent.remote.nested(1);
      t.deepEqual(seen, [
        ['add', undefined],
        ['add', undefined],
      ], 'no store while none is bound');
      seen.length = 0;
      start.bindStore(store, (context) => context as CallTraceContext);
      try {
        t.deepEqual(await agent.remote.nested(1), [2, 3]);
        t.is(await agent.remote.later(2), 3);
      } finally {
        start.unbindStore(store);
      }
      t.is(store.getStore(), undefined, 'the store is left outside the handlers');
      const fields = seen.map(([where, context]) => [where, context?.agent, context?.direction, context?.kind, context?.method]);
      t.deepEqual(fields, [
        ['add', agent.name, 'agent-to-node', 'async', 'add'],
        ['add', agent.name, 'agent-to-node', 'blocking', 'add'],
        ['addLater', agent.name, 'agent-to-node', 'async', 'addLater'],
      ]);
      t.is(seen[1]![1]?.parentCallId, seen[0]![1]?.parentCallId, 'both calls of nested name the same parent');
    } finally {
      await agent.close();
    }
  });

  test.serial(`${isolation}: stats agree with the calls made, traced or not`, async (t) => {
    const agent = await spawnAgent<typeof TracedAgent>(tracedAgent, { isolation, expose: nodeApi });
    try {
      await agent.remote.nested(1);
      const { calls } = await traced(async () => {
        await agent.remote.nested(2);
        await t.throwsAsync(agent.remote.fail('x'));
      });
      t.is(ofAgent(calls, agent).length, 4);
      t.deepEqual(await agent.remote.nodeFails(), ['blocking', 'async']);
      t.deepEqual({ ...agent.stats }, { callsOut: 4, callsIn: 3, blockingCalls: 3, errors: 3 });
    } finally {
      await agent.close();
    }
  });
}

for (const isolation of ['inline', 'thread', 'process'] as const satisfies readonly Isolation[]) {
  test.serial(`${isolation}: metrics agree with the calls made and report the agent's runtime`, async (t) => {
    const agent = await spawnAgent<typeof TracedAgent>(tracedAgent, { isolation, expose: nodeApi, timeoutMs: 5_000 });
    try {
      for (let i = 0; i < 5; i++) await agent.remote.nested(i);
      await t.throwsAsync(agent.remote.fail('x'));
      t.deepEqual(await agent.remote.nodeFails(), ['blocking', 'async']);
      const metrics = await agent.metrics({ timeoutMs: 10_000 });
      t.like(metrics, { agent: agent.name, isolation, pid: agent.pid, threadId: agent.threadId });
      const [intoAgent, asyncIn, blockingIn, blockingOut] = metrics.calls;
      t.is(metrics.calls.length, 4);
      t.like(blockingOut, { direction: 'node-to-agent', kind: 'blocking', calls: 0, inFlight: 0 });
      t.like(intoAgent, { direction: 'node-to-agent', kind: 'async', calls: 7, inFlight: 0, ok: 6, errors: 1, timeouts: 0, aborted: 0, closed: 0 });
      t.like(asyncIn, { direction: 'agent-to-node', kind: 'async', calls: 6, inFlight: 0, ok: 5, errors: 1 });
      t.like(blockingIn, { direction: 'agent-to-node', kind: 'blocking', calls: 6, inFlight: 0, ok: 5, errors: 1 });
      for (const calls of [intoAgent!, asyncIn!, blockingIn!]) {
        const { latency } = calls;
        t.is(latency.count, calls.calls);
        t.true(latency.minMs > 0 && latency.minMs <= latency.p50Ms && latency.p50Ms <= latency.p99Ms && latency.p99Ms <= latency.maxMs * 1.01);
        t.true(latency.totalMs >= latency.maxMs);
      }
      t.is(metrics.parkedMs, blockingIn!.latency.totalMs);
      const runtime = metrics.runtime;
      t.truthy(runtime, 'the agent measured its runtime');
      t.true(runtime!.eventLoopUtilization >= 0 && runtime!.eventLoopUtilization <= 1);
      t.true(runtime!.heapUsedBytes > 0 && runtime!.heapTotalBytes >= runtime!.heapUsedBytes);
      if (isolation === 'process') t.true(runtime!.cpuUserMs! > 0);
      if (isolation === 'inline') t.is(runtime!.cpuUserMs, undefined);
      // Stats and metrics count the same calls.
      t.deepEqual({ ...agent.stats }, { callsOut: 7, callsIn: 6, blockingCalls: 6, errors: 3 });
    } finally {
      await agent.close();
    }
  });
}

for (const isolation of ['inline', 'thread'] as const satisfies readonly Isolation[]) {
  test.serial(`${isolation}: a burst of calls in one turn is counted exactly, its latency sampled`, async (t) => {
    const agent = await spawnAgent<typeof TracedAgent>(tracedAgent, { isolation, expose: nodeApi, timeoutMs: 30_000 });
    try {
      const n = 2000;
      // Each way, n calls answer i + 1: the sum of 1..n, twice.
      t.is(await agent.remote.burst(n), n * (n + 1));
      const metrics = await agent.metrics({ timeoutMs: 10_000 });
      const [, asyncIn, blockingIn] = metrics.calls;
      for (const calls of [asyncIn!, blockingIn!]) {
        t.like(calls, { calls: n, ok: n, inFlight: 0, errors: 0 });
        const { latency } = calls;
        t.is(latency.count, n, 'every settled call is counted, timed or not');
        t.true(latency.minMs > 0 && latency.minMs <= latency.p50Ms && latency.p50Ms <= latency.p99Ms && latency.p99Ms <= latency.maxMs * 1.01);
        // The samples are weighed: the estimate of the sum is of the calls' order, not of the samples'.
        t.true(latency.totalMs >= latency.minMs * n * 0.1, `totalMs ${latency.totalMs} against minMs ${latency.minMs}`);
        t.is(latency.meanMs, latency.totalMs / n);
      }
      t.is(metrics.parkedMs, blockingIn!.latency.totalMs);
    } finally {
      await agent.close();
    }
  });
}

for (const isolation of ['inline', 'thread'] as const satisfies readonly Isolation[]) {
  // The observer reads one field per call, cleared when a subscription changes
  // (tracing-switch.ts): a subscriber to end alone must see every call from the next one,
  // in the same turn, and its leaving must stop them as soon.
  test.serial(`${isolation}: a subscriber to end alone sees blocking calls both ways at once, and nothing once it leaves`, async (t) => {
    const agent = await spawnAgent<typeof TracedAgent>(tracedAgent, { isolation, expose: nodeApi, timeoutMs: 30_000 });
    const ended: CallTraceContext[] = [];
    const onEnd = (message: unknown): void => {
      const context = message as CallTraceContext;
      if (context.agent === agent.name && context.kind === 'blocking') ended.push(context);
    };
    const end = channel('tracing:agent-ipc:call:end');
    try {
      // A blocking call first, in the same turn: no other call has looked since.
      end.subscribe(onEnd);
      t.is(agent.blocking.echo(3), 3);
      const n = 50;
      t.is(await agent.remote.burst(n), n * (n + 1));
      t.is(ended.filter((c) => c.direction === 'agent-to-node' && c.method === 'add' && c.outcome === 'ok').length, n);
      t.deepEqual(
        ended.filter((c) => c.direction === 'node-to-agent').map((c) => [c.method, c.outcome]),
        [['echo', 'ok']],
      );
      end.unsubscribe(onEnd);
      const seen = ended.length;
      t.is(agent.blocking.echo(4), 4);
      t.is(await agent.remote.burst(n), n * (n + 1));
      t.is(ended.length, seen, 'nothing is published once the subscriber left');
      t.like(agent.stats, { blockingCalls: 2 * n });
    } finally {
      end.unsubscribe(onEnd);
      await agent.close();
    }
  });
}

for (const isolation of ['inline', 'thread'] as const satisfies readonly Isolation[]) {
  // Within one burst — one event-loop turn for an inline agent, often for a spinning
  // thread agent's server — a subscription change must reach the very next call: the
  // blocking hooks' fast path skips even the tracing check (agent-observer.ts).
  test.serial(`${isolation}: a subscriber that comes and goes in the middle of a burst sees exactly the calls that started and ended while it was there`, async (t) => {
    const ended: CallTraceContext[] = [];
    const onEnd = (message: unknown): void => {
      const context = message as CallTraceContext;
      if (context.kind === 'blocking' && context.method === 'add') ended.push(context);
    };
    const end = channel('tracing:agent-ipc:call:end');
    let served = 0;
    const add = (a: number, b: number): number => {
      served++;
      if (served === 10) end.subscribe(onEnd);
      if (served === 30) end.unsubscribe(onEnd);
      return a + b;
    };
    const agent = await spawnAgent<typeof TracedAgent>(tracedAgent, { isolation, expose: { ...nodeApi, add }, timeoutMs: 30_000 });
    try {
      const n = 50;
      t.is(await agent.remote.burst(n), n * (n + 1));
      // Calls 11–29: started after the subscription, ended before it left (the 10th
      // started untraced; the 30th ended after it).
      t.deepEqual(
        ended.map((c) => c.callId),
        Array.from({ length: 19 }, (_, i) => 11 + i),
      );
    } finally {
      end.unsubscribe(onEnd);
      await agent.close();
    }
  });
}

test.serial('metrics of an exited agent resolve at once with its last runtime sample', async (t) => {
  const agent = await spawnAgent<typeof TracedAgent>(tracedAgent, { isolation: 'thread', expose: nodeApi });
  const before = await agent.metrics({ timeoutMs: 10_000 });
  t.truthy(before.runtime);
  await agent.close();
  const after = await agent.metrics({ timeoutMs: 60_000 });
  t.deepEqual(after.runtime, before.runtime);
  t.like(after.calls[0], { calls: 0, inFlight: 0 });
  await t.throwsAsync(async () => agent.metrics({ timeoutMs: -1 }), { instanceOf: TypeError, message: /timeoutMs/ });
});

test.serial('a call cut short by the agent exiting counts as closed', async (t) => {
  const agent = await spawnAgent<typeof TracedAgent>(tracedAgent, { isolation: 'thread', expose: nodeApi });
  const slow = agent.remote.slow(60_000);
  await agent.close({ timeoutMs: 50 });
  await t.throwsAsync(slow);
  const metrics = await agent.metrics();
  t.like(metrics.calls[0], { calls: 1, inFlight: 0, closed: 1, ok: 0 });
});
