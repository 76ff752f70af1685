/**
 * The node's thread blocking on an agent, at its edges: cases that broke it, and a few
 * that held and were not covered elsewhere. Nothing here asserts on timing.
 */
import test from 'ava';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { AgentExitedError, ConnectionClosedError, DataCloneError, DeadlockError, StartupTimeoutError, TimeoutError, spawnAgent, spawnAgentSync, type Agent, type SpawnAgentSyncOptions } from '../src/index.ts';
import { threadStoppedProbe, withNewThread } from '../src/isolation/thread-liveness.ts';
import type ReviewAgent from './fixtures/sync-main-edges/agent.ts';
import type { ReviewNodeApi } from './fixtures/sync-main-edges/agent.ts';
import type WindowAgent from './fixtures/sync-main-edges/window-agent.ts';
import { RSlot } from '../src/blocking/reverse-mailbox.ts';

const fixture = (name: string): URL => new URL(`./fixtures/sync-main-edges/${name}`, import.meta.url);

type Context = { teardown(fn: () => unknown): void };

/** Releases the `hold` handlers still waiting. */
const holds: Array<(value: string) => void> = [];

function nodeApi(served: string[]): ReviewNodeApi {
  return {
    hold(key) {
      served.push(key);
      return new Promise((resolve) => holds.push(resolve));
    },
    hugeUnclonable: () => ({ text: 'z'.repeat(5 * 1024 * 1024), fn: () => 3 }),
    hook: (arg) => arg,
    config(key) {
      served.push(key);
      return `cfg:${key}`;
    },
    bigUnclonable: () => ({ text: 'y'.repeat(70_000), fn: () => 2 }),
    slow(ms) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
      return '.';
    },
  };
}

function start(t: Context, options: SpawnAgentSyncOptions<ReviewNodeApi> = {}): { agent: Agent<typeof ReviewAgent>; served: string[] } {
  const served: string[] = [];
  const agent = spawnAgentSync<typeof ReviewAgent, ReviewNodeApi>(fixture('agent.ts'), { expose: nodeApi(served), startupTimeoutMs: 20_000, ...options });
  t.teardown(() => agent.close({ timeoutMs: 1000 }));
  return { agent, served };
}

/** Sleeps the calling thread (the node's event loop does not run meanwhile). */
function sleepThread(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

// ── answers that cannot be encoded ────────────────────────────────────────────────

test("an agent's answer that cannot be cloned is a DataCloneError, small or larger than the area", (t) => {
  t.timeout(30_000);
  const { agent } = start(t, { timeoutMs: 10_000 });
  t.throws(() => agent.blocking.smallUnclonable(), { instanceOf: DataCloneError });
  t.throws(() => agent.blocking.bigUnclonable(), { instanceOf: DataCloneError });
  // The agent lives on.
  t.is(agent.blocking.add(1, 2), 3);
});

test("a call-back's answer that cannot be cloned, larger than the area, fails the call-back, not the node's call", (t) => {
  t.timeout(30_000);
  const { agent } = start(t, { timeoutMs: 10_000 });
  t.is(agent.blocking.callbackBigUnclonable(), 'DataCloneError');
  t.is(agent.blocking.add(1, 2), 3);
});

// ── a blocking call of the agent already on its way when the node parks ───────────

test("the agent's own blocking call, made just before the node parks on it, is served inside the node's wait", async (t) => {
  t.timeout(60_000);
  const { agent, served } = start(t, { timeoutMs: 20_000 });
  const flag = new Int32Array(new SharedArrayBuffer(8));
  await agent.remote.blockingCallSoon(flag, 'config', 10);
  Atomics.store(flag, 1, 1);
  Atomics.notify(flag, 1);
  // The node's thread stays busy (its event loop does not run) until the agent has made
  // its blocking call into the node, and a little longer so it is parked in it.
  Atomics.wait(flag, 0, 0, 10_000);
  t.is(Atomics.load(flag, 0), 1, 'the agent is in its blocking call');
  sleepThread(200);
  // Now the node blocks on the agent, which is itself blocked on the node.
  t.deepEqual(agent.callBlocking('echo', Uint8Array.of(1, 2), { timeoutMs: 3000 }), Uint8Array.of(1, 2));
  t.deepEqual(served, ['config']);
  t.is(Atomics.load(flag, 0), 2, "the agent's own call was answered");
});

// The window: the agent's thread, about to call the node, reads NODE_BLOCKED (0: take the
// forward mailbox); the node parks on the agent (NODE_BLOCKED = 1, the call-back slot
// opens), looks at the forward mailbox, finds nothing and sleeps on DOORBELL; then the
// agent publishes its request there. Nobody rang, so the node found it only when its
// 50 ms slice ran out. Held here at that very instant by hooks (no timing): the node's
// sleep right after it is given 20 s instead of 50 ms, and must end by a ring, not run
// out.
test.serial("the agent's own blocking call, published just after the node parked on it and looked, rings the node awake", async (t) => {
  t.timeout(90_000);
  const agent = spawnAgentSync<typeof WindowAgent>(fixture('window-agent.ts'), { expose: { add: (a: number, b: number) => a + b }, startupTimeoutMs: 20_000, timeoutMs: 60_000 });
  t.teardown(() => agent.close({ timeoutMs: 1000 }));
  const shared = new Int32Array(new SharedArrayBuffer(8));
  await agent.remote.blockingCallHeld(shared);
  // The agent has taken the forward mailbox (the node is not parked) and holds before publishing.
  Atomics.wait(shared, 0, 0, 30_000);
  t.is(Atomics.load(shared, 0), 1, 'the agent is held at the window');
  const caller = (agent as unknown as { nodeCaller: { header: Int32Array; options: { serveForward(): boolean } } }).nodeCaller;
  const { header, options } = caller;
  const serveForward = options.serveForward;
  let released = false;
  options.serveForward = () => {
    const served = serveForward();
    if (!served && !released) {
      // Parked, and the forward mailbox looked at and found empty: let the request go.
      released = true;
      Atomics.store(shared, 1, 1);
      Atomics.notify(shared, 1);
    }
    return served;
  };
  const wait = Atomics.wait;
  const woken: string[] = [];
  Atomics.wait = ((array: Int32Array, index: number, value: number, timeout?: number) => {
    if (array !== header || index !== RSlot.DOORBELL || !released || woken.length > 0) return wait(array, index, value, timeout);
    const result = wait(array, index, value, 20_000);
    woken.push(result);
    return result;
  }) as typeof Atomics.wait;
  try {
    t.is(agent.blocking.ping(), 'pong');
  } finally {
    Atomics.wait = wait;
    options.serveForward = serveForward;
  }
  t.true(released, 'the window was reached');
  t.is(woken.length, 1);
  t.not(woken[0], 'timed-out', "the node's sleep after the window ended by the agent's ring");
  t.deepEqual(await agent.remote.seen(), { ok: 3 }, "the agent's call was answered");
});

test("a blocking call into an agent that waits for an async handler of the node is a DeadlockError at once, not a timeout", async (t) => {
  t.timeout(60_000);
  const { agent, served } = start(t, { timeoutMs: 20_000 });
  const flag = new Int32Array(new SharedArrayBuffer(8));
  await agent.remote.blockingCallSoon(flag, 'hold', 10);
  Atomics.store(flag, 1, 1);
  Atomics.notify(flag, 1);
  // The agent's blocking call reaches the node's event loop, whose handler returns a promise.
  while (!served.includes('hold')) await new Promise((resolve) => setTimeout(resolve, 5));
  try {
    t.throws(() => agent.callBlocking('echo', Uint8Array.of(1), { timeoutMs: 3000 }), { instanceOf: DeadlockError, message: /blocked in a blocking call into the node/ });
  } finally {
    for (const release of holds.splice(0)) release('released');
  }
  // Once the handler answers, the agent is free again.
  while (Atomics.load(flag, 0) < 2) await new Promise((resolve) => setTimeout(resolve, 5));
  t.is(Atomics.load(flag, 0), 2);
  t.is(agent.blocking.add(2, 2), 4);
});

test("a node handler's answer to the agent's blocking call that cannot be cloned, larger than the mailbox can grow, fails that call (the node does not crash)", async (t) => {
  t.timeout(60_000);
  const { agent } = start(t, { timeoutMs: 20_000 });
  t.is(await agent.remote.forwardHugeUnclonable(), 'DataCloneError');
  t.is(await agent.remote.add(1, 1), 2);
});

// ── spawnAgentSync: a thread that ends before the bootstrap runs ───────────────────

test('the thread probe: "stopped" is a thread not running now that ran before (LIFE says so, or an earlier look saw it)', (t) => {
  // loopIdleTime() is -1 both before a worker's thread has an environment and after it
  // stopped: a fake handle plays the three stages of a thread that dies in Node.js's own
  // start-up, before agent-ipc's bootstrap could set LIFE.
  const stages = [-1, -1, 0.5, 2.5, -1];
  const kHandle = Symbol('kHandle');
  const fakeWorker = { [kHandle]: { loopIdleTime: () => stages.shift() ?? -1 } } as unknown as Worker;
  const stopped = threadStoppedProbe(fakeWorker);
  t.false(stopped(false), 'not started yet');
  t.false(stopped(false), 'still not started');
  t.false(stopped(false), 'running');
  t.false(stopped(false), 'running');
  t.true(stopped(false), 'seen running, now not: it ended');
  // With LIFE at RUNNING the caller knows it ran: -1 is "stopped" at the first look.
  const known = threadStoppedProbe({ [kHandle]: { loopIdleTime: () => -1 } } as unknown as Worker);
  t.true(known(true));
  t.false(known(false));
  // A worker without the handle (a Node.js that moved it): never "stopped"; the timeouts still apply.
  t.false(threadStoppedProbe({} as unknown as Worker)(true));
});

// Serial, so that no other test of this file starts a thread at the same moment (then
// the new one could not be told apart: see withNewThread).
test.serial('spawnAgentSync: a thread that dies at its heap limit before the bootstrap runs gives AgentExitedError at once, as spawnAgent does', async (t) => {
  t.timeout(60_000);
  // The smallest cap accepted (smaller ones can abort the whole process on Node.js 22+):
  // the worker dies of it in Node.js's own start-up, before agent-ipc's bootstrap.
  const small = { maxOldGenerationSizeMb: 4, maxYoungGenerationSizeMb: 1 };
  // spawnAgent sees the worker's 'exit' event.
  await t.throwsAsync(spawnAgent(fixture('agent.ts'), { resourceLimits: small, startupTimeoutMs: 10_000 }), { instanceOf: AgentExitedError });
  // Parked, spawnAgentSync gets no event: it sees the thread run then stop (the worker's
  // handle), or its OS thread go (Linux). Elsewhere the start-up timeout may end the wait.
  const error = t.throws(() => spawnAgentSync(fixture('agent.ts'), { resourceLimits: small, startupTimeoutMs: 10_000 }));
  if (existsSync('/proc/self/task')) {
    t.true(error instanceof AgentExitedError, String(error));
    // Not "exited with code null": what is known is that the thread stopped, not a code.
    t.regex(error!.message, /stopped without an exit code \(its thread ended before Node\.js reported how/);
  } else t.true(error instanceof AgentExitedError || error instanceof StartupTimeoutError, String(error));
});

test.serial('withNewThread: the one thread a call starts is identified, and seen to go', async (t) => {
  const { value: worker, tid } = withNewThread(() => new Worker('setTimeout(() => {}, 50)', { eval: true }));
  if (!existsSync('/proc/self/task')) {
    t.is(tid, undefined);
  } else {
    t.truthy(tid);
    const stopped = threadStoppedProbe(worker, tid);
    t.false(stopped(false), 'running');
    await once(worker, 'exit');
    // The 'exit' event may come before the OS thread has finished ending.
    for (let i = 0; i < 200 && !stopped(false); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    t.true(stopped(false), 'its OS thread is gone');
  }
  // Two threads started at once: which is the worker's cannot be told, so none is named.
  const pair = withNewThread(() => [new Worker('0', { eval: true }), new Worker('0', { eval: true })]);
  t.is(pair.tid, undefined);
  await Promise.all(pair.value.map((w) => once(w, 'exit')));
});

// ── timeouts around call-backs ─────────────────────────────────────────────────────

test("a timeout during call-backs: the agent's method goes on calling back after the node gave up, and the next call gets its own answer", (t) => {
  t.timeout(60_000);
  const { agent } = start(t, { timeoutMs: 20_000 });
  // Each call-back takes 100 ms on the node; the call gives up after 150 ms, while the
  // agent's method still has call-backs to make (served from the node's next wait, or its loop).
  t.throws(() => agent.callBlocking('callbackSlowBytes', Uint8Array.of(10, 6), { timeoutMs: 150 }), { instanceOf: TimeoutError });
  t.is(agent.blocking.add(20, 22), 42);
  t.is(agent.blocking.echo('mine'), 'mine');
  t.deepEqual(agent.callBlocking('callbackSlowBytes', Uint8Array.of(1, 2), { timeoutMs: 20_000 }), new TextEncoder().encode('..'));
});

// ── call-back handlers that close, nest and throw ──────────────────────────────────

/** Starts the agent with `hook` as the node's handler of that name. */
function startWithHook(t: Context, hook: (arg: string) => string, options: SpawnAgentSyncOptions<ReviewNodeApi> = {}): Agent<typeof ReviewAgent> {
  const agent = spawnAgentSync<typeof ReviewAgent, ReviewNodeApi>(fixture('agent.ts'), {
    expose: { ...nodeApi([]), hook },
    startupTimeoutMs: 20_000,
    timeoutMs: 20_000,
    ...options,
  });
  t.teardown(() => agent.close({ timeoutMs: 1000 }));
  return agent;
}

test('close() from an async call-back served while parked wakes the wait with ConnectionClosedError, and close settles', async (t) => {
  t.timeout(60_000);
  let closing: Promise<void> | undefined;
  const agent: Agent<typeof ReviewAgent> = startWithHook(t, () => {
    closing = agent.close({ timeoutMs: 2000 });
    return 'closing';
  });
  t.throws(() => agent.blocking.callHookAsync('x'), { instanceOf: ConnectionClosedError });
  await closing;
  t.is((await agent.exited).code, 0);
  t.throws(() => agent.blocking.add(1, 1), { instanceOf: ConnectionClosedError });
});

test('call-back handlers that throw hostile values: the agent gets a typed error, the node runs none of their code, its call returns', (t) => {
  t.timeout(60_000);
  let touched = 0;
  const hostile: unknown[] = [
    new Proxy(new Error('proxied'), {
      get() {
        touched++;
        throw new Error('trap');
      },
      getPrototypeOf() {
        touched++;
        throw new Error('trap');
      },
      ownKeys() {
        touched++;
        throw new Error('trap');
      },
    }),
    Object.defineProperty(new Error('getter'), 'message', {
      get() {
        touched++;
        throw new Error('getter ran');
      },
    }),
    (() => {
      const { proxy, revoke } = Proxy.revocable({}, {});
      revoke();
      return proxy;
    })(),
    undefined,
    Symbol('s'),
  ];
  let next = 0;
  const agent = startWithHook(t, () => {
    throw hostile[next++];
  });
  for (let i = 0; i < hostile.length; i++) {
    t.regex(agent.blocking.callHook('x'), /Error/);
    t.regex(agent.blocking.callHookAsync('x'), /Error/);
    next = i + 1;
  }
  t.is(touched, 0);
  t.is(agent.blocking.add(1, 2), 3);
});

test('nested several levels: node → A → node → B → node; a call into A or B there is a DeadlockError, into a third agent it works', (t) => {
  t.timeout(60_000);
  const seen: string[] = [];
  const tryCall = (name: string, fn: () => unknown): void => {
    try {
      seen.push(`${name}=${String(fn())}`);
    } catch (error) {
      seen.push(`${name}:${(error as Error).name}`);
    }
  };
  const a = startWithHook(t, (arg) => {
    // Served while the node is parked on A: a blocking call into B, whose method calls back.
    return `a(${b.blocking.callHook(arg)})`;
  });
  const b: Agent<typeof ReviewAgent> = startWithHook(t, (arg) => {
    // Served while the node is parked on B, inside A's call-back.
    tryCall('A', () => a.blocking.add(1, 1));
    tryCall('B', () => b.blocking.add(1, 1));
    tryCall('Bbytes', () => b.callBlocking('echo', Uint8Array.of(1)));
    tryCall('C', () => c.blocking.add(2, 3));
    return `b(${arg})`;
  });
  const c = startWithHook(t, (arg) => arg);
  t.is(a.blocking.callHook('x'), 'a(b(x))');
  t.deepEqual(seen, ['A:DeadlockError', 'B:DeadlockError', 'Bbytes:DeadlockError', 'C=5']);
  // All three are fine afterwards.
  t.is(a.blocking.add(1, 1) + b.blocking.add(1, 1) + c.blocking.add(1, 1), 6);
});

test('a call-back handler served while parked may start another agent with spawnAgentSync and use it', (t) => {
  t.timeout(60_000);
  const agent = startWithHook(t, (arg) => {
    const inner = spawnAgentSync<typeof ReviewAgent>(fixture('agent.ts'), { startupTimeoutMs: 20_000, timeoutMs: 20_000 });
    try {
      return `${arg}:${inner.blocking.add(40, 2)}`;
    } finally {
      void inner.close({ timeoutMs: 1000 });
    }
  });
  t.is(agent.blocking.callHook('k'), 'k:42');
  t.is(agent.blocking.callHookAsync('k'), 'k:42');
});

// ── spawnAgentSync's options, inline ───────────────────────────────────────────────

test("spawnAgentSync: an isolation that is not one is refused as such, not explained as a process agent's", (t) => {
  const error = t.throws(() => spawnAgentSync(fixture('agent.ts'), { isolation: 'threads' as 'thread' }), { instanceOf: TypeError });
  t.notRegex(error!.message, /process agent/);
  t.regex(error!.message, /isolation/);
});

test('inline: a call-back handler that calls agent.blocking again is a DeadlockError; one that closes the agent lets the call return', async (t) => {
  t.timeout(60_000);
  let mode: 'reenter' | 'close' = 'reenter';
  let closing: Promise<void> | undefined;
  const agent: Agent<typeof ReviewAgent> = await spawnAgent<typeof ReviewAgent, ReviewNodeApi>(fixture('agent.ts'), {
    isolation: 'inline',
    expose: {
      ...nodeApi([]),
      hook(arg) {
        if (mode === 'close') {
          closing = agent.close({ timeoutMs: 1000 });
          return `closed:${arg}`;
        }
        return String(agent.blocking.add(1, 2));
      },
    },
  });
  t.teardown(() => agent.close({ timeoutMs: 1000 }));
  t.regex(agent.blocking.callHook('x'), /^DeadlockError/);
  mode = 'close';
  t.is(agent.blocking.callHook('y'), 'closed:y');
  await closing;
  t.throws(() => agent.blocking.add(1, 1), { instanceOf: ConnectionClosedError });
});
