/**
 * The goals of issue 6, evaluated from the results files rather than from the targets
 * the suites printed: the report is the one place where every goal sits beside its
 * measured value, and a suite's own target wording may lag behind the issue. The goals
 * of issue 13 follow, one block per load condition: they are the load suites' own
 * targets (bench/load/goals.ts), because each depends on its condition. Issue 16's come
 * last, as the sync-main suites state them.
 */
import type { Summary } from '../harness/stats.ts';
import { fmt } from './markdown.ts';
import { LOAD_ORDER, loadSuiteName } from './load.ts';
import { caseOf, group, ratioOf, type Results } from './results.ts';

type Quartiles = Pick<Summary, 'median' | 'q1' | 'q3'>;

export interface GoalResult {
  /** Key into the "what bounds" notes. */
  id: string;
  goal: string;
  /** Measured median and IQR, formatted; "not measured" when absent. */
  measured: string;
  /** The median itself, to tell a reported ratio below 1 from one above. */
  median?: number;
  /** null: not measured, or a figure reported beside a goal without a bound of its own. */
  met: boolean | null;
  /** Where the figure comes from (suite / table / cases). */
  source: string;
}

interface GoalSpec {
  id: string;
  goal: string;
  source: string;
  /** The quantity, or undefined when its suite or cases did not run. */
  measure(r: Results): Quartiles | undefined;
  format(q: Quartiles): string;
  atLeast?: number;
  atMost?: number;
}

const times = (q: Quartiles): string => `${fmt(q.median)}× (IQR ${fmt(q.q1)}–${fmt(q.q3)})`;
const unit = (u: string, scale = 1) => (q: Quartiles): string => `${fmt(q.median * scale)} ${u} (IQR ${fmt(q.q1 * scale)}–${fmt(q.q3 * scale)})`;

/** A suite's own target by the start of its goal text (for figures only the suite derives). */
function target(r: Results, suite: string, prefix: string): Quartiles | undefined {
  const t = r.get(suite)?.targets.find((x) => x.goal.startsWith(prefix));
  return t?.value === null || t?.value === undefined || t.spread === null ? undefined : { median: t.value, q1: t.spread[0], q3: t.spread[1] };
}

const SPECS: GoalSpec[] = [
  {
    id: 'burst-floor',
    goal: 'Blocking burst within 3× the spinning floor (speed ratio ≥ 0.333)',
    source: 'blocking / burst: agent-ipc ÷ atomics-floor-spin',
    measure: (r) => ratioOf(group(r, 'blocking', 'burst'), 'agent-ipc', 'atomics-floor-spin'),
    format: times,
    atLeast: 1 / 3,
  },
  {
    id: 'burst-synckit',
    goal: 'Blocking burst against synckit (reported, no bound)',
    source: 'blocking / burst: agent-ipc ÷ synckit',
    measure: (r) => ratioOf(group(r, 'blocking', 'burst'), 'agent-ipc', 'synckit'),
    format: times,
  },
  {
    id: 'spaced-synckit',
    goal: 'Spaced blocking calls ≥ 1.0× synckit',
    source: 'blocking / spaced: agent-ipc ÷ synckit',
    measure: (r) => ratioOf(group(r, 'blocking', 'spaced'), 'agent-ipc', 'synckit'),
    format: times,
    atLeast: 1,
  },
  {
    id: 'pipelined-birpc',
    goal: 'Pipelined async calls ≥ 5× birpc',
    source: 'async / pipelined: agent-ipc ÷ birpc',
    measure: (r) => ratioOf(group(r, 'async', 'pipelined'), 'agent-ipc', 'birpc'),
    format: times,
    atLeast: 5,
  },
  {
    id: 'pipelined-raw',
    goal: 'Pipelined async calls ≥ 2× raw postMessage echo',
    source: 'async / pipelined: agent-ipc ÷ raw-echo',
    measure: (r) => ratioOf(group(r, 'async', 'pipelined'), 'agent-ipc', 'raw-echo'),
    format: times,
    atLeast: 2,
  },
  {
    id: 'payload-8mib',
    goal: '8 MiB blocking answer ≥ 2 GB/s',
    source: 'blocking / payload 8 MiB: agent-ipc GB/s',
    measure: (r) => caseOf(group(r, 'blocking', 'sweep-8MiB'), 'agent-ipc')?.gbPerSec,
    format: unit('GB/s'),
    atLeast: 2,
  },
  {
    id: 'process-fork',
    goal: 'Process isolation, pipelined async ≥ 2× fork IPC',
    source: 'process / pipelined: agent-ipc-process ÷ fork-ipc (json)',
    measure: (r) => ratioOf(group(r, 'process', 'pipelined'), 'agent-ipc-process', 'fork-ipc'),
    format: times,
    atLeast: 2,
  },
  {
    id: 'fullnode-thread-p99',
    goal: 'Reference node, thread agents: HTTP p99 during sync ≤ 0.1× inline',
    source: 'fullnode: per-round p99 ratio thread ÷ inline',
    measure: (r) => target(r, 'fullnode', 'thread: HTTP p99'),
    format: times,
    atMost: 0.1,
  },
  {
    id: 'fullnode-thread-sync',
    goal: 'Reference node, thread agents: sync time ≤ 1.3× inline',
    source: 'fullnode: per-round sync-time ratio thread ÷ inline (an agent per connection, started when the peer connects)',
    measure: (r) => target(r, 'fullnode', 'thread: sync time'),
    format: times,
    atMost: 1.3,
  },
  {
    id: 'fullnode-thread-pool-sync',
    goal: 'Reference node, thread agents started with the node: sync time ≤ 1.3× inline',
    source: 'fullnode: per-round sync-time ratio thread-pool (`--p2p-agents 2`) ÷ inline',
    measure: (r) => target(r, 'fullnode', 'thread-pool: sync time'),
    format: times,
    atMost: 1.3,
  },
  {
    id: 'fullnode-two-peers-sync',
    goal: 'Reference node, two peers, thread agents: sync faster than inline (time ratio < 1)',
    source: 'fullnode: per-round sync-time ratio thread-2peers ÷ inline-2peers',
    measure: (r) => target(r, 'fullnode', 'thread-2peers: sync time'),
    format: times,
    atMost: 1,
  },
  {
    id: 'fullnode-two-peers-pool-sync',
    goal: 'Reference node, two peers, thread agents started with the node: sync faster than inline (time ratio < 1)',
    source: 'fullnode: per-round sync-time ratio thread-pool-2peers (`--p2p-agents 2`) ÷ inline-2peers',
    measure: (r) => target(r, 'fullnode', 'thread-pool-2peers: sync time'),
    format: times,
    atMost: 1,
  },
  {
    id: 'fullnode-four-peers-sync',
    goal: 'Reference node, 4 peers on 2 cores, thread agents: sync time ≤ 1.0× inline (issue 13)',
    source: 'fullnode: per-round sync-time ratio thread-4peers ÷ inline-4peers',
    measure: (r) => target(r, 'fullnode', 'thread-4peers: sync time'),
    format: times,
    atMost: 1,
  },
  {
    id: 'fullnode-four-peers-p99',
    goal: 'Reference node, 4 peers on 2 cores, thread agents: HTTP p99 during sync ≤ 0.1× inline (issue 13)',
    source: 'fullnode: per-round p99 ratio thread-4peers ÷ inline-4peers',
    measure: (r) => target(r, 'fullnode', 'thread-4peers: HTTP p99'),
    format: times,
    atMost: 0.1,
  },
  {
    id: 'fullnode-four-peers-pool-sync',
    goal: 'Reference node, 4 peers on 2 cores, thread agents started with the node: sync time vs inline (reported)',
    source: 'fullnode: per-round sync-time ratio thread-pool-4peers (`--p2p-agents 2`) ÷ inline-4peers',
    measure: (r) => target(r, 'fullnode', 'thread-pool-4peers: sync time'),
    format: times,
  },
  {
    id: 'fullnode-four-peers-cpu',
    goal: "Reference node, 4 peers: the syncing node's CPU time, thread agents vs inline (reported; what bounds the sync-time goal)",
    source: 'fullnode: per-round CPU-time ratio thread-4peers ÷ inline-4peers (the whole syncing process, /proc)',
    measure: (r) => target(r, 'fullnode', 'thread-4peers: CPU time'),
    format: times,
  },
  {
    id: 'fullnode-four-peers-pool-cpu',
    goal: "Reference node, 4 peers: the syncing node's CPU time, thread agents started with the node vs inline (reported)",
    source: 'fullnode: per-round CPU-time ratio thread-pool-4peers ÷ inline-4peers',
    measure: (r) => target(r, 'fullnode', 'thread-pool-4peers: CPU time'),
    format: times,
  },
  {
    id: 'fullnode-process-p99',
    goal: 'Reference node, process agents: HTTP p99 during sync ≤ 0.1× inline',
    source: 'fullnode: per-round p99 ratio process ÷ inline',
    measure: (r) => target(r, 'fullnode', 'process: HTTP p99'),
    format: times,
    atMost: 0.1,
  },
  {
    id: 'spawn-time',
    goal: 'Thread agent spawn ≤ 50 ms (built package)',
    source: 'process / spawn-built: agent-ipc-thread-built, spawnAgent until it answers, plain node on dist/',
    measure: (r) => caseOf(group(r, 'process', 'spawn-built'), 'agent-ipc-thread-built')?.usPerOp,
    format: unit('ms', 1e-3),
    atMost: 50_000,
  },
  {
    id: 'spawn-rss',
    goal: 'Thread agent ≤ 15 MB resident memory each (built package)',
    source: 'process: RSS growth per live thread agent, 4 at once, plain node on dist/',
    measure: (r) => target(r, 'process', 'thread agent (built package): ≤'),
    format: unit('MB'),
    atMost: 15,
  },
];

/**
 * A suite's own targets as goals, each with the finding `id` and its goal text behind
 * `label`; a suite not run adds nothing.
 */
function suiteTargets(results: Results, suite: string, id: string, label: string, source: string): GoalResult[] {
  const f = results.get(suite);
  return (f?.targets ?? []).map((t) => ({
    id,
    goal: `${label}${t.goal}`,
    measured: t.value === null || t.spread === null ? 'not measured' : times({ median: t.value, q1: t.spread[0], q3: t.spread[1] }),
    ...(t.value === null ? {} : { median: t.value }),
    met: t.met,
    source: `${suite} (${source})`,
  }));
}

/** The load suites' targets, condition by condition (their goal text carries the condition's label). */
function loadGoals(results: Results): GoalResult[] {
  return LOAD_ORDER.flatMap((k) => suiteTargets(results, loadSuiteName(k), 'load', '', 'per-round ratios, bench/load/goals.ts'));
}

/**
 * Issue 16's goals: the main thread blocking on an agent, tiny calls (sync-main) and
 * prettier's `format` (sync-main-prettier), as the two suites state them.
 */
function syncMainGoals(results: Results): GoalResult[] {
  return [
    ...suiteTargets(results, 'sync-main', 'sync-main', '(issue 16) ', 'per-round ratios, bench/suites/sync-main.ts'),
    ...suiteTargets(results, 'sync-main-prettier', 'sync-main-prettier', '(issue 16) ', 'per-round ratios of total time, bench/suites/sync-main-prettier.ts'),
  ];
}

export function evaluateGoals(results: Results): GoalResult[] {
  return [...issue6Goals(results), ...loadGoals(results), ...syncMainGoals(results)];
}

function issue6Goals(results: Results): GoalResult[] {
  return SPECS.map((s) => {
    const q = s.measure(results);
    if (q === undefined) return { id: s.id, goal: s.goal, measured: 'not measured', met: null, source: s.source };
    const bounded = s.atLeast !== undefined || s.atMost !== undefined;
    const met = bounded ? (s.atLeast === undefined || q.median >= s.atLeast) && (s.atMost === undefined || q.median <= s.atMost) : null;
    return { id: s.id, goal: s.goal, measured: s.format(q), median: q.median, met, source: s.source };
  });
}

export function verdict(g: GoalResult): string {
  if (g.met === true) return 'met';
  if (g.met === false) return '**missed**';
  return g.measured === 'not measured' ? 'not measured' : 'reported';
}
