/**
 * The observability contract of docs/observability.md, checked adversarially: every
 * call, however it ends (answered, failed with a non-Error, timed out, aborted, cut short
 * by an exit, refused before it starts), publishes exactly one well-formed sequence of
 * `agent-ipc:call` events whose context carries the documented fields and nothing else,
 * and `agent.stats` / `agent.metrics()` count the same calls; subscribers that keep
 * state on the context, throw, or come and go mid-call change nothing for the calls.
 */
import { spawnSync } from 'node:child_process';
import { channel, tracingChannel } from 'node:diagnostics_channel';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { spawnAgent, type Agent, type AgentExitMessage, type AgentMetrics, type AgentSpawnMessage, type CallMetrics, type CallTraceContext, type Isolation } from '../src/index.ts';
import { AgentCallObserver } from '../src/observability/agent-observer.ts';
import type ContractAgent from './fixtures/observability-contract-agent.ts';
import type { ContractNodeApi } from './fixtures/observability-contract-agent.ts';

const contractAgent = new URL('./fixtures/observability-contract-agent.ts', import.meta.url);
const throwingFactory = new URL('./fixtures/throwing-factory-agent.ts', import.meta.url);

type EventName = 'start' | 'end' | 'asyncStart' | 'asyncEnd' | 'error';

/** The fields docs/observability.md lists, and when each is set. */
const START_FIELDS = ['agent', 'direction', 'kind', 'method', 'callId', 'parentCallId', 'startedAt'];
const SETTLE_FIELDS = ['outcome', 'durationMs', 'error'];

interface Seen {
  events: EventName[];
  /** The context's own keys when `start` was published, and at its last event. */
  keysAtStart?: string[];
  keysAtEnd: string[];
}

/** Every event of `agent-ipc:call` while subscribed, by context, in order. */
function record(): { calls: Map<CallTraceContext, Seen>; stop: () => void } {
  const calls = new Map<CallTraceContext, Seen>();
  const on = (event: EventName) => (message: unknown) => {
    const context = message as CallTraceContext;
    let seen = calls.get(context);
    if (!seen) calls.set(context, (seen = { events: [], keysAtEnd: [] }));
    seen.events.push(event);
    if (event === 'start') seen.keysAtStart = Object.keys(context);
    seen.keysAtEnd = Object.keys(context);
  };
  const handlers = { start: on('start'), end: on('end'), asyncStart: on('asyncStart'), asyncEnd: on('asyncEnd'), error: on('error') };
  const calling = tracingChannel('agent-ipc:call');
  calling.subscribe(handlers);
  return { calls, stop: () => calling.unsubscribe(handlers) };
}

/** The sequences docs/observability.md allows, by direction and kind. */
function allowed(context: CallTraceContext): string[] {
  const failed = context.outcome !== 'ok';
  if (context.direction === 'node-to-agent' && context.kind === 'async') return [failed ? 'start,end,error,asyncStart,asyncEnd' : 'start,end,asyncStart,asyncEnd'];
  if (context.direction === 'node-to-agent') return [failed ? 'start,error,end' : 'start,end'];
  return failed ? ['start,error,end', 'start,end,error,asyncStart,asyncEnd'] : ['start,end', 'start,end,asyncStart,asyncEnd'];
}

/** Checks every recorded call of `agent`: one documented sequence, the documented fields of the documented types, and nothing else. */
function checkCalls(t: import('ava').ExecutionContext, calls: Map<CallTraceContext, Seen>, agent: Agent<unknown>): Array<[CallTraceContext, Seen]> {
  const mine = [...calls].filter(([context]) => context.agent === agent.name);
  for (const [context, seen] of mine) {
    const label = `${context.direction} ${context.kind} ${context.method} #${context.callId} (${context.outcome})`;
    t.true(allowed(context).includes(seen.events.join(',')), `${label}: ${seen.events.join(',')}`);
    t.deepEqual(seen.keysAtStart?.filter((key) => !START_FIELDS.includes(key)), [], `${label}: only the start fields at start`);
    t.deepEqual(
      seen.keysAtEnd.filter((key) => !START_FIELDS.includes(key) && !SETTLE_FIELDS.includes(key)),
      [],
      `${label}: no undocumented field`,
    );
    t.true(['node-to-agent', 'agent-to-node'].includes(context.direction), label);
    t.true(['async', 'blocking'].includes(context.kind), label);
    t.is(typeof context.method, 'string', label);
    t.true(Number.isSafeInteger(context.callId) && context.callId > 0, label);
    t.true(context.parentCallId === undefined || Number.isSafeInteger(context.parentCallId), label);
    t.is(typeof context.startedAt, 'number', label);
    t.true(['ok', 'error', 'timeout', 'aborted', 'closed'].includes(context.outcome!), label);
    t.true(typeof context.durationMs === 'number' && context.durationMs >= 0, label);
    if (context.outcome === 'ok') t.false('error' in context, `${label}: no error on a call that succeeded`);
  }
  return mine;
}

/** The metrics entry of one direction and kind. */
function entry(metrics: AgentMetrics, direction: string, kind: string): CallMetrics {
  return metrics.calls.find((c) => c.direction === direction && c.kind === kind)!;
}

/** Counts the traced calls of `agent` by direction, kind and outcome, as metrics count them. */
function checkAgree(t: import('ava').ExecutionContext, traced: Array<[CallTraceContext, Seen]>, metrics: AgentMetrics): void {
  const field = { ok: 'ok', error: 'errors', timeout: 'timeouts', aborted: 'aborted', closed: 'closed' } as const;
  for (const calls of metrics.calls) {
    const of = traced.filter(([c]) => c.direction === calls.direction && c.kind === calls.kind);
    t.is(calls.inFlight, 0, `${calls.direction} ${calls.kind}: nothing in flight`);
    t.is(calls.calls, of.length, `${calls.direction} ${calls.kind}: one traced call per counted call`);
    for (const [outcome, name] of Object.entries(field)) {
      t.is(calls[name], of.filter(([c]) => c.outcome === outcome).length, `${calls.direction} ${calls.kind} ${outcome}`);
    }
    t.is(calls.latency.count, calls.calls);
  }
}

const gate = (): { promise: Promise<void>; open: () => void } => {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
};

function nodeApi(): ContractNodeApi & { slowBytes(payload: Uint8Array): Promise<Uint8Array> } {
  return {
    add: (a: number, b: number) => a + b,
    addLater: async (a: number, b: number) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      return a + b;
    },
    throwUndefined(): never {
      throw undefined;
    },
    async rejectUndefined(): Promise<never> {
      await Promise.resolve();
      throw undefined;
    },
    big: (size: number) => new Uint8Array(size),
    unclonable: () => () => undefined,
    bigLater: async (size: number) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      return new Uint8Array(size);
    },
    bigNested: (size: number) => ({ nested: { bytes: new Uint8Array(size) } }),
    unclonableLater: async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      return () => undefined;
    },
    throwBig(size: number): never {
      throw new Error('x'.repeat(size));
    },
    never: () => new Promise<never>(() => undefined),
    bytes: (payload: Uint8Array) => Uint8Array.from(payload).reverse(),
    slowBytes: (payload: Uint8Array) => new Promise((resolve) => setTimeout(() => resolve(payload), 200)),
  };
}

const isolations = ['inline', 'thread', 'process'] as const satisfies readonly Isolation[];

for (const isolation of isolations) {
  test.serial(`${isolation}: every call kind, however it ends, publishes one documented sequence with the documented fields, and metrics count the same calls`, async (t) => {
    const { calls, stop } = record();
    const agent = await spawnAgent<typeof ContractAgent>(contractAgent, { isolation, expose: nodeApi(), timeoutMs: 30_000, maxMessageBytes: 4096, maxInFlight: 8 });
    try {
      // node → agent, async, every ending.
      t.is(await agent.remote.echo(1), 1);
      await t.throwsAsync(agent.remote.throwUndefined());
      await t.throwsAsync(agent.remote.rejectUndefined());
      await t.throwsAsync(agent.call('hang', new Uint8Array(0), { timeoutMs: 20 }), { name: 'TimeoutError' });
      const controller = new AbortController();
      const aborted = agent.call('hang', new Uint8Array(0), { signal: controller.signal });
      controller.abort();
      await t.throwsAsync(aborted, { name: 'AbortError' });
      t.deepEqual([...(await agent.call('reverse', new Uint8Array([1, 2])))], [2, 1]);
      // Refused at the call site: not sent, neither counted nor published.
      await t.throwsAsync(agent.call('echo', new Uint8Array(0), { timeoutMs: -1 }));
      await t.throwsAsync(agent.call('echo', new Uint8Array(0), { signal: AbortSignal.abort() }), { name: 'AbortError' });
      await t.throwsAsync(agent.call('echo', new Uint8Array(8192)), { name: 'MessageTooLargeError' });
      // agent → node, async and blocking, every ending.
      t.deepEqual(await agent.remote.callAsync('add', 1, 2), { ok: 3 });
      t.deepEqual(await agent.remote.callAsync('addLater', 1, 2), { ok: 3 });
      t.deepEqual(await agent.remote.callAsync('throwUndefined'), { error: 'ThrownValueError' });
      t.deepEqual(await agent.remote.callAsync('rejectUndefined'), { error: 'ThrownValueError' });
      t.deepEqual(await agent.remote.callAsync('nope' as 'add'), { error: 'UnknownMethodError' });
      t.deepEqual(await agent.remote.callAsync('big', 8192), { error: 'MessageTooLargeError' });
      t.deepEqual(await agent.remote.callBlocking('add', 1, 2), { ok: 3 });
      t.deepEqual(await agent.remote.callBlocking('throwUndefined'), { error: 'ThrownValueError' });
      t.deepEqual(await agent.remote.callBlocking('nope' as 'add'), { error: 'UnknownMethodError' });
      if (isolation === 'inline') {
        t.deepEqual(await agent.remote.callBlocking('addLater', 1, 2), { error: 'BlockingNotAllowedError' });
      } else {
        t.deepEqual(await agent.remote.callBlocking('addLater', 1, 2), { ok: 3 });
        t.deepEqual(await agent.remote.callBlocking('rejectUndefined'), { error: 'ThrownValueError' });
      }
      // The byte layer, both ways, both kinds.
      t.deepEqual(await agent.remote.bytesBothWays(), [
        [3, 2, 1],
        [6, 5, 4],
      ]);
      // node → agent, blocking.
      if (isolation !== 'process') {
        t.is(agent.blocking.echo(5), 5);
        t.throws(() => agent.blocking.throwUndefined());
        t.deepEqual([...agent.callBlocking('reverse', new Uint8Array([7, 8]))], [8, 7]);
      }
      const metrics = await agent.metrics({ timeoutMs: 10_000 });
      const traced = checkCalls(t, calls, agent);
      checkAgree(t, traced, metrics);
      t.like(entry(metrics, 'node-to-agent', 'async'), { errors: 2, timeouts: 1, aborted: 1 });
      t.like(entry(metrics, 'agent-to-node', 'async'), { ok: 3, errors: 4 });
      // Answered with an error, as the agent saw them: the handler's throw, an unknown method, a promise an inline agent cannot wait for, a rejection.
      t.like(entry(metrics, 'agent-to-node', 'blocking'), isolation === 'inline' ? { ok: 2, errors: 3 } : { ok: 3, errors: 3 });
      const { nodeToAgent, agentToNode, blocking, nodeBlocking } = Object.fromEntries(
        [
          ['nodeToAgent', entry(metrics, 'node-to-agent', 'async')],
          ['agentToNode', entry(metrics, 'agent-to-node', 'async')],
          ['blocking', entry(metrics, 'agent-to-node', 'blocking')],
          ['nodeBlocking', entry(metrics, 'node-to-agent', 'blocking')],
        ] as const,
      );
      t.deepEqual(
        { ...agent.stats },
        {
          callsOut: nodeToAgent!.calls + nodeBlocking!.calls,
          callsIn: agentToNode!.calls,
          blockingCalls: blocking!.calls,
          errors: nodeToAgent!.errors + agentToNode!.errors + blocking!.errors + nodeBlocking!.errors,
        },
      );
    } finally {
      stop();
      await agent.close();
    }
  });

  test.serial(`${isolation}: a subscriber keeping its own state on the context (as documented) does not change the events`, async (t) => {
    // A subscriber that marks its span pending/started on the context, natural names.
    const onStart = (message: unknown): void => {
      const context = message as unknown as Record<string, unknown>;
      context.started = false;
      context.pending = true;
    };
    const start = channel('tracing:agent-ipc:call:start');
    start.subscribe(onStart);
    const { calls, stop } = record();
    const agent = await spawnAgent<typeof ContractAgent>(contractAgent, { isolation, expose: nodeApi(), timeoutMs: 30_000 });
    try {
      t.deepEqual(await agent.remote.callAsync('add', 1, 2), { ok: 3 });
      t.deepEqual(await agent.remote.callBlocking('add', 1, 2), { ok: 3 });
      t.deepEqual(await agent.remote.callAsync('nope' as 'add'), { error: 'UnknownMethodError' });
      const served = [...calls].filter(([c]) => c.agent === agent.name && c.direction === 'agent-to-node');
      t.deepEqual(
        served.map(([c, seen]) => [c.kind, c.method, seen.events.join(',')]),
        [
          ['async', 'add', 'start,end'],
          ['blocking', 'add', 'start,end'],
          ['async', 'nope', 'start,error,end'],
        ],
      );
    } finally {
      start.unsubscribe(onStart);
      stop();
      await agent.close();
    }
  });

  test.serial(`${isolation}: a failed start publishes spawn, then exit with the error, once each`, async (t) => {
    const seen: Array<['spawn', AgentSpawnMessage] | ['exit', AgentExitMessage]> = [];
    const onSpawn = (message: unknown): void => void seen.push(['spawn', message as AgentSpawnMessage]);
    const onExit = (message: unknown): void => void seen.push(['exit', message as AgentExitMessage]);
    channel('agent-ipc:agent:spawn').subscribe(onSpawn);
    channel('agent-ipc:agent:exit').subscribe(onExit);
    const name = `contract-failed-start-${isolation}`;
    try {
      await t.throwsAsync(spawnAgent(throwingFactory, { isolation, name }), { message: /factory refused to start/ });
      const mine = seen.filter(([, m]) => m.agent === name);
      t.deepEqual(
        mine.map(([event]) => event),
        ['spawn', 'exit'],
      );
      const exit = mine[1]![1] as AgentExitMessage;
      t.regex((exit.exit.error as Error | undefined)?.message ?? '', /factory refused to start/);
      t.deepEqual(Object.keys(mine[0]![1]).sort(), ['agent', 'isolation', 'metrics', 'pid', 'threadId']);
      t.deepEqual(Object.keys(exit).sort(), ['agent', 'exit', 'isolation', 'pid', 'threadId']);
    } finally {
      channel('agent-ipc:agent:spawn').unsubscribe(onSpawn);
      channel('agent-ipc:agent:exit').unsubscribe(onExit);
    }
  });
}

for (const isolation of ['thread', 'process'] as const) {
  test.serial(`${isolation}: calls cut short by the agent's exit end once each, as closed, both ways and both kinds`, async (t) => {
    const { calls, stop } = record();
    const blockingGate = gate();
    const asyncGate = gate();
    const expose = {
      ...nodeApi(),
      // The agent's calls into the node, answered only after the agent is gone.
      addLater: async (a: number, b: number) => {
        await blockingGate.promise;
        return a + b;
      },
      never: async () => {
        await asyncGate.promise;
        return 0 as never;
      },
    };
    const agent = await spawnAgent<typeof ContractAgent>(contractAgent, { isolation, expose, timeoutMs: 30_000 });
    try {
      // The agent parks in a blocking call and makes an async one, the node serves both; the node's own calls hang.
      const servedAsync = agent.remote.callAsync('never');
      const hung = agent.remote.hang();
      const parked = agent.remote.callBlocking('addLater', 1, 2);
      // Both served calls have started on the node before the agent goes.
      await new Promise<void>((resolve) => {
        const poll = (): void => {
          const { callsIn, blockingCalls } = agent.stats;
          if (callsIn >= 1 && blockingCalls >= 1) resolve();
          else setTimeout(poll, 5);
        };
        poll();
      });
      (agent as unknown as { terminate(): void }).terminate();
      await agent.exited;
      await t.throwsAsync(servedAsync, { name: 'AgentExitedError' });
      await t.throwsAsync(hung, { name: 'AgentExitedError' });
      await t.throwsAsync(parked, { name: 'AgentExitedError' });
      // The node's handlers answer now, to nobody.
      blockingGate.open();
      asyncGate.open();
      await new Promise((resolve) => setTimeout(resolve, 20));
      const metrics = await agent.metrics();
      const traced = checkCalls(t, calls, agent);
      checkAgree(t, traced, metrics);
      t.like(entry(metrics, 'node-to-agent', 'async'), { calls: 3, closed: 3 });
      t.like(entry(metrics, 'agent-to-node', 'async'), { calls: 1, closed: 1, ok: 0 });
      t.like(entry(metrics, 'agent-to-node', 'blocking'), { calls: 1, closed: 1, ok: 0 });
    } finally {
      stop();
      await agent.close();
    }
  });
}

/** The agent → node blocking calls of `traced`: method, outcome, the error's class and the events, in order. */
function blockingEndings(traced: Array<[CallTraceContext, Seen]>): Array<[string, string | undefined, string | undefined, string]> {
  return traced
    .filter(([context]) => context.direction === 'agent-to-node' && context.kind === 'blocking')
    .map(([context, seen]) => [context.method, context.outcome, (context.error as Error | undefined)?.name, seen.events.join(',')]);
}

/** Sleeps the node's thread (its event loop does not run meanwhile). */
function sleepThread(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

// The blocking servers encode the node's answer after the handler returned, and replace
// an answer over maxMessageBytes (or one the codec cannot carry) with an error: the
// call is counted and traced with the error the agent got, once, after the answer was
// written.
for (const isolation of ['thread', 'process'] as const) {
  test.serial(`${isolation}: a blocking call whose answer is replaced (too large, not encodable) counts and traces as an error, with the agent's error`, async (t) => {
    const { calls, stop } = record();
    const agent = await spawnAgent<typeof ContractAgent>(contractAgent, { isolation, expose: nodeApi(), timeoutMs: 30_000, maxMessageBytes: 4096 });
    try {
      t.deepEqual(await agent.remote.callBlocking('big', 8192), { error: 'MessageTooLargeError' });
      t.deepEqual(await agent.remote.callBlocking('unclonable'), { error: 'DataCloneError' });
      t.deepEqual(await agent.remote.callBlocking('bigLater', 8192), { error: 'MessageTooLargeError' });
      t.deepEqual(await agent.remote.callBlocking('throwBig', 8192), { error: 'MessageTooLargeError' });
      t.deepEqual(await agent.remote.callBlocking('big', 16), { ok: new Uint8Array(16) });
      const metrics = await agent.metrics({ timeoutMs: 10_000 });
      const traced = checkCalls(t, calls, agent);
      checkAgree(t, traced, metrics);
      t.deepEqual(blockingEndings(traced), [
        ['big', 'error', 'MessageTooLargeError', 'start,error,end'],
        ['unclonable', 'error', 'DataCloneError', 'start,error,end'],
        ['bigLater', 'error', 'MessageTooLargeError', 'start,end,error,asyncStart,asyncEnd'],
        ['throwBig', 'error', 'MessageTooLargeError', 'start,error,end'],
        ['big', 'ok', undefined, 'start,end'],
      ]);
      t.like(entry(metrics, 'agent-to-node', 'blocking'), { calls: 5, ok: 1, errors: 4 });
      t.like(agent.stats, { blockingCalls: 5, errors: 4 });
    } finally {
      stop();
      await agent.close();
    }
  });
}

/** How a call into the node ended, as the agent saw it: `ok` or the error's name. */
const ending = (seen: { ok: unknown } | { error: string | undefined }): string | undefined => ('ok' in seen ? 'ok' : seen.error);

/** The async calls of `traced` in one direction: method, outcome, the error's class and the events, in order. */
function asyncEndings(traced: Array<[CallTraceContext, Seen]>, direction: string): Array<[string, string | undefined, string | undefined, string]> {
  return traced
    .filter(([context]) => context.direction === direction && context.kind === 'async')
    .map(([context, seen]) => [context.method, context.outcome, (context.error as Error | undefined)?.name, seen.events.join(',')]);
}

// The twin of the blocking case in the async path: an answer is checked against
// maxMessageBytes by a cheap estimate when it is queued, and encoded only when its batch
// is sent (thread: structured clone; process: the stream frame writer; inline: handed
// over as it is). An answer the transport refuses reaches its caller as an error: the
// side serving the call must count and trace that error, not `ok`.
for (const isolation of isolations) {
  test.serial(`${isolation}: an async call whose answer cannot be sent (too large, not encodable) counts and traces as the error its caller got, both ways`, async (t) => {
    const { calls, stop } = record();
    const agent = await spawnAgent<typeof ContractAgent>(contractAgent, { isolation, expose: nodeApi(), timeoutMs: 30_000, maxMessageBytes: 4096 });
    // Inline agents hand answers over by reference: nothing is encoded, nothing replaced.
    const cloned = isolation !== 'inline';
    // Only the stream frame writer measures an encoded answer whole; between threads the estimate is the limit.
    const measured = isolation === 'process';
    try {
      // agent → node: the node serves, the agent gets the answer or its replacement.
      const seen = [
        ending(await agent.remote.callAsync('unclonable')),
        ending(await agent.remote.callAsync('unclonableLater')),
        ending(await agent.remote.callAsync('bigNested', 8192)),
        ending(await agent.remote.callAsync('big', 8192)),
        ending(await agent.remote.callAsync('big', 16)),
        ending(await agent.remote.callAsync('throwBig', 8192)),
      ];
      const clone = cloned ? 'DataCloneError' : 'ok';
      const nested = measured ? 'MessageTooLargeError' : 'ok';
      // An error is held to the limit as a result is, in every isolation (its record is measured whole).
      const thrown = 'MessageTooLargeError';
      t.deepEqual(seen, [clone, clone, nested, 'MessageTooLargeError', 'ok', thrown], 'what the agent got');
      // node → agent: the agent serves, the node is the caller (its metrics are the caller's view).
      const outcome = async (call: Promise<unknown>): Promise<string | undefined> =>
        call.then(
          () => 'ok',
          (error: unknown) => (error as Error | undefined)?.name,
        );
      t.deepEqual(
        [await outcome(agent.remote.unclonable()), await outcome(agent.remote.bigNested(8192)), await outcome(agent.remote.echo(1))],
        [clone, nested, 'ok'],
        'what the node got',
      );
      const metrics = await agent.metrics({ timeoutMs: 10_000 });
      const traced = checkCalls(t, calls, agent);
      checkAgree(t, traced, metrics);
      const served = (method: string, name: string, later: boolean): [string, string | undefined, string | undefined, string] =>
        name === 'ok' ? [method, 'ok', undefined, later ? 'start,end,asyncStart,asyncEnd' : 'start,end'] : [method, 'error', name, later ? 'start,end,error,asyncStart,asyncEnd' : 'start,error,end'];
      t.deepEqual(
        asyncEndings(traced, 'agent-to-node').filter(([method]) => method !== 'agent-ipc:serving'),
        [served('unclonable', clone, false), served('unclonableLater', clone, true), served('bigNested', nested, false), served('big', 'MessageTooLargeError', false), served('big', 'ok', false), served('throwBig', thrown, false)],
        'what the node counted and traced of the calls it served',
      );
      const made = (method: string, name: string): [string, string | undefined, string | undefined, string] =>
        name === 'ok' ? [method, 'ok', undefined, 'start,end,asyncStart,asyncEnd'] : [method, 'error', name, 'start,end,error,asyncStart,asyncEnd'];
      t.deepEqual(
        asyncEndings(traced, 'node-to-agent').filter(([method]) => ['unclonable', 'bigNested', 'echo'].includes(method)),
        [made('unclonable', clone), made('bigNested', nested), made('echo', 'ok')],
        'what the node counted and traced of its calls',
      );
      const errorsIn = [clone, clone, nested, 'MessageTooLargeError', thrown].filter((name) => name !== 'ok').length;
      t.like(entry(metrics, 'agent-to-node', 'async'), { calls: 6, ok: 6 - errorsIn, errors: errorsIn });
      // Untraced, the counters say the same (the token is a number then).
      stop();
      t.deepEqual([ending(await agent.remote.callAsync('unclonable')), ending(await agent.remote.callAsync('bigNested', 8192))], [clone, nested]);
      const untracedErrors = [clone, nested].filter((name) => name !== 'ok').length;
      t.like(entry(await agent.metrics({ timeoutMs: 10_000 }), 'agent-to-node', 'async'), { calls: 8, inFlight: 0, ok: 8 - errorsIn - untracedErrors, errors: errorsIn + untracedErrors });
    } finally {
      stop();
      await agent.close();
    }
  });
}

for (const isolation of ['thread', 'process'] as const) {
  test.serial(`${isolation}: a handler still running after its caller gave up ends with its own outcome, beside the next call's replaced answer`, async (t) => {
    const { calls, stop } = record();
    const agent = await spawnAgent<typeof ContractAgent>(contractAgent, { isolation, expose: nodeApi(), timeoutMs: 30_000, maxMessageBytes: 4096 });
    try {
      // slowBytes answers after 200 ms: the agent gives up after 20, and calls again while it runs.
      t.deepEqual(await agent.remote.callBytesBlockingTimingOut('slowBytes', 20), { error: 'TimeoutError' });
      t.deepEqual(await agent.remote.callBlocking('big', 8192), { error: 'MessageTooLargeError' });
      // The slow handler ends by itself: wait for its last event, however loaded the machine.
      const slowEnded = (): boolean => [...calls].some(([context, seen]) => context.method === 'slowBytes' && seen.events.includes('asyncEnd'));
      for (const end = Date.now() + 30_000; !slowEnded() && Date.now() < end; ) await new Promise((resolve) => setTimeout(resolve, 10));
      const metrics = await agent.metrics({ timeoutMs: 10_000 });
      const traced = checkCalls(t, calls, agent);
      checkAgree(t, traced, metrics);
      t.deepEqual(blockingEndings(traced), [
        // Its answer reaches nobody: the handler's outcome stands.
        ['slowBytes', 'ok', undefined, 'start,end,asyncStart,asyncEnd'],
        ['big', 'error', 'MessageTooLargeError', 'start,error,end'],
      ]);
    } finally {
      stop();
      await agent.close();
    }
  });
}

test.serial("thread: while the node is parked in agent.blocking, the agent's blocking calls whose answers are replaced count and trace as errors (call-back slot and the agent's own mailbox)", async (t) => {
  const { calls, stop } = record();
  const agent = await spawnAgent<typeof ContractAgent>(contractAgent, { isolation: 'thread', expose: nodeApi(), timeoutMs: 30_000, maxMessageBytes: 4096 });
  try {
    // Call-backs: the agent's method calls the node while the node's thread is parked in it.
    t.deepEqual(agent.blocking.callBlocking('big', 8192), { error: 'MessageTooLargeError' });
    t.deepEqual(agent.blocking.callBlocking('unclonable'), { error: 'DataCloneError' });
    t.deepEqual(agent.blocking.callBlocking('add', 1, 2), { ok: 3 });
    // A call the agent made through its own mailbox just before the node parked: the parked node serves it.
    const go = new Int32Array(new SharedArrayBuffer(4));
    await agent.remote.blockingLater(go, 'big', 8192);
    // From here the node's thread does not return to its event loop until it has parked.
    Atomics.store(go, 0, 1);
    Atomics.notify(go, 0);
    const mailbox = (agent as unknown as { mailbox: { requestPending(): boolean } }).mailbox;
    for (const end = Date.now() + 10_000; !mailbox.requestPending() && Date.now() < end; ) sleepThread(2);
    t.true(mailbox.requestPending(), "the agent's request waits in its mailbox");
    t.deepEqual(agent.blocking.laterSeen(), { error: 'MessageTooLargeError' });
    const metrics = await agent.metrics({ timeoutMs: 10_000 });
    const traced = checkCalls(t, calls, agent);
    checkAgree(t, traced, metrics);
    t.deepEqual(blockingEndings(traced), [
      ['big', 'error', 'MessageTooLargeError', 'start,error,end'],
      ['unclonable', 'error', 'DataCloneError', 'start,error,end'],
      ['add', 'ok', undefined, 'start,end'],
      ['big', 'error', 'MessageTooLargeError', 'start,error,end'],
    ]);
    t.like(entry(metrics, 'agent-to-node', 'blocking'), { calls: 4, ok: 1, errors: 3 });
    t.like(entry(metrics, 'node-to-agent', 'blocking'), { calls: 4, ok: 4 });
  } finally {
    stop();
    await agent.close();
  }
});

test.serial('thread: too many in flight and a closing agent refuse calls without counting or publishing them; the calls in flight end as closed', async (t) => {
  const { calls, stop } = record();
  const agent = await spawnAgent<typeof ContractAgent>(contractAgent, { isolation: 'thread', expose: nodeApi(), timeoutMs: 30_000, maxInFlight: 2 });
  try {
    const hung = [agent.remote.hang(), agent.remote.hang()];
    await t.throwsAsync(agent.remote.hang(), { name: 'TooManyCallsError' });
    t.like(entry(await agent.metrics({ timeoutMs: 10_000 }), 'node-to-agent', 'async'), { calls: 2, inFlight: 2 });
    const closing = agent.close({ timeoutMs: 50 });
    await t.throwsAsync(agent.remote.echo(1), { name: 'ConnectionClosedError' });
    t.throws(() => agent.blocking.echo(1), { name: 'ConnectionClosedError' });
    await closing;
    for (const call of hung) await t.throwsAsync(call);
    const metrics = await agent.metrics();
    checkAgree(t, checkCalls(t, calls, agent), metrics);
    t.like(entry(metrics, 'node-to-agent', 'async'), { calls: 2, closed: 2 });
    t.like(entry(metrics, 'node-to-agent', 'blocking'), { calls: 0 });
  } finally {
    stop();
    await agent.close();
  }
});

test.serial('thread: metrics() settles while the agent is busy (with its previous sample), while it exits, and once it is gone', async (t) => {
  const agent = await spawnAgent<typeof ContractAgent>(contractAgent, { isolation: 'thread', expose: nodeApi(), timeoutMs: 30_000 });
  const first = await agent.metrics({ timeoutMs: 10_000 });
  t.truthy(first.runtime);
  // Busy: its event loop does not answer.
  const busy = agent.remote.spin(1_500);
  const whileBusy = await agent.metrics({ timeoutMs: 50 });
  t.deepEqual(whileBusy.runtime, first.runtime, 'the previous sample');
  t.like(entry(whileBusy, 'node-to-agent', 'async'), { inFlight: 1 });
  t.true((await busy) > 0);
  // Parked in a blocking call the node never answers: no answer either.
  const parked = agent.remote.callBlocking('never');
  await new Promise<void>((resolve) => {
    const poll = (): void => (agent.stats.blockingCalls >= 1 ? resolve() : void setTimeout(poll, 5));
    poll();
  });
  const waiting = agent.metrics({ timeoutMs: 600_000 });
  // Exiting while a metrics() waits: it settles with the exit.
  await agent.close({ timeoutMs: 100 });
  t.deepEqual(await parked, { error: 'ConnectionClosedError' }, 'the agent woke from its blocking call');
  const atExit = await waiting;
  t.like(entry(atExit, 'agent-to-node', 'blocking'), { calls: 1 });
  // Gone: at once.
  t.like(await agent.metrics({ timeoutMs: 600_000 }), { agent: agent.name });
});

test.serial('thread: a subscription that comes or goes mid-call leaves the switch right: a call is traced whole or not at all', async (t) => {
  const agent = await spawnAgent<typeof ContractAgent>(contractAgent, { isolation: 'thread', expose: nodeApi(), timeoutMs: 30_000 });
  try {
    const startOnly: CallTraceContext[] = [];
    const ended: CallTraceContext[] = [];
    const onStart = (m: unknown): void => void startOnly.push(m as CallTraceContext);
    const onAsyncEnd = (m: unknown): void => void ended.push(m as CallTraceContext);
    const start = channel('tracing:agent-ipc:call:start');
    const asyncEnd = channel('tracing:agent-ipc:call:asyncEnd');
    // Subscribed mid-call: that call stays untraced, the next is traced.
    const first = agent.remote.slow(30);
    asyncEnd.subscribe(onAsyncEnd);
    await first;
    t.is(ended.length, 0, 'a call that started untraced is not published');
    // One subscriber of two leaves mid-call: the call goes on being traced for the other.
    start.subscribe(onStart);
    const second = agent.remote.slow(30);
    start.unsubscribe(onStart);
    await second;
    t.deepEqual(
      ended.map((c) => c.method),
      ['slow'],
    );
    t.is(startOnly[0], ended[0]);
    // The last one leaves mid-call, then a store is bound and unbound: tracing is off after.
    const third = agent.remote.slow(30);
    asyncEnd.unsubscribe(onAsyncEnd);
    await third;
    const store = new (await import('node:async_hooks')).AsyncLocalStorage();
    start.bindStore(store);
    start.unbindStore(store);
    const observer = (agent as unknown as { observer: AgentCallObserver }).observer;
    t.false(observer.traced(), 'nobody traces');
    t.is(await agent.remote.echo(1), 1);
    t.is(ended.length, 1);
  } finally {
    await agent.close();
  }
});

test.serial('with nobody subscribed, the observer allocates nothing per call: every token is a number', (t) => {
  const observer = new AgentCallObserver('counting', () => undefined);
  t.false(observer.traced());
  const tokens: unknown[] = [];
  for (let i = 1; i <= 1000; i++) {
    const out = observer.outgoingStarted(i, 'm');
    observer.outgoingSettled(out, i % 2 ? 'ok' : 'error', undefined);
    const inc = observer.incomingStarted(i, 'm');
    observer.incomingSettled(inc, 'ok', undefined);
    const blocking = observer.blockingStarted('m');
    observer.blockingSettled(blocking, 'ok', undefined);
    const nodeBlocking = observer.nodeBlockingStarted('m');
    observer.nodeBlockingSettled(nodeBlocking, 'timeout', undefined);
    tokens.push(out, inc, blocking, nodeBlocking);
  }
  t.deepEqual(tokens.filter((token) => typeof token !== 'number'), []);
  t.like(observer.nodeToAgent, { started: 1000, ok: 500, errors: 500 });
  t.like(observer.nodeBlocking, { started: 1000, timeouts: 1000 });
});

/**
 * A subscriber that throws: Node reports its error as an uncaught exception (on a later
 * tick) and goes on; the library's calls must not notice. Run in a child process of its
 * own, which counts what reaches 'uncaughtException'.
 */
test.serial('a subscriber that throws (every event, spawn, exit, a store transform) breaks no call; each throw is reported once as an uncaught exception', (t) => {
  const script = fileURLToPath(new URL('./fixtures/observability-throwing-subscriber.ts', import.meta.url));
  const child = spawnSync(process.execPath, ['--import=tsx', script], { encoding: 'utf8', timeout: 100_000 });
  t.is(child.status, 0, child.stderr);
  const report = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { results: unknown[]; uncaught: string[]; expectedThrows: number };
  t.deepEqual(report.results, [
    ['inline', 3, [3, 3], 5, 'ok'],
    ['thread', 3, [3, 3], 5, 'ok'],
  ]);
  t.true(report.uncaught.every((message) => message.startsWith('subscriber threw')), report.uncaught.join('\n'));
  t.is(report.uncaught.length, report.expectedThrows);
});

// A node → agent blocking call that fails in the node's own caller before its request is
// handed to the agent (too large, not encodable, a deadlock it refuses) is refused at its
// call site, like an async call refused there: neither counted nor published. Only the
// calls that reached the agent are (here: the ones that succeed).
for (const isolation of ['inline', 'thread'] as const) {
  test.serial(`${isolation}: a node → agent blocking call refused before it reaches the agent (too large, not encodable, deadlock) is neither counted nor traced`, async (t) => {
    const { calls, stop } = record();
    const self: { agent?: Agent<typeof ContractAgent> } = {};
    const handlerCalled = gate();
    const handlerGate = gate();
    const expose = {
      ...nodeApi(),
      // Called back by the agent while the node is parked in it: a blocking call into the same agent is a deadlock.
      add: () => self.agent!.blocking.echo(1) as number,
      // A handler of the agent's blocking call that answers later: meanwhile the agent is blocked on the node.
      addLater: async (a: number, b: number) => {
        handlerCalled.open();
        await handlerGate.promise;
        return a + b;
      },
    };
    const agent = await spawnAgent<typeof ContractAgent>(contractAgent, { isolation, expose, timeoutMs: 30_000, maxMessageBytes: 4096 });
    self.agent = agent;
    try {
      t.is(agent.blocking.echo(1), 1);
      // The handler's agent.blocking is refused with DeadlockError; the outer call reached the agent and is counted.
      t.deepEqual(agent.blocking.callBlocking('add', 1, 2), { error: 'DeadlockError' });
      if (isolation === 'thread') {
        t.throws(() => agent.blocking.echo(new Uint8Array(8192)), { name: 'MessageTooLargeError' });
        t.throws(() => agent.blocking.echo(() => undefined), { name: 'DataCloneError' });
        t.throws(() => agent.callBlocking('reverse', new Uint8Array(8192)), { name: 'MessageTooLargeError' });
        // Served async while the node is parked: its handler's agent.blocking finds the node's thread parked already.
        t.deepEqual(agent.blocking.callAsync('add', 1, 2), { error: 'DeadlockError' });
        // The agent is parked in a blocking call whose handler has not answered: the node must not park on it.
        const parked = agent.remote.callBlocking('addLater', 1, 2);
        await handlerCalled.promise;
        t.throws(() => agent.blocking.echo(1), { name: 'DeadlockError' });
        handlerGate.open();
        t.deepEqual(await parked, { ok: 3 });
      }
      const metrics = await agent.metrics({ timeoutMs: 10_000 });
      const traced = checkCalls(t, calls, agent);
      checkAgree(t, traced, metrics);
      const counted = isolation === 'thread' ? 3 : 2;
      t.like(entry(metrics, 'node-to-agent', 'blocking'), { calls: counted, ok: counted, errors: 0 });
      t.deepEqual(
        traced.filter(([c]) => c.direction === 'node-to-agent' && c.kind === 'blocking').map(([c]) => [c.method, c.outcome]),
        isolation === 'thread'
          ? [
              ['echo', 'ok'],
              ['callBlocking', 'ok'],
              ['callAsync', 'ok'],
            ]
          : [
              ['echo', 'ok'],
              ['callBlocking', 'ok'],
            ],
      );
    } finally {
      handlerGate.open();
      stop();
      await agent.close();
    }
  });
}

/** Every event of `agent-ipc:call` and every `agent-ipc:agent:exit`, in one log, in the order published. */
function recordWithExits(): { log: Array<[string, CallTraceContext | AgentExitMessage]>; stop: () => void } {
  const log: Array<[string, CallTraceContext | AgentExitMessage]> = [];
  const on = (event: string) => (message: unknown) => void log.push([event, message as CallTraceContext]);
  const handlers = { start: on('start'), end: on('end'), asyncStart: on('asyncStart'), asyncEnd: on('asyncEnd'), error: on('error') };
  const onExit = (message: unknown): void => void log.push(['exit', message as AgentExitMessage]);
  tracingChannel('agent-ipc:call').subscribe(handlers);
  channel('agent-ipc:agent:exit').subscribe(onExit);
  return {
    log,
    stop: () => {
      tracingChannel('agent-ipc:call').unsubscribe(handlers);
      channel('agent-ipc:agent:exit').unsubscribe(onExit);
    },
  };
}

// When an agent exits, a subscriber sees every call still in flight settle (as closed)
// before the agent's `exit`: the node's calls into it and the calls it made that the
// node still serves, whose handlers never answer.
for (const isolation of ['thread', 'process'] as const) {
  test.serial(`${isolation}: at an agent's exit, every call in flight settles as closed before \`exit\` is published, and its handlers' later answers change nothing`, async (t) => {
    const { log, stop } = recordWithExits();
    const { calls, stop: stopRecording } = record();
    const asyncCalled = gate();
    const blockingCalled = gate();
    const timedOutCalled = gate();
    const answerLater = gate();
    const handlerPromises: Array<Promise<unknown>> = [];
    const expose = {
      ...nodeApi(),
      // Handlers that answer only once the test says so, long after the agent is gone.
      never: () => {
        asyncCalled.open();
        const p = answerLater.promise.then(() => 0 as never);
        handlerPromises.push(p);
        return p;
      },
      addLater: (a: number, b: number) => {
        blockingCalled.open();
        const p = answerLater.promise.then(() => a + b);
        handlerPromises.push(p);
        return p;
      },
      bytes: (payload: Uint8Array) => {
        timedOutCalled.open();
        const p = answerLater.promise.then(() => payload);
        handlerPromises.push(p);
        return p as unknown as Uint8Array;
      },
    };
    const agent = await spawnAgent<typeof ContractAgent>(contractAgent, { isolation, expose, timeoutMs: 30_000 });
    try {
      // A blocking call the agent gives up on (its handler goes on), then one it stays parked in; an async one; the node's own hang.
      t.deepEqual(await agent.remote.callBytesBlockingTimingOut('bytes', 50), { error: 'TimeoutError' });
      await timedOutCalled.promise;
      const servedAsync = agent.remote.callAsync('never');
      const hung = agent.remote.hang();
      const parked = agent.remote.callBlocking('addLater', 1, 2);
      await Promise.all([asyncCalled.promise, blockingCalled.promise]);
      t.like(agent.stats, { callsIn: 1, blockingCalls: 2 });
      (agent as unknown as { terminate(): void }).terminate();
      await agent.exited;
      for (const call of [servedAsync, hung, parked]) await t.throwsAsync(call, { name: 'AgentExitedError' });
      const afterExit = await agent.metrics();
      for (const calls of afterExit.calls) t.is(calls.inFlight, 0, `${calls.direction} ${calls.kind}: nothing in flight once the agent is gone`);
      t.like(entry(afterExit, 'node-to-agent', 'async'), { closed: 3 });
      t.like(entry(afterExit, 'agent-to-node', 'async'), { calls: 1, closed: 1 });
      t.like(entry(afterExit, 'agent-to-node', 'blocking'), { calls: 2, closed: 2 });
      // The order a subscriber saw: each call's last event, then exit.
      const mine = log.filter(([, m]) => m.agent === agent.name);
      const exitAt = mine.findIndex(([event]) => event === 'exit');
      t.is(mine.filter(([event]) => event === 'exit').length, 1);
      t.is(exitAt, mine.length - 1, `exit is the last event: ${mine.map(([event, m]) => `${event}:${(m as CallTraceContext).method ?? ''}`).join(' ')}`);
      const closed = mine.filter(([event, m]) => event !== 'exit' && (m as CallTraceContext).outcome === 'closed');
      t.true(closed.length > 0);
      // The handlers answer now, to nobody: nothing is counted or published again.
      const events = log.length;
      answerLater.open();
      await Promise.all(handlerPromises);
      await new Promise((resolve) => setImmediate(resolve));
      t.is(log.length, events, 'no event after the agent is gone');
      const later = await agent.metrics();
      t.deepEqual(later.calls, afterExit.calls);
      checkAgree(t, checkCalls(t, calls, agent), later);
    } finally {
      answerLater.open();
      stopRecording();
      stop();
      await agent.close();
    }
  });
}

for (const isolation of ['thread', 'process'] as const) {
  test.serial(`${isolation}: the node's calls cut short by an exit publish their last event before the agent's \`exit\``, async (t) => {
    const { log, stop } = recordWithExits();
    const agent = await spawnAgent<typeof ContractAgent>(contractAgent, { isolation, expose: nodeApi(), timeoutMs: 30_000 });
    try {
      const hung = [agent.remote.hang(), agent.call('hang')];
      t.is(await agent.remote.echo(1), 1);
      (agent as unknown as { terminate(): void }).terminate();
      const exit = await agent.exited;
      for (const call of hung) await t.throwsAsync(call, { name: 'AgentExitedError' });
      const mine = log.filter(([, m]) => m.agent === agent.name);
      t.deepEqual(
        mine.map(([event, m]) => (event === 'exit' ? 'exit' : `${event}:${(m as CallTraceContext).method}`)),
        ['start:hang', 'end:hang', 'start:hang', 'end:hang', 'start:echo', 'end:echo', 'asyncStart:echo', 'asyncEnd:echo']
          .concat(['error:hang', 'asyncStart:hang', 'asyncEnd:hang', 'error:hang', 'asyncStart:hang', 'asyncEnd:hang'])
          .concat(['exit']),
      );
      t.deepEqual((mine.at(-1)![1] as AgentExitMessage).exit, exit);
    } finally {
      stop();
      await agent.close();
    }
  });
}

// The same with nobody subscribed: the calls still served are counts, not contexts.
for (const isolation of ['thread', 'process'] as const) {
  test.serial(`${isolation}: untraced, the calls the node still serves at an agent's exit end as closed once; their handlers' later answers are not counted`, async (t) => {
    const called = gate();
    const answerLater = gate();
    const handlerPromises: Array<Promise<unknown>> = [];
    let calls = 0;
    const later = <T>(value: T): Promise<T> => {
      if (++calls === 2) called.open();
      const p = answerLater.promise.then(() => value);
      handlerPromises.push(p);
      return p;
    };
    const expose = { ...nodeApi(), never: () => later(0 as never), addLater: (a: number, b: number) => later(a + b) };
    const agent = await spawnAgent<typeof ContractAgent>(contractAgent, { isolation, expose, timeoutMs: 30_000 });
    try {
      const served = [agent.remote.callAsync('never'), agent.remote.callBlocking('addLater', 1, 2)];
      await called.promise;
      (agent as unknown as { terminate(): void }).terminate();
      await agent.exited;
      for (const call of served) await t.throwsAsync(call, { name: 'AgentExitedError' });
      const afterExit = await agent.metrics();
      t.like(entry(afterExit, 'agent-to-node', 'async'), { calls: 1, inFlight: 0, closed: 1, ok: 0 });
      t.like(entry(afterExit, 'agent-to-node', 'blocking'), { calls: 1, inFlight: 0, closed: 1, ok: 0 });
      answerLater.open();
      await Promise.all(handlerPromises);
      await new Promise((resolve) => setImmediate(resolve));
      t.deepEqual((await agent.metrics()).calls, afterExit.calls);
    } finally {
      answerLater.open();
      await agent.close();
    }
  });
}
