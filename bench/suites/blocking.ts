/**
 * Blocking calls: a thread parks until another answers. In agent-ipc the agent (a
 * worker) blocks and the node's main thread answers from its event loop. Three tables:
 * a burst of back-to-back calls (a sync loop reading storage), calls spaced 2 ms apart
 * (every call finds both threads asleep), and a payload sweep from 16 B to 8 MiB.
 */
import { atomicsFloorTarget } from '../baselines/atomics-floor.ts';
import { blockingCase, type BlockingScenario, type BlockingTarget } from '../baselines/blocking-target.ts';
import { synckitTarget } from '../baselines/synckit.ts';
import { withFixtures } from '../harness/fixture.ts';
import { runRounds, type GroupResult } from '../harness/rounds.ts';
import { fmt } from '../harness/report.ts';
import type { Suite, SummaryTable } from '../harness/suite.ts';
import { metricTarget, speedupTarget, type TargetResult } from '../harness/targets.ts';
import { agentIpcBlockingTarget } from '../subjects/agent-ipc.ts';

const BURST_CALLS = 20_000;
const SPACED_CALLS = 200;
const GAP_MS = 2;
const KiB = 1024;
const MiB = 1024 * KiB;
const SIZES = [16, KiB, 64 * KiB, MiB, 8 * MiB];
/**
 * Thread wake-up latency on these VMs flips between ~5 µs and ~30–65 µs in phases
 * lasting seconds, so a case can land in either; many short rounds keep the medians
 * and the per-round ratios stable. Two warm-up rounds: the spinning paths need a few
 * thousand calls before both threads run optimised code.
 */
const ROUNDS = 15;
const SWEEP_ROUNDS = 9;
const WARMUP_ROUNDS = 2;

/** Enough calls that each run moves ~128 MiB, but at least 16 and at most 2,000. */
function sweepCalls(size: number): number {
  return Math.min(2000, Math.max(16, Math.floor((128 * MiB) / size)));
}

function sizeName(size: number): string {
  return size >= MiB ? `${size / MiB} MiB` : size >= KiB ? `${size / KiB} KiB` : `${size} B`;
}

/** One row per payload size: each contender's median GB/s, and agent-ipc's ratios. */
function sweepSummary(sweep: readonly GroupResult[], names: readonly string[]): SummaryTable {
  const ratio = (g: GroupResult, baseline: string): string => {
    const r = g.ratios.find((x) => x.baseline === baseline);
    return r === undefined ? '–' : `${fmt(r.speedup.median)}×`;
  };
  return {
    title: 'payload sweep, median GB/s (agent-ipc speed ratio per round in the last columns)',
    header: ['payload', ...names, 'agent-ipc / floor-spin', 'agent-ipc / synckit'],
    rows: sweep.map((g, i) => [
      sizeName(SIZES[i]),
      ...names.map((n) => {
        const gb = g.cases.find((c) => c.name === n)?.gbPerSec;
        return gb === undefined ? '–' : fmt(gb.median);
      }),
      ratio(g, 'atomics-floor-spin'),
      ratio(g, 'synckit'),
    ]),
  };
}

const suite: Suite = {
  name: 'blocking',
  description: 'blocking calls: burst, spaced 2 ms apart, payload sweep 16 B – 8 MiB',
  async run() {
    const targets: BlockingTarget[] = [
      agentIpcBlockingTarget(),
      synckitTarget(),
      atomicsFloorTarget({ spin: true }),
      atomicsFloorTarget({ spin: false }),
    ];
    return withFixtures(targets, async (startErrors) => {
      const table = (key: string, title: string, unit: GroupResult['unit'], scenario: BlockingScenario, rounds: number): Promise<GroupResult> =>
        runRounds({
          key,
          title,
          unit,
          cases: targets.map((t) => blockingCase(t, scenario, startErrors.get(t))),
          rounds,
          warmupRounds: WARMUP_ROUNDS,
          subject: 'agent-ipc',
        });

      const burst = await table(
        'burst',
        `burst: ${BURST_CALLS.toLocaleString('en-US')} back-to-back add(i, 1) calls per round`,
        'µs/call',
        { kind: 'burst', calls: BURST_CALLS },
        ROUNDS,
      );
      const spaced = await table(
        'spaced',
        `spaced: ${SPACED_CALLS} add(i, 1) calls ${GAP_MS} ms apart per round (only the calls timed)`,
        'µs/call',
        { kind: 'spaced', calls: SPACED_CALLS, gapMs: GAP_MS },
        ROUNDS,
      );
      const sweep: GroupResult[] = [];
      for (const size of SIZES) {
        const calls = sweepCalls(size);
        sweep.push(
          await table(
            `sweep-${sizeName(size).replace(' ', '')}`,
            `payload ${sizeName(size)}: ${calls} bytes(${size}) calls per round`,
            'GB/s',
            { kind: 'fetch', size, calls },
            SWEEP_ROUNDS,
          ),
        );
      }

      const largest = sweep[sweep.length - 1];
      const goals: TargetResult[] = [
        speedupTarget(burst, 'agent-ipc', 'atomics-floor-spin', { atLeast: 1 / 3 }, 'burst: agent-ipc within 3× the spinning floor (speed ratio ≥ 0.333)'),
        speedupTarget(burst, 'agent-ipc', 'synckit', { atLeast: 10 }, 'burst: agent-ipc ≥ 10× synckit calls/s'),
        speedupTarget(spaced, 'agent-ipc', 'synckit', { atLeast: 1 }, 'spaced: agent-ipc time per call ≤ synckit (speed ratio ≥ 1)'),
        metricTarget(largest, 'agent-ipc', 'gbPerSec', { atLeast: 2 }, `${sizeName(SIZES[SIZES.length - 1])} payload: agent-ipc ≥ 2 GB/s`),
      ];
      return {
        groups: [burst, spaced, ...sweep],
        targets: goals,
        summaries: [sweepSummary(sweep, targets.map((t) => t.name))],
        notes: [
          'agent-ipc and both floors: a worker is the blocked caller and the main thread answers without blocking its event loop; each times its calls on the calling thread.',
          'synckit: the main thread is the blocked caller (how synckit is used) and a worker answers.',
          `floors: no codec — Int32 cells for add, one copy into and one out of a shared 8 MiB area for bytes; spinning variant spins up to 50 µs on each side before parking (the worker only while main is awake).`,
        ],
      };
    });
  },
};

export default suite;
