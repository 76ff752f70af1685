/**
 * What a load suite runs inside its condition's child process (see
 * bench/harness/condition-runner.ts): the tables of issue 13 for one condition.
 *
 * - burst: back-to-back `add(i, 1)`; agent-ipc, synckit, sync-message-port and both
 *   Atomics floors (the no-spin floor is the one that matters when no core is free).
 * - spaced: `add(i, 1)` after 20 µs, 200 µs or 2 ms of CPU work (not sleep); agent-ipc
 *   as a thread and as a process agent, synckit, sync-message-port.
 * - payloads: strings and Uint8Arrays of 1 KiB, 64 KiB and 1 MiB; agent-ipc against
 *   sync-message-port.
 * - real code: the Sass workload (bench/realcode/sass-job.ts), total time and the
 *   time spent in its host calls, for agent-ipc, a direct worker, sync-message-port.
 *
 * The 8-callers condition runs the burst only, each contender 8 times at once.
 */
import type { ConditionContext } from '../harness/condition.ts';
import type { Case } from '../harness/case.ts';
import { withFixtures, type Fixture } from '../harness/fixture.ts';
import { runRounds, type CaseResult, type GroupResult, type RatioResult } from '../harness/rounds.ts';
import { summarize } from '../harness/stats.ts';
import type { SuiteResult } from '../harness/suite.ts';
import { agentIpcSassRunner, directSassRunner, referenceRun, smpSassRunner, type SassRunner } from '../realcode/targets.ts';
import type { SassRun } from '../realcode/sass-job.ts';
import { loadGoals } from './goals.ts';
import type { LoadScenario } from './scenario.ts';
import { agentIpcLoadTarget, crowd, floorTarget, loadCase, syncMessagePortTarget, synckitWorkerTarget, type LoadTarget } from './targets.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const GAPS: { key: string; label: string; us: number; calls: number }[] = [
  { key: 'spaced-20us', label: '20 µs', us: 20, calls: 1000 },
  { key: 'spaced-200us', label: '200 µs', us: 200, calls: 300 },
  { key: 'spaced-2ms', label: '2 ms', us: 2000, calls: 60 },
];
const SIZES = [
  { key: '1KiB', size: KiB, calls: 1000 },
  { key: '64KiB', size: 64 * KiB, calls: 128 },
  { key: '1MiB', size: MiB, calls: 12 },
];

/**
 * Short bursts (calm only, reported): a round of this many calls is over in ~1–20 ms, so
 * the spin policy's state from the round before decides most of it.
 */
const SHORT_BURST_CALLS = 1_000;
const SHORT_BURST_ROUNDS = 15;

interface Plan {
  burstCalls: number;
  burstRounds: number;
  spacedRounds: number;
  payloadRounds: number;
  realcodeRounds: number;
}

/** Fewer calls and rounds under load: a call can cost 100× more there. */
function planFor(ctx: ConditionContext): Plan {
  switch (ctx.condition.key) {
    case 'calm':
      return { burstCalls: 20_000, burstRounds: 11, spacedRounds: 9, payloadRounds: 7, realcodeRounds: 7 };
    case 'crowd':
      return { burstCalls: 1_000, burstRounds: 9, spacedRounds: 0, payloadRounds: 0, realcodeRounds: 0 };
    default:
      return { burstCalls: 3_000, burstRounds: 9, spacedRounds: 7, payloadRounds: 5, realcodeRounds: 5 };
  }
}

/**
 * A case for one Sass runner: times each compilation and checks its CSS against the
 * reference; keeps every run's host-call time so the IPC table can be built from the
 * same rounds.
 */
function sassCase(runner: SassRunner, reference: SassRun, runs: SassRun[], startError?: unknown): Case {
  return {
    name: runner.name,
    setup() {
      if (startError !== undefined) throw startError instanceof Error ? startError : new Error(String(startError));
    },
    async run() {
      const r = await runner.compile();
      if (r.hash !== reference.hash || r.calls !== reference.calls) {
        throw new Error(`${runner.name}: output differs from the reference (sha256 ${r.hash.slice(0, 12)}…, ${r.calls} calls; expected ${reference.hash.slice(0, 12)}…, ${reference.calls})`);
      }
      runs.push(r);
      return { ops: 1, ns: r.ns };
    },
  };
}

/**
 * The IPC table: time inside the host calls per call, from the same rounds as the
 * total-time table (the first `warmup` runs of each runner were warm-up there too).
 */
function ipcGroup(total: GroupResult, runs: Map<string, SassRun[]>): GroupResult {
  const cases: CaseResult[] = total.cases.map((c) => {
    const measured = (runs.get(c.name) ?? []).slice(total.warmupRounds);
    if (c.status !== 'ok' || measured.length === 0) return { name: c.name, status: c.status, ...(c.reason === undefined ? {} : { reason: c.reason }) };
    const usPerOp = measured.map((r) => r.callNs / 1e3 / r.calls);
    const opsPerSec = usPerOp.map((us) => 1e6 / us);
    return { name: c.name, status: 'ok', opsPerRun: measured[0].calls, samples: { opsPerSec, usPerOp }, opsPerSec: summarize(opsPerSec), usPerOp: summarize(usPerOp) };
  });
  const subject = cases.find((c) => c.name === 'agent-ipc' && c.status === 'ok');
  const ratios: RatioResult[] = [];
  for (const base of cases) {
    if (subject === undefined || base === subject || base.status !== 'ok') continue;
    const a = subject.samples!.opsPerSec;
    const b = base.samples!.opsPerSec;
    if (a.length !== b.length) continue;
    ratios.push({ subject: 'agent-ipc', baseline: base.name, speedup: summarize(a.map((x, k) => x / b[k])) });
  }
  return {
    key: 'realcode-ipc',
    title: 'real code (sass): time inside each host call (IPC cost per call), same rounds as the total-time table',
    unit: 'µs/call',
    rounds: total.rounds,
    warmupRounds: total.warmupRounds,
    cases,
    ratios,
  };
}

export default async function loadBody(ctx: ConditionContext): Promise<SuiteResult> {
  const { condition } = ctx;
  const plan = planFor(ctx);
  const n = condition.callers;
  const many = (make: (i: number) => LoadTarget): LoadTarget => (n === 1 ? make(0) : crowd(n, make));

  const burstTargets = [
    many((i) => agentIpcLoadTarget('thread', i)),
    many(() => synckitWorkerTarget()),
    many(() => syncMessagePortTarget()),
    many(() => floorTarget(false)),
    many(() => floorTarget(true)),
  ];
  const single = n === 1;
  const processTarget = agentIpcLoadTarget('process');
  const fixtures: Fixture[] = single ? [...burstTargets, processTarget] : burstTargets;
  const sassRunners: SassRunner[] = single ? [agentIpcSassRunner(), directSassRunner(), smpSassRunner()] : [];

  const groups: GroupResult[] = [];
  const notes: string[] = [];
  await withFixtures([...fixtures, ...sassRunners], async (startErrors) => {
    const table = (key: string, title: string, unit: GroupResult['unit'], targets: LoadTarget[], scenario: LoadScenario, rounds: number, warmupRounds = 1) =>
      runRounds({ key, title, unit, cases: targets.map((t) => loadCase(t, scenario, startErrors.get(t))), rounds, warmupRounds, subject: 'agent-ipc' });

    const each = n === 1 ? '' : ` by each of ${n} callers at once (total time ÷ all calls)`;
    groups.push(
      await table('burst', `burst: ${plan.burstCalls.toLocaleString('en-US')} back-to-back add(i, 1) calls${each} per round`, 'µs/call', burstTargets, { kind: 'burst', calls: plan.burstCalls }, plan.burstRounds, 2),
    );
    if (!single) return;

    const [agentIpc, synckit, smp] = burstTargets;
    if (ctx.condition.key === 'calm') {
      // Reported, no goal: whether bursts this short reach the spinning state (see
      // docs/blocking-calls.md, "Open: short bursts on a calm machine").
      groups.push(
        await table('burst-short', `short bursts: ${SHORT_BURST_CALLS.toLocaleString('en-US')} back-to-back add(i, 1) calls per round, each round started anew`, 'µs/call', burstTargets, { kind: 'burst', calls: SHORT_BURST_CALLS }, SHORT_BURST_ROUNDS),
      );
    }
    for (const gap of GAPS) {
      const workIterations = Math.round(gap.us * ctx.workPerUs);
      groups.push(
        await table(
          gap.key,
          `spaced: ${gap.calls} add(i, 1) calls, each after ${gap.label} of CPU work (${workIterations.toLocaleString('en-US')} iterations); only the calls timed`,
          'µs/call',
          [agentIpc, processTarget, synckit, smp],
          { kind: 'spaced', calls: gap.calls, workIterations, gapUs: gap.us },
          plan.spacedRounds,
        ),
      );
    }
    for (const kind of ['text', 'bytes'] as const) {
      for (const s of SIZES) {
        const what = kind === 'text' ? 'string' : 'Uint8Array';
        groups.push(
          await table(`${kind}-${s.key}`, `payload: ${s.calls} calls answered with a ${s.key.replace(/(\d)(K|M)/, '$1 $2')} ${what} per round`, 'GB/s', [agentIpc, smp], { kind, size: s.size, calls: s.calls }, plan.payloadRounds),
        );
      }
    }

    const reference = referenceRun();
    const runs = new Map<string, SassRun[]>(sassRunners.map((r) => [r.name, []]));
    const total = await runRounds({
      key: 'realcode',
      title: `real code (sass): one compilation per round with ${reference.calls.toLocaleString('en-US')} host calls (custom function + importer); total time`,
      unit: 'µs/call',
      cases: sassRunners.map((r) => sassCase(r, reference, runs.get(r.name)!, startErrors.get(r))),
      rounds: plan.realcodeRounds,
      warmupRounds: 2,
      subject: 'agent-ipc',
    });
    groups.push(total, ipcGroup(total, runs));
    notes.push(
      `Real code: every compilation's CSS matched the reference (sha256 ${reference.hash.slice(0, 16)}…, ${reference.calls} host calls) or its row would show as failed. ` +
        'Total time is one compilation (µs/call here means µs per compilation); the IPC table is the time spent inside the hooks\' host calls, per call, including the direct worker\'s (a Map lookup: the floor of any runner).',
    );
  });

  notes.push(
    'agent-ipc: a thread agent (process: a process agent) running bench/agents/load-caller.ts, calling the node with `main.blocking`; it times its calls on its own thread.',
    'sync-message-port and synckit: a caller worker each (bench/load/caller.worker.ts). sync-message-port as its README shows (createChannel, both ends wrapped, postMessage + receiveMessage), answered by the main thread\'s message event; synckit\'s createSyncFn is called from the worker, so each caller has its own answering worker.',
    'atomics-floor-sleep / -spin: bench/baselines/atomics-floor.ts, a worker blocking in Atomics.wait and main answering via Atomics.waitAsync; the sleep variant never spins (the floor when no core is free), the spin variant spins up to 50 µs on each side.',
    `Spaced gaps are CPU work calibrated before the condition started (${ctx.workPerUs.toFixed(0)} iterations/µs on the parent, calm), the same iteration count for every contender; under load the work takes longer, as real code would.`,
  );
  return { groups, targets: loadGoals(condition.key, condition.label, groups), notes };
}
