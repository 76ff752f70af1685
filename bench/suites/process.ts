/**
 * Process isolation: what an agent in a child process costs and how fast it talks,
 * next to a thread agent and to Node's own `child_process.fork` IPC doing the same work.
 * Tables: start-up time from source and from the built package, pipelined async calls
 * (256 in flight), blocking calls from the agent; and resident memory per agent.
 */
import { forkIpc, startForkChild, stopForkChild } from '../baselines/fork-ipc.ts';
import type { Case, Measurement } from '../harness/case.ts';
import { withFixtures, type Fixture } from '../harness/fixture.ts';
import { fmt } from '../harness/report.ts';
import { runRounds, type GroupResult } from '../harness/rounds.ts';
import type { Suite, SummaryTable } from '../harness/suite.ts';
import { summarize } from '../harness/stats.ts';
import { metricTarget, speedupTarget, type TargetResult } from '../harness/targets.ts';
import { agentIpcIsolation, residentBytes, startPeer } from '../subjects/agent-ipc-isolation.ts';
import { BuiltPackageProbe, builtResidentBytes, builtSpawnCase } from '../subjects/built-package.ts';

const CALLS = 100_000;
const IN_FLIGHT = 256;
const BURST_CALLS = 5_000;
const ROUNDS = 11;
const SPAWN_ROUNDS = 7;
/** Agents started at once to measure memory per agent. */
const MEMORY_AGENTS = 4;
const MiB = 1024 * 1024;
/** Repetitions of the built-package memory measurement (each starts MEMORY_AGENTS agents). */
const BUILT_MEMORY_REPEATS = 5;
/** Goals for a thread agent of the built package (issue 6). */
const SPAWN_GOAL_MS = 50;
const RSS_GOAL_MB = 15;

type Contender = Fixture & {
  pipelined(calls: number, inFlight: number): Promise<Measurement>;
  burst(calls: number): Promise<Measurement>;
};

/** A table row for a fixture's scenario; a fixture that failed to start fails its rows. */
function row(f: Contender, startError: unknown, run: () => Promise<Measurement>): Case {
  return {
    name: f.name,
    setup() {
      if (startError !== undefined) throw startError instanceof Error ? startError : new Error(String(startError));
    },
    run,
  };
}

/** A case that starts one agent (or fork child) per run and times it until it answers. */
function spawnCase(name: string, start: () => Promise<() => Promise<void>>): Case {
  return {
    name,
    async run() {
      const t0 = process.hrtime.bigint();
      const stop = await start();
      const ns = Number(process.hrtime.bigint() - t0);
      await stop();
      return { ops: 1, ns };
    },
  };
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resident memory per agent: thread agents grow this process, process agents have their own. */
async function memoryPerAgent(): Promise<SummaryTable> {
  const rows: string[][] = [];
  const before = process.memoryUsage().rss;
  const threads = await Promise.all(Array.from({ length: MEMORY_AGENTS }, (_, i) => startPeer('thread', `mem-thread-${i}`)));
  await Promise.all(threads.map((a) => a.remote.add(1, 1)));
  await pause(200);
  rows.push(['agent-ipc thread', fmt((process.memoryUsage().rss - before) / MEMORY_AGENTS / MiB), 'growth of the node process']);
  await Promise.all(threads.map((a) => a.close()));

  const processes = await Promise.all(Array.from({ length: MEMORY_AGENTS }, (_, i) => startPeer('process', `mem-process-${i}`)));
  await Promise.all(processes.map((a) => a.remote.add(1, 1)));
  await pause(200);
  const sizes = processes.map((a) => residentBytes(a.pid));
  if (sizes.every((s) => s !== undefined)) {
    rows.push(['agent-ipc process', fmt((sizes as number[]).reduce((x, y) => x + y, 0) / MEMORY_AGENTS / MiB), 'VmRSS of the agent process (main + watchdog thread)']);
  }
  await Promise.all(processes.map((a) => a.close()));

  const forks = await Promise.all(Array.from({ length: MEMORY_AGENTS }, () => startForkChild('json')));
  await pause(200);
  const forkSizes = forks.map((c) => residentBytes(c.pid!));
  if (forkSizes.every((s) => s !== undefined)) {
    rows.push(['fork-ipc child', fmt((forkSizes as number[]).reduce((x, y) => x + y, 0) / MEMORY_AGENTS / MiB), 'VmRSS of a bare forked child']);
  }
  await Promise.all(forks.map((c) => stopForkChild(c)));
  return { title: `resident memory per agent, MiB (${MEMORY_AGENTS} started at once)`, header: ['contender', 'MiB', 'what is measured'], rows };
}

/**
 * Memory per thread agent of the built package, each repeat in a fresh process and
 * repeated because RSS moves with the allocator; the bare worker beside it shows what
 * Node itself costs per thread.
 */
async function builtMemory(): Promise<{ table: SummaryTable; target: TargetResult }> {
  const agent: number[] = [];
  const worker: number[] = [];
  for (let i = 0; i < BUILT_MEMORY_REPEATS; i++) {
    agent.push((await builtResidentBytes('agent', MEMORY_AGENTS)) / 1e6);
    worker.push((await builtResidentBytes('worker', MEMORY_AGENTS)) / 1e6);
  }
  const a = summarize(agent);
  const w = summarize(worker);
  const cell = (s: typeof a): string => `${fmt(s.median)} (IQR ${fmt(s.q1)}–${fmt(s.q3)})`;
  return {
    table: {
      title: `built package (dist/, plain node): resident memory per thread, MB (${MEMORY_AGENTS} started at once, ${BUILT_MEMORY_REPEATS} repeats)`,
      header: ['contender', 'MB per thread', 'what is measured'],
      rows: [
        ['agent-ipc thread (built)', cell(a), 'growth of the node process per live agent'],
        ['bare Worker', cell(w), 'growth per live worker_threads Worker that only posts "ready"'],
      ],
    },
    target: {
      goal: `thread agent (built package): ≤ ${RSS_GOAL_MB} MB resident memory each`,
      value: a.median,
      spread: [a.q1, a.q3],
      unit: 'MB',
      met: a.median <= RSS_GOAL_MB,
    },
  };
}

const suite: Suite = {
  name: 'process',
  description: 'process isolation: start-up, memory, async and blocking calls vs thread agents and fork IPC',
  async run() {
    const spawn = await runRounds({
      key: 'spawn',
      title: 'start-up: spawnAgent until the agent answers (µs per agent; close not timed)',
      unit: 'µs/call',
      cases: [
        spawnCase('agent-ipc-process', async () => {
          const agent = await startPeer('process', 'spawn-process');
          return () => agent.close();
        }),
        spawnCase('agent-ipc-thread', async () => {
          const agent = await startPeer('thread', 'spawn-thread');
          return () => agent.close();
        }),
        spawnCase('fork-ipc', async () => {
          const child = await startForkChild('json');
          return () => stopForkChild(child);
        }),
      ],
      rounds: SPAWN_ROUNDS,
      subject: 'agent-ipc-process',
    });
    const memory = await memoryPerAgent();

    const probe = new BuiltPackageProbe();
    const built = await withFixtures([probe], async (startErrors) => {
      const spawnBuilt = await runRounds({
        key: 'spawn-built',
        title: 'start-up from the built package in plain node (no tsx): spawnAgent until the agent answers, against a bare Worker until its first message (µs)',
        unit: 'µs/call',
        cases: [
          builtSpawnCase('agent-ipc-thread-built', probe, 'agent', startErrors.get(probe)),
          builtSpawnCase('bare-worker', probe, 'worker', startErrors.get(probe)),
        ],
        rounds: SPAWN_ROUNDS * 2 + 1,
        subject: 'agent-ipc-thread-built',
      });
      return { spawnBuilt, memory: startErrors.has(probe) ? undefined : await builtMemory() };
    });

    // inline is the RFC's current architecture: the same agent module on the node's thread.
    const contenders: Contender[] = [agentIpcIsolation('process'), agentIpcIsolation('thread'), agentIpcIsolation('inline'), forkIpc('json'), forkIpc('advanced')];
    return withFixtures(contenders, async (startErrors) => {
      const pipelined = await runRounds({
        key: 'pipelined',
        title: `pipelined: add(i, 1), ${CALLS.toLocaleString('en-US')} calls per round, ${IN_FLIGHT} in flight, node → agent`,
        unit: 'calls/s',
        cases: contenders.map((f) => row(f, startErrors.get(f), () => f.pipelined(CALLS, IN_FLIGHT))),
        rounds: ROUNDS,
        subject: 'agent-ipc-process',
      });
      const blocking = await runRounds({
        key: 'blocking',
        title: `agent → node: ${BURST_CALLS.toLocaleString('en-US')} back-to-back add(i, 1) calls per round (agent-ipc: main.blocking; fork: await each reply)`,
        unit: 'µs/call',
        cases: contenders.map((f) => row(f, startErrors.get(f), () => f.burst(BURST_CALLS))),
        rounds: ROUNDS,
        warmupRounds: 2,
        subject: 'agent-ipc-process',
      });
      const groups: GroupResult[] = [spawn, built.spawnBuilt, pipelined, blocking];
      const spawnGoal = metricTarget(
        built.spawnBuilt,
        'agent-ipc-thread-built',
        'usPerOp',
        { atMost: SPAWN_GOAL_MS * 1000 },
        `thread agent (built package): spawn until it answers ≤ ${SPAWN_GOAL_MS} ms (µs)`,
      );
      return {
        groups,
        targets: [
          speedupTarget(pipelined, 'agent-ipc-process', 'fork-ipc', { atLeast: 2 }, 'pipelined: agent-ipc process agent ≥ 2× fork IPC calls/s'),
          spawnGoal,
          built.memory?.target ?? { goal: `thread agent (built package): ≤ ${RSS_GOAL_MB} MB resident memory each`, value: null, spread: null, unit: 'MB', met: null },
        ],
        summaries: built.memory ? [memory, built.memory.table] : [memory],
        notes: [
          'agent-ipc-inline: the same agent module loaded on the node\'s own thread (isolation: \'inline\'); its blocking calls are direct calls.',
          'agent-ipc-process: a child process; its main thread exchanges batches with the node over a Unix socket (length-prefixed v8.serialize frames, one write per batch), and makes its blocking calls itself on a second socket (a write, then a blocking read for the answer); a watchdog thread ends it if the node dies.',
          'fork-ipc: child_process.fork with one process.send per call and a pending map; fork-ipc-advanced uses serialization: \'advanced\' (v8.serialize) instead of JSON.',
          'The agent → node table times the calls in the calling process: agent-ipc thread agents park in Atomics.wait per call, process agents in a blocking read of their socket; the fork child awaits each reply (it cannot block). A blocking call of a process agent costs two thread wake-ups (the node\'s, then the agent\'s), as the fork round trip does, plus a socket write and read each way; there is no target for it.',
          'The spawn table and the first memory table run from source under tsx, so each agent thread or process also registers tsx and compiles its modules: start-up and memory are higher than from the built package.',
          'The goals on start-up and memory are measured from the built package (dist/, rebuilt first if src/ is newer) in a plain node process forked without tsx (bench/built/probe.mjs): what a user of the npm package gets.',
        ],
      };
    });
  },
};

export default suite;
