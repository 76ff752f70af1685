/**
 * The library under test, as the benchmarks use it: only through its public entry
 * points (`spawnAgent` here, `defineAgent` in bench/agents/). The import is dynamic and
 * guarded so that, while the core is being written, its cases are reported as skipped
 * and the baselines still run.
 */
import { SkipCase, type Case, type Measurement } from '../harness/case.ts';
import { pipeline } from '../harness/pipeline.ts';
import { cachedPayload, type BlockingScenario, type BlockingTarget } from '../baselines/blocking-target.ts';
import type AdderAgent from '../agents/adder.ts';
import type BlockingCallerAgent from '../agents/blocking-caller.ts';
// Type-only: erased at run time, so a missing core fails in loadAgentIpc, not here.
import type { Agent } from '../../src/index.ts';

type AgentIpc = typeof import('../../src/index.ts');

/** What the node exposes to the blocking-caller agent. */
export interface BenchNodeApi {
  add(a: number, b: number): number;
  bytes(size: number): Uint8Array;
}

let loading: Promise<AgentIpc> | undefined;

/** The `agent-ipc` main entry, or `SkipCase` saying why it cannot be used. */
export function loadAgentIpc(): Promise<AgentIpc> {
  loading ??= import('../../src/index.ts').then(
    (mod) => {
      if (typeof mod.spawnAgent !== 'function') throw new SkipCase('agent-ipc core not available (src/index.ts has no spawnAgent)');
      return mod;
    },
    (error: unknown) => {
      throw new SkipCase(`agent-ipc core not available (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`);
    },
  );
  return loading;
}

/** Rejects when the agent exits, so a run cannot hang on a dead agent. */
function untilExit(exited: Promise<unknown>, name: string): Promise<never> {
  return exited.then((exit) => {
    throw new Error(`agent ${name} exited: ${JSON.stringify(exit)}`);
  });
}

export interface AsyncOptions {
  calls: number;
  inFlight: number;
}

/** agent-ipc async calls, node → agent, `inFlight` outstanding: `agent.remote.add`. */
export function agentIpcAsyncCase(o: AsyncOptions): Case {
  let agent: Agent<typeof AdderAgent> | undefined;
  let died: Promise<never> | undefined;

  return {
    name: 'agent-ipc',
    async setup() {
      const { spawnAgent } = await loadAgentIpc();
      agent = await spawnAgent<typeof AdderAgent>(new URL('../agents/adder.ts', import.meta.url), { name: 'bench-adder' });
      died = untilExit(agent.exited, 'bench-adder');
      died.catch(() => {});
      if ((await agent.remote.add(1, 2)) !== 3) throw new Error('agent-ipc: add(1, 2) !== 3');
    },
    run(): Promise<Measurement> {
      const a = agent;
      if (a === undefined || died === undefined) throw new Error('agent-ipc: not set up');
      return Promise.race([
        pipeline({
          calls: o.calls,
          inFlight: o.inFlight,
          call: (i) => a.remote.add(i, 1),
          check: (i, result) => result === i + 1,
        }),
        died,
      ]);
    },
    async teardown() {
      await agent?.close();
      agent = undefined;
    },
  };
}

/**
 * agent-ipc blocking calls, agent → node: the node exposes `add` and `bytes`, the agent
 * (bench/agents/blocking-caller.ts) calls them with `main.blocking` and times itself.
 */
export function agentIpcBlockingTarget(): BlockingTarget {
  let agent: Agent<typeof BlockingCallerAgent> | undefined;
  let died: Promise<never> | undefined;
  const expose: BenchNodeApi = {
    add: (a, b) => a + b,
    bytes: (size) => cachedPayload(size),
  };

  const guarded = <T>(p: Promise<T>): Promise<T> => {
    if (died === undefined) throw new Error('agent-ipc: not started');
    return Promise.race([p, died]);
  };

  return {
    name: 'agent-ipc',
    async start() {
      const { spawnAgent } = await loadAgentIpc();
      agent = await spawnAgent<typeof BlockingCallerAgent, BenchNodeApi>(new URL('../agents/blocking-caller.ts', import.meta.url), {
        name: 'bench-blocking-caller',
        expose,
      });
      died = untilExit(agent.exited, 'bench-blocking-caller');
      died.catch(() => {});
      await guarded(agent.remote.burst(1));
    },
    async measure(s: BlockingScenario): Promise<Measurement> {
      const a = agent;
      if (a === undefined) throw new Error('agent-ipc: not started');
      switch (s.kind) {
        case 'burst':
          return { ops: s.calls, ns: await guarded(a.remote.burst(s.calls)) };
        case 'spaced':
          return { ops: s.calls, ns: await guarded(a.remote.spaced(s.calls, s.gapMs)) };
        case 'fetch':
          return { ops: s.calls, ns: await guarded(a.remote.fetch(s.size, s.calls)), bytes: s.size * s.calls };
      }
    },
    async stop() {
      await agent?.close();
      agent = undefined;
    },
  };
}
