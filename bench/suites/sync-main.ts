/**
 * The main thread blocking on a worker (issue #16): synchronous code calling an async
 * API in a worker, the job of synckit, make-synchronized and sync-message-port, against
 * agent-ipc's `agent.blocking.add(i, 1)`. Two scenarios — a burst of back-to-back tiny
 * calls, and calls spaced 2 ms apart (both threads asleep at every call) — each on the
 * machine as it is ("calm") and with the whole process, every thread of it, pinned to one
 * core (`taskset -a -p -c 0`) for the measured part of each round. Rounds interleave the
 * contenders; ratios are per round.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { createSyncFn } from 'synckit';
import { makeSynchronized } from 'make-synchronized';
import { SyncMessagePort } from 'sync-message-port';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Case, Measurement } from '../harness/case.ts';
import { withFixtures, type Fixture } from '../harness/fixture.ts';
import { runRounds, type GroupResult } from '../harness/rounds.ts';
import { sleepBlocking } from '../harness/sleep.ts';
import type { Suite } from '../harness/suite.ts';
import { speedupTarget, type TargetResult } from '../harness/targets.ts';
import type PlacementAgent from '../agents/placement.ts';
import { currentThreadId, shareCpu } from '../harness/thread-cpu.ts';
import { summarize } from '../harness/stats.ts';
import type { Agent } from '../../src/index.ts';
import { loadAgentIpc } from '../subjects/agent-ipc.ts';

const BURST_CALLS = 5_000;
const SPACED_CALLS = 100;
const GAP_MS = 2;
const ROUNDS = Number(process.env.SYNC_MAIN_ROUNDS ?? 11);
const WARMUP_ROUNDS = Number(process.env.SYNC_MAIN_WARMUP ?? 2);

/** A contender: started once, then `add(i)` must return `i + 1` synchronously. */
interface SyncTarget extends Fixture {
  add(i: number): number;
  /**
   * Whether the caller's thread and the thread answering it are on one CPU now
   * (undefined: not known). Only agent-ipc says: the others' worker threads are theirs.
   */
  sharesCpu?(): boolean | undefined;
}

/** Calls between two looks at where agent-ipc's two threads are, in a calm burst. */
const PLACEMENT_EVERY = 1_000;

/**
 * Per calm burst round of agent-ipc (warm-up rounds included): µs a call, and how many of
 * its looks found the two threads on one CPU. The calm figure depends on it: this
 * machine's kernel packs lightly loaded threads onto one vCPU (docs/blocking-calls.md,
 * "Found (2026-12-07)").
 */
const calmBurstPlacement: Array<{ usPerCall: number; together: number; looks: number }> = [];

function checked(name: string, value: unknown, i: number): void {
  if (value !== i + 1) throw new Error(`${name}: wrong answer for add(${i}, 1): ${String(value)}`);
}

/** agent-ipc: `spawnAgentSync` and `agent.blocking.add`. */
function agentIpcTarget(): SyncTarget {
  let agent: Agent<typeof PlacementAgent> | undefined;
  let agentTid = 0;
  const ownTid = currentThreadId();
  return {
    name: 'agent-ipc',
    async start() {
      const { spawnAgentSync } = await loadAgentIpc();
      agent = spawnAgentSync<typeof PlacementAgent>(new URL('../agents/placement.ts', import.meta.url), { name: 'bench-sync-main' });
      checked('agent-ipc', agent.blocking.add(0, 1), 0);
      agentTid = agent.blocking.threadTid();
    },
    add(i) {
      return agent!.blocking.add(i, 1);
    },
    sharesCpu() {
      return shareCpu(ownTid, agentTid);
    },
    async stop() {
      await agent?.close();
    },
  };
}

/** synckit's `createSyncFn`, its worker being the synckit baseline's (`add` and `exit`). */
function synckitTarget(): SyncTarget {
  type Fn = (request: { op: 'add'; a: number; b: number } | { op: 'exit' }) => number;
  let fn: Fn | undefined;
  return {
    name: 'synckit',
    async start() {
      const dir = path.dirname(fileURLToPath(import.meta.url));
      // A path string of its own: synckit caches one worker per path for the process's life.
      fn = createSyncFn<Fn>(`${dir}/./../baselines/synckit.worker.mjs`, { execArgv: process.execArgv });
      checked('synckit', fn({ op: 'add', a: 0, b: 1 }), 0);
    },
    add(i) {
      return fn!({ op: 'add', a: i, b: 1 });
    },
    async stop() {
      fn?.({ op: 'exit' });
      fn = undefined;
    },
  };
}

/** make-synchronized: an inline async function made synchronous (it runs in a worker). */
function makeSynchronizedTarget(): SyncTarget {
  let fn: ((a: number, b: number) => number) | undefined;
  return {
    name: 'make-synchronized',
    async start() {
      fn = makeSynchronized(async (a: number, b: number) => a + b) as unknown as (a: number, b: number) => number;
      checked('make-synchronized', fn(0, 1), 0);
    },
    add(i) {
      return fn!(i, 1);
    },
    async stop() {
      // make-synchronized unrefs its worker and offers no way to stop it; it ends with the process.
      fn = undefined;
    },
  };
}

/** sync-message-port: a request on a SyncMessagePort, the answer read with `receiveMessage()`. */
function syncMessagePortTarget(): SyncTarget {
  let worker: Worker | undefined;
  let port: SyncMessagePort | undefined;
  return {
    name: 'sync-message-port',
    async start() {
      const channel = SyncMessagePort.createChannel();
      worker = new Worker(
        `const { workerData } = require('node:worker_threads');
         const { SyncMessagePort } = require(workerData.module);
         const port = new SyncMessagePort(workerData.port);
         port.on('message', async (m) => {
           if (m === 'exit') { port.close(); return; }
           port.postMessage(await (async () => m[0] + m[1])());
         });`,
        {
          eval: true,
          workerData: { port: channel.port2, module: fileURLToPath(import.meta.resolve('sync-message-port')) },
          transferList: [channel.port2],
          execArgv: [],
        },
      );
      port = new SyncMessagePort(channel.port1);
      port.postMessage([0, 1]);
      checked('sync-message-port', port.receiveMessage({ timeout: 30_000 }), 0);
    },
    add(i) {
      port!.postMessage([i, 1]);
      return port!.receiveMessage() as number;
    },
    async stop() {
      port?.postMessage('exit');
      await worker?.terminate();
      port?.close();
    },
  };
}

const ALL_CPUS = `0-${os.cpus().length - 1}`;

/** Pins every thread of this process (the workers are threads of it) to `cpus`. */
function setAffinity(cpus: string): void {
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(process.pid)], { stdio: 'ignore' });
}

type Scenario = { kind: 'burst'; calls: number } | { kind: 'spaced'; calls: number; gapMs: number };

/**
 * Runs `s` on `target`, timed on this thread. `look`, in a calm burst of agent-ipc: where
 * its two threads are, asked every {@link PLACEMENT_EVERY} calls and recorded per round
 * in {@link calmBurstPlacement}.
 */
function measure(target: SyncTarget, s: Scenario, look?: () => boolean | undefined): Measurement {
  if (s.kind === 'burst') {
    let together = 0;
    let looks = 0;
    const start = process.hrtime.bigint();
    for (let i = 0; i < s.calls; i++) {
      checked(target.name, target.add(i), i);
      // Two reads of /proc (~5 µs) per 1,000 calls: under 1% of a call even when both spin.
      if (look !== undefined && i % PLACEMENT_EVERY === PLACEMENT_EVERY - 1) {
        const same = look();
        if (same !== undefined) {
          looks++;
          if (same) together++;
        }
      }
    }
    const ns = Number(process.hrtime.bigint() - start);
    if (looks > 0) calmBurstPlacement.push({ usPerCall: ns / 1e3 / s.calls, together, looks });
    return { ops: s.calls, ns };
  }
  let ns = 0n;
  for (let i = 0; i < s.calls; i++) {
    sleepBlocking(s.gapMs);
    const start = process.hrtime.bigint();
    const value = target.add(i);
    ns += process.hrtime.bigint() - start;
    checked(target.name, value, i);
  }
  return { ops: s.calls, ns: Number(ns) };
}

function syncCase(target: SyncTarget, scenario: Scenario, pinned: boolean, startError: unknown): Case {
  return {
    name: target.name,
    setup() {
      if (startError !== undefined) throw startError instanceof Error ? startError : new Error(String(startError));
    },
    async run() {
      if (!pinned) return measure(target, scenario, scenario.kind === 'burst' ? target.sharesCpu?.bind(target) : undefined);
      setAffinity('0');
      try {
        return measure(target, scenario);
      } finally {
        setAffinity(ALL_CPUS);
      }
    },
  };
}

/** What the looks at agent-ipc's two threads found in the calm burst rounds. */
function placementNote(): string[] {
  if (calmBurstPlacement.length === 0) return [];
  const packed = calmBurstPlacement.filter((r) => r.together > 0);
  const apart = calmBurstPlacement.filter((r) => r.together === 0);
  const median = (rows: typeof calmBurstPlacement): string => (rows.length === 0 ? '–' : `${summarize(rows.map((r) => r.usPerCall)).median.toFixed(2)} µs a call`);
  return [
    `agent-ipc's calm burst rounds (warm-up included), looked at every ${PLACEMENT_EVERY.toLocaleString('en-US')} calls in /proc: ` +
      `${packed.length} of ${calmBurstPlacement.length} rounds found the main thread and the agent's thread on one CPU at one look or more (median ${median(packed)}), ` +
      `${apart.length} found them apart at every look (median ${median(apart)}). On one CPU the two threads cannot both spin; this machine's kernel packs lightly loaded threads onto one vCPU (docs/blocking-calls.md, "Found (2026-12-07)").`,
  ];
}

const suite: Suite = {
  name: 'sync-main',
  description: 'the main thread blocking on a worker: agent-ipc agent.blocking vs synckit, make-synchronized, sync-message-port; calm and pinned to one core',
  async run() {
    const loadBefore = os.loadavg()[0]!;
    const targets: SyncTarget[] = [agentIpcTarget(), synckitTarget(), makeSynchronizedTarget(), syncMessagePortTarget()];
    return withFixtures(targets, async (startErrors) => {
      const table = (key: string, title: string, scenario: Scenario, pinned: boolean): Promise<GroupResult> =>
        runRounds({
          key,
          title,
          unit: 'µs/call',
          cases: targets.map((t) => syncCase(t, scenario, pinned, startErrors.get(t))),
          rounds: ROUNDS,
          warmupRounds: WARMUP_ROUNDS,
          subject: 'agent-ipc',
        });
      const burst: Scenario = { kind: 'burst', calls: BURST_CALLS };
      const spaced: Scenario = { kind: 'spaced', calls: SPACED_CALLS, gapMs: GAP_MS };
      const burstCalm = await table('burst-calm', `burst, calm: ${BURST_CALLS.toLocaleString('en-US')} back-to-back add(i, 1) calls per round`, burst, false);
      const burstPinned = await table('burst-pinned', `burst, pinned to one core: ${BURST_CALLS.toLocaleString('en-US')} add(i, 1) calls per round`, burst, true);
      const spacedCalm = await table('spaced-calm', `spaced, calm: ${SPACED_CALLS} add(i, 1) calls ${GAP_MS} ms apart (only the calls timed)`, spaced, false);
      const spacedPinned = await table('spaced-pinned', `spaced, pinned to one core: ${SPACED_CALLS} calls ${GAP_MS} ms apart`, spaced, true);

      const goals: TargetResult[] = [
        speedupTarget(burstCalm, 'agent-ipc', 'synckit', { atLeast: 10 }, 'burst, calm: agent-ipc ≥ 10× synckit'),
        speedupTarget(burstPinned, 'agent-ipc', 'synckit', { atLeast: 1.2 }, 'burst, pinned: agent-ipc ≥ 1.2× synckit'),
      ];
      for (const [group, label] of [
        [spacedCalm, 'spaced, calm'],
        [spacedPinned, 'spaced, pinned'],
      ] as const) {
        for (const baseline of ['synckit', 'make-synchronized', 'sync-message-port']) {
          goals.push(speedupTarget(group, 'agent-ipc', baseline, { atLeast: 1 }, `${label}: agent-ipc ≥ 1.0× ${baseline}`));
        }
      }
      return {
        groups: [burstCalm, burstPinned, spacedCalm, spacedPinned],
        targets: goals,
        notes: [
          'Every contender: the main thread is the blocked caller and a worker thread answers add(a, b); each times its calls on the main thread.',
          'agent-ipc: spawnAgentSync + agent.blocking.add (the agent method is synchronous; an async one adds a microtask turn in the agent).',
          'synckit: createSyncFn; make-synchronized: an inline async function; sync-message-port: postMessage + receiveMessage() on a SyncMessagePort pair, the worker answering from an async message handler.',
          "pinned: `taskset -a -p -c 0` on the bench process for the measured part of each round (every thread, the workers' included), restored after it.",
          `machine load (1-min load average on ${os.cpus().length} cores): ${loadBefore.toFixed(1)} at the start, ${os.loadavg()[0]!.toFixed(1)} at the end — "calm" means only "not pinned"; spinning pays only when both threads get a core at once.`,
          ...placementNote(),
        ],
      };
    });
  },
};

export default suite;
