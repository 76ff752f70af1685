/**
 * Model-based: random sequences of calls in both directions (async and blocking),
 * timeouts, aborts, hostile values thrown and returned, and hostile frames, against a
 * real agent of each isolation. After every step: the call settled exactly once with
 * the kind of outcome the model predicts, the node is alive, and its event loop was
 * never stalled. After every run: the agent closes and no thread or process is left.
 */
import test from 'ava';
import fc from 'fast-check';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { AbortError, AgentIpcError, DataCloneError, ThrownValueError, TimeoutError, spawnAgent, type Agent, type Isolation } from '../src/index.ts';
import { agentFootprint, until, withinFootprint } from './fixtures/hostile/footprint.ts';
import type ValuesAgent from './fixtures/hostile/values-agent.ts';
import { RETURNED, THROWN } from './fixtures/hostile/values.ts';

const valuesAgent = new URL('./fixtures/hostile/values-agent.ts', import.meta.url);
/** Generous: far above a loaded machine's worst honest turn, far below the stalls this guards against. */
const STALL_LIMIT_MS = 2_000;
/** Runs per isolation: each run spawns an agent, so threads and processes get fewer. */
const RUNS: Record<Isolation, number> = { inline: 100, thread: 12, process: 12 };

interface Model {
  isolation: Isolation;
  /** The connection was cut (a hostile frame): every later call rejects with a typed error. */
  broken: boolean;
}

interface Real {
  agent: Agent<typeof ValuesAgent>;
  figures: Figures;
}

interface Figures {
  runs: number;
  steps: number;
  hostile: number;
}

/** Settles `promise`, counting how often it settles (a promise can only settle once; the count proves it settled at all). */
async function outcome(promise: Promise<unknown>): Promise<{ ok: boolean; value: unknown; settles: number }> {
  let settles = 0;
  let ok = false;
  let value: unknown;
  await promise.then(
    (v) => {
      settles++;
      ok = true;
      value = v;
    },
    (e: unknown) => {
      settles++;
      value = e;
    },
  );
  return { ok, value, settles };
}

function expectTyped(m: Model, got: { ok: boolean; value: unknown }, what: string): boolean {
  if (!m.broken) return false;
  if (got.ok || !(got.value instanceof AgentIpcError)) throw new Error(`${what} after the connection was cut: expected a typed rejection, got ${String(got.value)}`);
  return true;
}

class Throw implements fc.AsyncCommand<Model, Real> {
  constructor(readonly kind: string) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    r.figures.hostile++;
    const got = await outcome(r.agent.remote.throwIt(this.kind));
    if (got.settles !== 1) throw new Error('not settled once');
    if (expectTyped(m, got, this.toString())) return;
    if (got.ok || !(got.value instanceof Error)) throw new Error(`${this.toString()}: resolved or rejected with a non-error`);
    if (THROWN[this.kind]!.expect.kind === 'thrown-value' && !(got.value instanceof ThrownValueError)) throw new Error(`${this.toString()}: ${String(got.value)}`);
  }
  toString = () => `throw(${this.kind})`;
}

class Return implements fc.AsyncCommand<Model, Real> {
  constructor(readonly kind: string) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    r.figures.hostile++;
    const got = await outcome(r.agent.remote.returnIt(this.kind));
    if (got.settles !== 1) throw new Error('not settled once');
    if (expectTyped(m, got, this.toString())) return;
    const fails = RETURNED[this.kind]!.cloneFails && m.isolation !== 'inline';
    if (fails && !(got.value instanceof DataCloneError)) throw new Error(`${this.toString()}: expected DataCloneError, got ${String(got.value)}`);
    if (!fails && !got.ok && !(m.isolation === 'inline' && got.value instanceof TypeError)) throw new Error(`${this.toString()}: rejected ${String(got.value)}`);
  }
  toString = () => `return(${this.kind})`;
}

class NodeThrows implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly kind: string,
    readonly blocking: boolean,
  ) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    r.figures.hostile++;
    const got = await outcome(this.blocking ? r.agent.remote.nodeThrowsBlocking(this.kind) : r.agent.remote.nodeThrows(this.kind));
    if (got.settles !== 1) throw new Error('not settled once');
    if (expectTyped(m, got, this.toString())) return;
    const seen = got.value as { settled?: string; isError?: boolean };
    if (!got.ok || seen.settled !== 'rejected' || !seen.isError) throw new Error(`${this.toString()}: ${JSON.stringify(seen)}`);
  }
  toString = () => `nodeThrows(${this.kind}, ${this.blocking ? 'blocking' : 'async'})`;
}

class NodeReturns implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly kind: string,
    readonly blocking: boolean,
  ) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    r.figures.hostile++;
    const got = await outcome(this.blocking ? r.agent.remote.nodeReturnsBlocking(this.kind) : r.agent.remote.nodeReturns(this.kind));
    if (got.settles !== 1) throw new Error('not settled once');
    if (expectTyped(m, got, this.toString())) return;
    const seen = got.value as { settled?: string; name?: string };
    if (!got.ok || (seen.settled !== 'resolved' && seen.settled !== 'rejected')) throw new Error(`${this.toString()}: ${JSON.stringify(seen)}`);
    if (RETURNED[this.kind]!.cloneFails && m.isolation !== 'inline' && seen.name !== 'DataCloneError') throw new Error(`${this.toString()}: ${JSON.stringify(seen)}`);
  }
  toString = () => `nodeReturns(${this.kind}, ${this.blocking ? 'blocking' : 'async'})`;
}

class Slow implements fc.AsyncCommand<Model, Real> {
  constructor(readonly how: 'timeout' | 'abort' | 'finish') {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const controller = new AbortController();
    const options = this.how === 'timeout' ? { timeoutMs: 5 } : this.how === 'abort' ? { signal: controller.signal } : {};
    const call = r.agent.call('sleep', Uint8Array.of(this.how === 'finish' ? 1 : 50), options);
    if (this.how === 'abort') setTimeout(() => controller.abort(), 2);
    const got = await outcome(call);
    if (got.settles !== 1) throw new Error('not settled once');
    if (expectTyped(m, got, this.toString())) return;
    const want = this.how === 'timeout' ? TimeoutError : this.how === 'abort' ? AbortError : undefined;
    if (want ? !(got.value instanceof want) : !(got.value instanceof Uint8Array)) throw new Error(`${this.toString()}: ${String(got.value)}`);
  }
  toString = () => `slow(${this.how})`;
}

class HostileFrame implements fc.AsyncCommand<Model, Real> {
  check = (m: Readonly<Model>) => m.isolation !== 'inline' && !m.broken;
  async run(m: Model, r: Real): Promise<void> {
    r.figures.hostile++;
    const send = m.isolation === 'thread' ? r.agent.remote.postSparseRequest(2 ** 31) : r.agent.remote.writeFrame('sparseRequest', 2 ** 31);
    const got = await outcome(send);
    if (got.settles !== 1) throw new Error('not settled once');
    m.broken = true;
    const after = await outcome(r.agent.remote.ping());
    if (after.ok || !(after.value instanceof AgentIpcError)) throw new Error(`ping after a hostile frame: ${String(after.value)}`);
  }
  toString = () => 'hostileFrame(sparse 2³¹)';
}

const thrownKinds = Object.keys(THROWN).filter((kind) => kind !== 'causeDeep');
const returnedKinds = Object.keys(RETURNED);
const commands = [
  fc.constantFrom(...thrownKinds).map((kind) => new Throw(kind)),
  fc.constantFrom(...returnedKinds).map((kind) => new Return(kind)),
  fc.tuple(fc.constantFrom(...thrownKinds), fc.boolean()).map(([kind, blocking]) => new NodeThrows(kind, blocking)),
  fc.tuple(fc.constantFrom(...returnedKinds), fc.boolean()).map(([kind, blocking]) => new NodeReturns(kind, blocking)),
  fc.constantFrom('timeout', 'abort', 'finish' as const).map((how) => new Slow(how)),
  fc.constant(new HostileFrame()),
];

const nodeSide = {
  throwIt(kind: string): never {
    throw THROWN[kind]!.make();
  },
  returnIt(kind: string): unknown {
    return RETURNED[kind]!.make();
  },
  ping: () => 'pong',
};

for (const isolation of ['inline', 'thread', 'process'] as const) {
  test.serial(`${isolation}: random call sequences with hostile values and frames: every call settles once, as the model says`, async (t) => {
    const baseline = agentFootprint();
    const figures: Figures = { runs: 0, steps: 0, hostile: 0 };
    const histogram = monitorEventLoopDelay({ resolution: 10 });
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 15 }), async (cmds) => {
        const agent = await spawnAgent<typeof ValuesAgent>(valuesAgent, { isolation, expose: nodeSide, timeoutMs: 20_000 });
        figures.runs++;
        histogram.reset();
        histogram.enable();
        try {
          await fc.asyncModelRun(
            () => ({ model: { isolation, broken: false }, real: { agent, figures } }),
            [...cmds].map((command) => ({
              check: (m: Readonly<Model>) => command.check(m),
              run: async (m: Model, r: Real) => {
                figures.steps++;
                await command.run(m, r);
                // The node is alive: its event loop still turns.
                await new Promise((resolve) => setImmediate(resolve));
              },
              toString: () => command.toString(),
            })),
          );
        } finally {
          histogram.disable();
          await agent.close();
        }
        const stall = histogram.max / 1e6;
        if (stall > STALL_LIMIT_MS) throw new Error(`the event loop stalled ${stall} ms`);
      }),
      { numRuns: RUNS[isolation], seed: 0x5eed, endOnFailure: true },
    );
    await until(() => withinFootprint(agentFootprint(), baseline), 'every agent thread and process to end', 20_000);
    t.log(`${isolation}: ${figures.runs} runs, ${figures.steps} steps, ${figures.hostile} hostile inputs`);
    t.true(figures.steps > 0);
  });
}
