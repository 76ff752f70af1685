/**
 * Model-based: random sequences of calls in both directions, async and blocking (the
 * agent's `main.blocking` into the node; the node's `agent.blocking` into thread and
 * inline agents), timeouts, aborts, closes and kills in the middle of a call, hostile
 * values thrown and returned, and hostile frames, against a real agent of each
 * isolation. After every step: the call settled exactly once with the kind of outcome
 * the model predicts, the node is alive, and its event loop was never blocked by the
 * node's own work for more than 100 ms (deliberate parking in `agent.blocking` is
 * measured apart). After every run: the agent has exited and its process is gone; after
 * all runs: no thread or process is left.
 *
 * Seeds are fixed (logged with the figures), so a failure replays; the environment may
 * choose another seed and more runs, for hunting (see `fromEnvironment`).
 */
import test from 'ava';
import fc from 'fast-check';
import {
  AbortError,
  AgentExitedError,
  AgentIpcError,
  DataCloneError,
  ThrownValueError,
  TimeoutError,
  spawnAgent,
  type Agent,
  type Isolation,
} from '../src/index.ts';
import { agentFootprint, until, withinFootprint } from './fixtures/hostile/footprint.ts';
import { startLoopStallProbe, type LoopStallProbe, type LoopStalls } from './fixtures/hostile/loop-stall-probe.ts';
import type ValuesAgent from './fixtures/hostile/values-agent.ts';
import { RETURNED, THROWN } from './fixtures/hostile/values.ts';
import { gone } from './helpers/process-gone.ts';

const valuesAgent = new URL('./fixtures/hostile/values-agent.ts', import.meta.url);
/** The issue's bound on how long the node's own work may hold its event loop. */
const BLOCKED_LIMIT_MS = 100;
/** A step whose call has not settled by then has lost it: far above any honest answer on a loaded machine. */
const SETTLE_LIMIT_MS = 30_000;
/** Runs per isolation: each run spawns an agent, so threads and processes get fewer. */
const BASE_RUNS: Record<Isolation, number> = { inline: 80, thread: 12, process: 8 };

/**
 * A whole number from the environment, for hunting with other sequences than CI's
 * (docs/reliability.md, "Hunting with other seeds"); a value that is not one fails the
 * file at once rather than running the default silently.
 */
function fromEnvironment(name: string, fallback: number, min: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min) throw new TypeError(`${name} must be a whole number >= ${min}, got '${text}'`);
  return value;
}

/** CI's seed is fixed, so a failure replays; `AGENT_IPC_MODEL_SEED` replays or explores another. */
const SEED = fromEnvironment('AGENT_IPC_MODEL_SEED', 0x5eed, 0);
/** `AGENT_IPC_MODEL_RUNS_FACTOR` multiplies the runs of every isolation (a longer hunt). */
const RUNS_FACTOR = fromEnvironment('AGENT_IPC_MODEL_RUNS_FACTOR', 1, 1);
const RUNS: Record<Isolation, number> = {
  inline: BASE_RUNS.inline * RUNS_FACTOR,
  thread: BASE_RUNS.thread * RUNS_FACTOR,
  process: BASE_RUNS.process * RUNS_FACTOR,
};

interface Model {
  isolation: Isolation;
  /** How the connection ended, if it did: every later call rejects with a typed error. */
  gone: undefined | 'cut' | 'closed' | 'killed';
}

interface Real {
  agent: Agent<typeof ValuesAgent>;
  figures: Figures;
  probe: LoopStallProbe;
}

/** What the runs did, for the summary line (and docs/reliability.md). */
interface Figures {
  runs: number;
  steps: number;
  calls: number;
  hostile: number;
  faults: number;
  blocking: number;
}

/** How a call ended. */
interface Got {
  ok: boolean;
  value: unknown;
  settles: number;
}

/**
 * Settles a call (a promise, or a blocking call that returns or throws), counting its
 * settlements: once, never zero (a step whose call never settles fails at the limit).
 */
async function settle(start: () => unknown): Promise<Got> {
  let settles = 0;
  let ok = false;
  let value: unknown;
  const settled = (isOk: boolean, v: unknown): void => {
    settles++;
    ok = isOk;
    value = v;
  };
  let promise: Promise<unknown>;
  try {
    promise = Promise.resolve(start());
  } catch (error) {
    promise = Promise.reject(error);
  }
  let limit: NodeJS.Timeout | undefined;
  await Promise.race([
    promise.then(
      (v) => settled(true, v),
      (e: unknown) => settled(false, e),
    ),
    new Promise<void>((_, reject) => {
      limit = setTimeout(() => reject(new Error(`a call did not settle within ${SETTLE_LIMIT_MS} ms`)), SETTLE_LIMIT_MS);
    }),
  ]).finally(() => clearTimeout(limit));
  // A promise settles at most once by construction; a second `settled` would be a bug in this harness.
  if (settles !== 1) throw new Error(`settled ${settles} times`);
  return { ok, value, settles };
}

function fail(what: string, got: Got): never {
  const value = got.value instanceof Error ? `${got.value.name}: ${got.value.message}` : JSON.stringify(got.value) ?? String(got.value);
  throw new Error(`${what}: ${got.ok ? 'resolved' : 'rejected'} with ${value}`);
}

/** After the connection ended, any call rejects with one of agent-ipc's typed errors. */
function rejectedTyped(what: string, got: Got): void {
  if (got.ok || !(got.value instanceof AgentIpcError)) fail(`${what} after the connection ended: expected a typed rejection`, got);
}

/**
 * One step: a call made, then judged. `judge` sees only live connections; on an ended
 * one every call must reject with a typed error, whatever it was.
 */
interface Step {
  label: string;
  /** Whether the step applies in this state (fast-check drops it otherwise). */
  applies?(m: Readonly<Model>): boolean;
  /** Counted as a hostile input, a fault, or a blocking call in the figures. */
  counts?: 'hostile' | 'faults' | 'blocking';
  /** Makes the call. `park` wraps anything that blocks the node's thread on purpose. */
  call(r: Real, m: Readonly<Model>): unknown;
  /** Checks the outcome on a live connection (throws to fail); may update the model. */
  judge(got: Got, m: Model, r: Real): void | Promise<void>;
}

function command(step: Step): fc.AsyncCommand<Model, Real> {
  return {
    check: (m) => step.applies?.(m) ?? true,
    async run(m, r) {
      r.figures.steps++;
      r.figures.calls++;
      if (step.counts) r.figures[step.counts]++;
      const wasGone = m.gone;
      const got = await settle(() => step.call(r, m));
      if (wasGone) rejectedTyped(step.label, got);
      else await step.judge(got, m, r);
      // The node is alive: its event loop still turns.
      await new Promise((resolve) => setImmediate(resolve));
    },
    toString: () => step.label,
  };
}

const blockingIsolation = (m: Readonly<Model>): boolean => m.isolation !== 'process';

// ── calls the node makes into the agent ────────────────────────────────────────────

const agentThrows = (kind: string): Step => ({
  label: `throw(${kind})`,
  counts: 'hostile',
  call: (r) => r.agent.remote.throwIt(kind),
  judge(got) {
    if (got.ok || !(got.value instanceof Error)) fail(`throw(${kind}): expected an Error`, got);
    if (THROWN[kind]!.expect.kind === 'thrown-value' && !(got.value instanceof ThrownValueError)) fail(`throw(${kind}): expected ThrownValueError`, got);
  },
});

const agentReturns = (kind: string): Step => ({
  label: `return(${kind})`,
  counts: 'hostile',
  call: (r) => r.agent.remote.returnIt(kind),
  judge(got, m) {
    const fails = RETURNED[kind]!.cloneFails && m.isolation !== 'inline';
    if (fails && !(got.value instanceof DataCloneError)) fail(`return(${kind}): expected DataCloneError`, got);
    // Inline hands values over by reference; a promise cannot resolve to a revoked proxy (resolving reads its `then`).
    if (!fails && !got.ok && !(m.isolation === 'inline' && got.value instanceof TypeError)) fail(`return(${kind})`, got);
  },
});

/** The node's `agent.blocking` into the agent (thread and inline): an answer, an error, a timeout. */
const nodeBlocks = (what: 'ping' | 'throw' | 'timeout', kind: string): Step => ({
  label: `agent.blocking ${what === 'throw' ? `throw(${kind})` : what}`,
  counts: 'blocking',
  // A timeout needs an async method, which an inline agent cannot serve blocking.
  applies: (m) => blockingIsolation(m) && (what !== 'timeout' || m.isolation === 'thread'),
  call: (r) =>
    r.probe.park(() =>
      what === 'ping'
        ? r.agent.blocking.ping()
        : what === 'throw'
          ? r.agent.blocking.throwIt(kind)
          : r.agent.callBlocking('sleep', Uint8Array.of(200), { timeoutMs: 10 }),
    ),
  judge(got) {
    if (what === 'ping' && got.value !== 'pong') fail('agent.blocking.ping', got);
    if (what === 'throw' && (got.ok || !(got.value instanceof Error))) fail(`agent.blocking.throwIt(${kind})`, got);
    if (what === 'throw' && THROWN[kind]!.expect.kind === 'thrown-value' && !(got.value instanceof ThrownValueError)) fail(`agent.blocking.throwIt(${kind})`, got);
    if (what === 'timeout' && !(got.value instanceof TimeoutError)) fail('agent.blocking timeout', got);
  },
});

/**
 * A slow call (the agent sleeps 200 ms) cut by a timeout or an abort, or one that
 * finishes. On a loaded machine the node can be held up long enough that the answer is
 * read before the timer that cuts the call runs: then it resolves, which is right too.
 * What may never happen: a second outcome, no outcome, or a resolution with anything but
 * the agent's answer.
 */
const slow = (how: 'timeout' | 'abort' | 'finish'): Step => ({
  label: `slow(${how})`,
  counts: how === 'finish' ? undefined : 'faults',
  call(r) {
    const controller = new AbortController();
    const options = how === 'timeout' ? { timeoutMs: 5 } : how === 'abort' ? { signal: controller.signal } : {};
    const call = r.agent.call('sleep', Uint8Array.of(how === 'finish' ? 1 : 200), options);
    if (how === 'abort') setTimeout(() => controller.abort(), 2);
    return call;
  },
  judge(got) {
    const cut = how === 'timeout' ? TimeoutError : how === 'abort' ? AbortError : undefined;
    if (got.ok ? !(got.value instanceof Uint8Array) : !(cut && got.value instanceof cut)) fail(`slow(${how})`, got);
  },
});

// ── calls the agent makes into the node ────────────────────────────────────────────

const nodeThrows = (kind: string, blocking: boolean): Step => ({
  label: `nodeThrows(${kind}, ${blocking ? 'main.blocking' : 'async'})`,
  counts: 'hostile',
  call: (r) => (blocking ? r.agent.remote.nodeThrowsBlocking(kind) : r.agent.remote.nodeThrows(kind)),
  judge(got) {
    const seen = got.value as { settled?: string; isError?: boolean };
    if (!got.ok || seen.settled !== 'rejected' || !seen.isError) fail(`nodeThrows(${kind})`, got);
  },
});

const nodeReturns = (kind: string, blocking: boolean): Step => ({
  label: `nodeReturns(${kind}, ${blocking ? 'main.blocking' : 'async'})`,
  counts: 'hostile',
  call: (r) => (blocking ? r.agent.remote.nodeReturnsBlocking(kind) : r.agent.remote.nodeReturns(kind)),
  judge(got, m) {
    const seen = got.value as { settled?: string; name?: string };
    if (!got.ok || (seen.settled !== 'resolved' && seen.settled !== 'rejected')) fail(`nodeReturns(${kind})`, got);
    if (RETURNED[kind]!.cloneFails && m.isolation !== 'inline' && seen.name !== 'DataCloneError') fail(`nodeReturns(${kind}): expected DataCloneError`, got);
  },
});

// ── faults: a hostile frame, a close or a kill in the middle of a call ─────────────

const hostileFrame: Step = {
  label: 'hostileFrame(sparse 2³¹)',
  counts: 'hostile',
  applies: (m) => m.isolation !== 'inline' && !m.gone,
  call: (r, m) => (m.isolation === 'thread' ? r.agent.remote.postSparseRequest(2 ** 31) : r.agent.remote.writeFrame('sparseRequest', 2 ** 31)),
  async judge(_got, m, r) {
    // The write itself may or may not be answered before the node cuts the connection; the next call must fail typed.
    m.gone = 'cut';
    rejectedTyped('ping after a hostile frame', await settle(() => r.agent.remote.ping()));
  },
};

const closeMidCall: Step = {
  label: 'close(mid-call)',
  counts: 'faults',
  applies: (m) => !m.gone,
  call(r) {
    const inFlight = settle(() => r.agent.call('sleep', Uint8Array.of(200)));
    // A short grace period: the thread or process is forced down before the call can finish.
    return Promise.all([inFlight, r.agent.close({ timeoutMs: 20 })]).then(([got]) => got);
  },
  judge(got, m) {
    m.gone = 'closed';
    const inner = got.value as Got;
    // The call either finished within the grace period or was cut, with a typed error; either way once.
    if (!got.ok || (inner.ok ? !(inner.value instanceof Uint8Array) : !(inner.value instanceof AgentIpcError))) fail('the call in flight at close()', inner);
  },
};

const killMidCall: Step = {
  label: 'kill(mid-call)',
  counts: 'faults',
  applies: (m) => m.isolation !== 'inline' && !m.gone,
  async call(r, m) {
    // A call that cannot finish by itself: under load the kill below may come late, and a
    // sleep's honest answer could beat it (seen once in ~120 runs at a load average of 19).
    const inFlight = settle(() => r.agent.call('hang', new Uint8Array(0)));
    await new Promise((resolve) => setTimeout(resolve, 5));
    if (m.isolation === 'process') process.kill(r.agent.pid, 'SIGKILL');
    // What a crash of the thread looks like from the node: Worker#terminate (the host has no public way to it).
    else (r.agent as unknown as { terminate(): void }).terminate();
    return inFlight;
  },
  async judge(got, m, r) {
    m.gone = 'killed';
    const inner = got.value as Got;
    if (inner.ok || !(inner.value instanceof AgentExitedError)) fail('the call in flight at the kill', inner);
    const exit = await r.agent.exited;
    if (m.isolation === 'process' && exit.signal !== 'SIGKILL') throw new Error(`exited ${JSON.stringify(exit)}, not by SIGKILL`);
  },
};

// ── the property ───────────────────────────────────────────────────────────────────

const thrownKinds = Object.keys(THROWN).filter((kind) => kind !== 'causeDeep');
const returnedKinds = Object.keys(RETURNED);
const nodeBlocksArb = fc
  .tuple(fc.constantFrom('ping', 'throw', 'timeout' as const), fc.constantFrom(...thrownKinds))
  .map(([what, kind]) => command(nodeBlocks(what, kind)));
const commands = [
  fc.constantFrom(...thrownKinds).map((kind) => command(agentThrows(kind))),
  fc.constantFrom(...returnedKinds).map((kind) => command(agentReturns(kind))),
  fc.tuple(fc.constantFrom(...thrownKinds), fc.boolean()).map(([kind, blocking]) => command(nodeThrows(kind, blocking))),
  fc.tuple(fc.constantFrom(...returnedKinds), fc.boolean()).map(([kind, blocking]) => command(nodeReturns(kind, blocking))),
  // Twice: it applies in two isolations of three, and is the direction least covered elsewhere.
  nodeBlocksArb,
  nodeBlocksArb,
  fc.constantFrom('timeout', 'abort', 'finish' as const).map((how) => command(slow(how))),
  fc.constant(command(hostileFrame)),
  fc.constant(command(closeMidCall)),
  fc.constant(command(killMidCall)),
];

/** fast-check's failure names the sequence; the step's own error is its cause: say both. */
async function explained(run: Promise<void>): Promise<void> {
  try {
    await run;
  } catch (error) {
    const cause = (error as Error).cause;
    throw new Error(`${(error as Error).message}\ncause: ${cause instanceof Error ? cause.stack : String(cause)}`);
  }
}

const nodeSide = {
  throwIt(kind: string): never {
    throw THROWN[kind]!.make();
  },
  returnIt(kind: string): unknown {
    return RETURNED[kind]!.make();
  },
  ping: () => 'pong',
};

test.serial('the stall probe sees the node blocking its own loop, by work or by a synchronous wait, and not deliberate parking', async (t) => {
  const turn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 20));
  const probe = startLoopStallProbe(BLOCKED_LIMIT_MS);
  await turn();
  // Busy for 200 ms of CPU time (on a loaded machine that takes longer by the clock; the
  // probe leaves the waiting out). This thread's own time where the runtime tells it
  // (`process.threadCpuUsage`, in later Node.js 22 and up): the process's counts V8's other threads too, so the busy gap may
  // hold less of this thread's work. (Reading /proc here instead allocated enough for
  // GC pauses, which the probe takes out, to swallow the gap under load.)
  const usage = (process as { threadCpuUsage?: () => NodeJS.CpuUsage }).threadCpuUsage?.bind(process) ?? process.cpuUsage.bind(process);
  const cpu = (): number => {
    const { user, system } = usage();
    return (user + system) / 1000;
  };
  // The process's count (Node.js 20, early 22) includes other threads (a worker still
  // ending, V8's helpers), which can make it run ahead of this thread's own work: twice as
  // long there, so that this thread's own share still passes the limit (a CI run once saw
  // the busy gap go unreported so).
  const until = cpu() + ((process as { threadCpuUsage?: unknown }).threadCpuUsage ? 2 : 4) * BLOCKED_LIMIT_MS;
  while (cpu() < until);
  await turn();
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2 * BLOCKED_LIMIT_MS); // asleep in a synchronous call
  await turn();
  probe.park(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2 * BLOCKED_LIMIT_MS));
  await turn();
  const stalls = probe.stop();
  t.is(stalls.blocked.length, 2, JSON.stringify(stalls));
  t.true(stalls.maxParkedMs >= BLOCKED_LIMIT_MS, 'the parked interval is reported apart');
});

for (const isolation of ['inline', 'thread', 'process'] as const) {
  test.serial(`${isolation}: random call sequences, both directions, with faults and hostile values: every call settles once, as the model says`, async (t) => {
    const baseline = agentFootprint();
    const figures: Figures = { runs: 0, steps: 0, calls: 0, hostile: 0, faults: 0, blocking: 0 };
    let maxParkedMs = 0;
    let maxWallMs = 0;
    let schedKnown = true;
    let maxOwnMs = 0;
    let maxGcMs = 0;
    await explained(fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 24, size: 'medium' }), async (cmds) => {
        const agent = await spawnAgent<typeof ValuesAgent>(valuesAgent, { isolation, expose: nodeSide, timeoutMs: 20_000 });
        figures.runs++;
        const probe = startLoopStallProbe(BLOCKED_LIMIT_MS);
        let stalls: LoopStalls;
        try {
          await fc.asyncModelRun(() => ({ model: { isolation, gone: undefined }, real: { agent, figures, probe } }), cmds);
        } finally {
          // Stopped however the run ends: its timer and GC observer must not outlive it.
          try {
            await agent.close();
          } finally {
            stalls = probe.stop();
          }
        }
        maxParkedMs = Math.max(maxParkedMs, stalls.maxParkedMs);
        maxWallMs = Math.max(maxWallMs, stalls.maxWallMs);
        schedKnown &&= stalls.schedKnown;
        maxOwnMs = Math.max(maxOwnMs, stalls.maxOwnMs);
        maxGcMs = Math.max(maxGcMs, stalls.maxGcMs);
        if (stalls.blocked.length > 0) throw new Error(`the node's event loop was blocked beyond ${BLOCKED_LIMIT_MS} ms: ${JSON.stringify(stalls.blocked)}`);
        // Every run ends its agent: it has exited, and a process agent's process is gone.
        await agent.exited;
        if (isolation === 'process') await until(() => gone(agent.pid), `process ${agent.pid} to end`, 10_000);
      }),
      { numRuns: RUNS[isolation], seed: SEED, endOnFailure: true },
    ));
    await until(() => withinFootprint(agentFootprint(), baseline), 'every agent thread and process to end', 20_000);
    const summary =
      `${isolation} (seed ${SEED}): ${figures.runs} runs, ${figures.steps} steps, ${figures.calls} calls settled once, ` +
      `${figures.hostile} hostile inputs, ${figures.faults} faults (timeouts, aborts, closes, kills), ${figures.blocking} agent.blocking calls; ` +
      `event loop: latest tick ${Math.round(maxWallMs)} ms late, of which at most ${Math.round(maxOwnMs)} ms neither waiting for a CPU nor in GC (limit ${BLOCKED_LIMIT_MS} ms; most GC in one gap ${Math.round(maxGcMs)} ms), longest deliberate park ${Math.round(maxParkedMs)} ms` +
      (schedKnown ? '' : ' (no schedstat: every late tick counted as blocked)');
    t.log(summary);
    t.true(figures.steps > 0);
  });
}
