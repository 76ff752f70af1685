/**
 * The contenders of the load suites, each a fixture that runs a `LoadScenario` and
 * reports the time spent in calls: agent-ipc (thread or process agent, `main.blocking`),
 * sync-message-port and synckit (a caller worker each, bench/load/caller.worker.ts),
 * and the two Atomics floors (bench/baselines/atomics-floor.ts, bursts only).
 * `crowd` runs N copies of one contender at once.
 */
import { SyncMessagePort } from 'sync-message-port';
import { atomicsFloorTarget } from '../baselines/atomics-floor.ts';
import { blockingCase } from '../baselines/blocking-target.ts';
import { SkipCase, type Case, type Measurement } from '../harness/case.ts';
import type { Fixture } from '../harness/fixture.ts';
import { BenchWorker } from '../harness/worker.ts';
import { loadAgentIpc } from '../subjects/agent-ipc.ts';
import type LoadCallerAgent from '../agents/load-caller.ts';
import type { Agent, Isolation } from '../../src/index.ts';
import type { CallerCommand, CallerReply, CallerTransport, CallerWorkerData } from './caller.worker.ts';
import { answerRequest, loadHost, type HostRequest, type LoadHostApi } from './host.ts';
import { scenarioBytes, type LoadScenario } from './scenario.ts';

export interface LoadTarget extends Fixture {
  measure(s: LoadScenario): Promise<Measurement>;
}

function measurement(s: LoadScenario, ns: number): Measurement {
  const bytes = scenarioBytes(s);
  return { ops: s.calls, ns, ...(bytes === undefined ? {} : { bytes }) };
}

/** A table row: `target` running `scenario`; a target that failed to start fails (or skips) the row. */
export function loadCase(target: LoadTarget, scenario: LoadScenario, startError?: unknown): Case {
  return blockingCase(target, scenario, startError);
}

/** agent-ipc: an agent (bench/agents/load-caller.ts) calling the node with `main.blocking`. */
export function agentIpcLoadTarget(isolation: Isolation, index = 0): LoadTarget {
  let agent: Agent<typeof LoadCallerAgent> | undefined;
  let died: Promise<never> | undefined;
  const guarded = <T>(p: Promise<T>): Promise<T> => Promise.race([p, died!]);
  return {
    name: isolation === 'thread' ? 'agent-ipc' : `agent-ipc-${isolation}`,
    async start() {
      const { spawnAgent } = await loadAgentIpc();
      const name = `load-${isolation}-${index}`;
      agent = await spawnAgent<typeof LoadCallerAgent, LoadHostApi>(new URL('../agents/load-caller.ts', import.meta.url), {
        isolation,
        name,
        expose: loadHost,
      });
      died = agent.exited.then((exit) => {
        throw new Error(`agent ${name} exited: ${JSON.stringify(exit)}`);
      });
      died.catch(() => {});
      await guarded(agent.remote.run({ kind: 'burst', calls: 100 }));
    },
    async measure(s) {
      if (agent === undefined) throw new Error('agent-ipc: not started');
      return measurement(s, await guarded(agent.remote.run(s)));
    },
    async stop() {
      await agent?.close();
      agent = undefined;
    },
  };
}

/** A caller worker blocking through sync-message-port or synckit. */
function callerWorkerTarget(transport: CallerTransport): LoadTarget {
  let worker: BenchWorker | undefined;
  let local: SyncMessagePort | undefined;

  function command(c: CallerCommand): Promise<number> {
    const w = worker;
    if (w === undefined) throw new Error(`${transport}: not started`);
    return w.guard(
      new Promise<number>((resolve, reject) => {
        w.worker.once('message', (reply: CallerReply) => (reply.error === undefined ? resolve(reply.ns) : reject(new Error(reply.error))));
        w.worker.postMessage(c);
      }),
    );
  }

  return {
    name: transport,
    async start() {
      const url = new URL('./caller.worker.ts', import.meta.url);
      if (transport === 'sync-message-port') {
        // As the package's README shows: a channel from createChannel(), both ends
        // wrapped in SyncMessagePort; this (main) end answers from its 'message' event.
        const channel = SyncMessagePort.createChannel();
        const port = new SyncMessagePort(channel.port1);
        local = port;
        port.on('message', (request: HostRequest) => port.postMessage(answerRequest(request)));
        const workerData: CallerWorkerData = { transport, port: channel.port2 };
        worker = new BenchWorker(url, { workerData, transferList: [channel.port2] });
      } else {
        const workerData: CallerWorkerData = { transport };
        worker = new BenchWorker(url, { workerData });
      }
      await command({ scenario: { kind: 'burst', calls: 100 } });
    },
    async measure(s) {
      return measurement(s, await command({ scenario: s }));
    },
    async stop() {
      if (worker !== undefined) {
        // Lets synckit end its own worker; a dead caller cannot answer, hence the catch.
        await command({ exit: true }).catch(() => 0);
        await worker.terminate();
      }
      local?.close();
      worker = undefined;
      local = undefined;
    },
  };
}

export const syncMessagePortTarget = (): LoadTarget => callerWorkerTarget('sync-message-port');
export const synckitWorkerTarget = (): LoadTarget => callerWorkerTarget('synckit');

/** The Atomics floors (no library, no codec). They run bursts only. */
export function floorTarget(spin: boolean): LoadTarget {
  const inner = atomicsFloorTarget({ spin });
  return {
    name: inner.name,
    start: () => inner.start(),
    stop: () => inner.stop(),
    measure(s) {
      if (s.kind !== 'burst') throw new SkipCase(`${inner.name} runs bursts only`);
      return inner.measure(s);
    },
  };
}

/**
 * `n` copies of a contender working at once: each makes the scenario's calls, all
 * started together. Timed as wall time on this thread from the first command to the
 * last answer, so the figures are the total rate of the `n` callers (and µs/call the
 * total time divided by all their calls).
 */
export function crowd(n: number, make: (index: number) => LoadTarget): LoadTarget {
  const members = Array.from({ length: n }, (_, i) => make(i));
  return {
    name: members[0].name,
    async start() {
      // Together: on a busy machine, starting dozens of threads one by one takes minutes.
      // A member that failed to start is still stopped by `stop`, which is safe after a partial start.
      await Promise.all(members.map((m) => m.start()));
    },
    async stop() {
      const errors: unknown[] = [];
      for (const m of members) await m.stop().catch((e: unknown) => errors.push(e));
      if (errors.length > 0) throw errors[0];
    },
    async measure(s) {
      const start = process.hrtime.bigint();
      await Promise.all(members.map((m) => m.measure(s)));
      const ns = Number(process.hrtime.bigint() - start);
      const bytes = scenarioBytes(s);
      return { ops: s.calls * n, ns, ...(bytes === undefined ? {} : { bytes: bytes * n }) };
    },
  };
}
