/**
 * Hostile values and errors across the boundary, in every isolation and both
 * directions: errors with getters, proxies, looping or odd causes, `__proto__` keys,
 * non-Error throws; values that cannot be sent; raw frames that claim more than they
 * carry. Every call must settle with the right kind of outcome, and the node and the
 * agent must keep serving.
 */
import test, { type ExecutionContext } from 'ava';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { AgentIpcError, DataCloneError, RemoteError, ThrownValueError, spawnAgent, type Agent, type Isolation } from '../src/index.ts';
import type ValuesAgent from './fixtures/hostile/values-agent.ts';
import type { Outcome } from './fixtures/hostile/values-agent.ts';
import { RETURNED, THROWN, type ThrownExpectation } from './fixtures/hostile/values.ts';

const valuesAgent = new URL('./fixtures/hostile/values-agent.ts', import.meta.url);
const ISOLATIONS: Isolation[] = ['thread', 'process', 'inline'];
/** Far above any honest turn of the event loop, far below the minute-long stall this guards against. */
const STALL_LIMIT_MS = 2_000;

const nodeSide = {
  throwIt(kind: string): never {
    throw THROWN[kind]!.make();
  },
  async rejectIt(kind: string): Promise<never> {
    await null;
    throw THROWN[kind]!.make();
  },
  returnIt(kind: string): unknown {
    return RETURNED[kind]!.make();
  },
  ping: () => 'pong',
};

async function withAgent(isolation: Isolation, body: (agent: Agent<typeof ValuesAgent>) => Promise<void>, options = {}): Promise<void> {
  const agent = await spawnAgent<typeof ValuesAgent>(valuesAgent, { isolation, expose: nodeSide, timeoutMs: 20_000, ...options });
  try {
    await body(agent);
  } finally {
    await agent.close();
  }
}

/** Settles `promise` into data; never rejects. */
async function settle(promise: Promise<unknown>): Promise<{ ok: true; value: unknown } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error };
  }
}

function causeDepth(error: unknown): number {
  let depth = 0;
  for (let at: unknown = error; at instanceof Error && depth < 1000; at = at.cause) depth++;
  return depth;
}

function checkThrown(t: ExecutionContext, label: string, expect: ThrownExpectation, error: unknown): void {
  t.true(error instanceof Error, `${label}: rejects with an Error`);
  if (!(error instanceof Error)) return;
  t.is(error.constructor === Object, false, `${label}: a real error`);
  t.is((error as { polluted?: unknown }).polluted, undefined, `${label}: no prototype taken from the wire`);
  t.true(causeDepth(error) <= 10, `${label}: a bounded cause chain`);
  if (expect.kind === 'class') {
    t.true(error instanceof expect.cls, `${label}: rebuilt as the registered class`);
    t.is(error.name, expect.name, label);
    t.is((error as { code?: unknown }).code, expect.code, `${label}: its code (for CodeGetterError, the class's own getter still answers)`);
  } else if (expect.kind === 'thrown-value') {
    t.true(error instanceof ThrownValueError, `${label}: a ThrownValueError, got ${error.name}`);
    t.is((error as ThrownValueError).code, 'ERR_AGENT_IPC_THROWN_VALUE', label);
    if ('value' in expect) t.deepEqual((error as ThrownValueError).value, expect.value, `${label}: the value thrown`);
  }
  if (label.startsWith('protoKey')) {
    t.true(Object.hasOwn(error, '__proto__'), `${label}: __proto__ stays an own key`);
    t.true(Object.getPrototypeOf(error) === RemoteError.prototype || Object.getPrototypeOf(error) === Error.prototype, label);
  }
  if (label.startsWith('causeString')) t.is(error.cause, 'a string cause', label);
  if (label.startsWith('causeNumber')) t.is(error.cause, 42, label);
}

function checkOutcome(t: ExecutionContext, label: string, expect: ThrownExpectation, outcome: Outcome): void {
  t.is(outcome.settled, 'rejected', `${label}: rejects`);
  t.true(outcome.isError, `${label}: with an Error`);
  if (expect.kind === 'class') {
    t.is(outcome.name, expect.name, label);
    t.is(outcome.code, expect.code, label);
  }
  if (expect.kind === 'thrown-value') {
    t.is(outcome.name, 'ThrownValueError', label);
    t.is(outcome.code, 'ERR_AGENT_IPC_THROWN_VALUE', label);
  }
}

for (const isolation of ISOLATIONS) {
  test.serial(`${isolation}: every hostile error the agent throws rejects the call with a sane error`, async (t) => {
    await withAgent(isolation, async (agent) => {
      for (const [kind, { expect }] of Object.entries(THROWN)) {
        for (const method of ['throwIt', 'throwLater'] as const) {
          const result = await settle(agent.remote[method](kind));
          t.false(result.ok, `${kind} via ${method}: rejects`);
          if (!result.ok) checkThrown(t, `${kind} via ${method}`, expect, result.error);
          // The node's thread blocking on the agent (thread agents; an inline agent's async method is BlockingNotAllowedError).
          if (isolation === 'thread') {
            let thrown: unknown = 'nothing thrown';
            try {
              agent.blocking[method](kind);
            } catch (error) {
              thrown = error;
            }
            checkThrown(t, `${kind} via blocking ${method}`, expect, thrown);
          }
        }
      }
      t.is(await agent.remote.ping(), 'pong', 'the agent still serves');
    });
  });

  test.serial(`${isolation}: every hostile error the node throws rejects the agent's call, async and blocking`, async (t) => {
    await withAgent(isolation, async (agent) => {
      for (const [kind, { expect }] of Object.entries(THROWN)) {
        checkOutcome(t, `${kind} (async)`, expect, await agent.remote.nodeThrows(kind));
        checkOutcome(t, `${kind} (blocking)`, expect, await agent.remote.nodeThrowsBlocking(kind));
        // An inline agent's blocking call to an async handler is BlockingNotAllowedError (see below).
        if (isolation !== 'inline') checkOutcome(t, `${kind} (blocking, async handler)`, expect, await agent.remote.nodeRejectsBlocking(kind));
      }
      t.is(await agent.remote.ping(), 'pong');
    });
  });

  test.serial(`${isolation}: a value that cannot be sent fails that call alone, both ways`, async (t) => {
    await withAgent(isolation, async (agent) => {
      for (const [kind, { cloneFails }] of Object.entries(RETURNED)) {
        const result = await settle(agent.remote.returnIt(kind));
        if (cloneFails && isolation !== 'inline') {
          t.false(result.ok, `${kind}: rejects`);
          if (!result.ok) t.true(result.error instanceof DataCloneError, `${kind}: with DataCloneError, got ${String((result.error as Error)?.name)}`);
        } else if (isolation === 'inline' && kind === 'revokedProxy') {
          // Inline agents hand values over by reference; a promise cannot resolve to a
          // revoked proxy (resolving reads its `then`), so the call rejects instead.
          t.true(result.ok || result.error instanceof TypeError, `${kind}: settles`);
        } else {
          // Inline agents hand values over by reference: the very value arrives.
          t.true(result.ok, `${kind}: resolves`);
        }
        if (kind === 'protoKeyObject' && result.ok) {
          const value = result.value as Record<string, unknown>;
          t.is(Object.getPrototypeOf(value), Object.prototype, `${kind}: prototype not taken from the data`);
          t.true(Object.hasOwn(value, '__proto__'), `${kind}: __proto__ stays an own key`);
        }
        const back = await agent.remote.nodeReturns(kind);
        const backBlocking = await agent.remote.nodeReturnsBlocking(kind);
        for (const [how, outcome] of [['async', back], ['blocking', backBlocking]] as const) {
          if (cloneFails && isolation !== 'inline') {
            t.is(outcome.settled, 'rejected', `${kind} (${how}, node → agent): rejects`);
            t.is(outcome.name, 'DataCloneError', `${kind} (${how}, node → agent)`);
          } else if (how === 'async' && kind === 'revokedProxy') {
            // By reference, as above: the promise cannot resolve to it.
            t.true(outcome.settled === 'resolved' || outcome.name === 'TypeError', `${kind} (${how}, node → agent): settles`);
          } else if (how === 'async') {
            t.is(outcome.settled, 'resolved', `${kind} (${how}, node → agent): resolves`);
          } else {
            // An inline blocking call is a plain call: it returns the value, or a DataCloneError if the codec cannot carry it.
            t.true(outcome.settled === 'resolved' || outcome.name === 'DataCloneError', `${kind} (${how}, node → agent)`);
          }
        }
      }
      t.is(await agent.remote.ping(), 'pong', 'the agent still serves');
    });
  });
}

/** Runs `body` and returns the longest event-loop stall seen meanwhile, in ms. */
async function longestStall(body: () => Promise<void>): Promise<number> {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  try {
    await body();
  } finally {
    histogram.disable();
  }
  return histogram.max / 1e6;
}

test.serial('thread: a batch claiming 2³¹ arguments is a protocol error, found without walking them', async (t) => {
  await withAgent('thread', async (agent) => {
    const stall = await longestStall(async () => {
      // The call itself may not get its answer: the node closes the connection first.
      await settle(agent.remote.postSparseRequest(2 ** 31));
      const closed = await settle(agent.remote.ping());
      t.false(closed.ok, 'the connection was closed');
      if (!closed.ok) t.true(closed.error instanceof AgentIpcError, `a typed error: ${String(closed.error)}`);
    });
    t.true(stall < STALL_LIMIT_MS, `event loop stalled ${stall} ms`);
  });
});

test.serial('process: a stream frame claiming 2³¹ arguments is a protocol error, found without walking them', async (t) => {
  await withAgent('process', async (agent) => {
    const stall = await longestStall(async () => {
      await settle(agent.remote.writeFrame('sparseRequest', 2 ** 31));
      const closed = await settle(agent.remote.ping());
      t.false(closed.ok, 'the connection was closed');
      if (!closed.ok) t.true(closed.error instanceof AgentIpcError, `a typed error: ${String(closed.error)}`);
    });
    t.true(stall < STALL_LIMIT_MS, `event loop stalled ${stall} ms`);
  });
});
