/**
 * The goals of issue 13 for one load condition, checked against that condition's
 * tables. Each goal names its condition; a goal the issue states for one condition
 * only is reported without a verdict under the others, so the figure is still shown.
 */
import type { GroupResult } from '../harness/rounds.ts';
import { summarize, type Summary } from '../harness/stats.ts';
import type { ConditionKey } from '../harness/condition.ts';
import type { TargetResult } from '../harness/targets.ts';

interface Bound {
  atLeast?: number;
  atMost?: number;
}

/**
 * Per-round speed ratio of case `a` to case `b` of one table (their rates in the same
 * round), for pairs the table's own ratios do not cover (neither is the subject).
 */
export function pairedSpeedup(g: GroupResult | undefined, a: string, b: string): Summary | undefined {
  const own = g?.ratios.find((r) => r.subject === a && r.baseline === b)?.speedup;
  if (own !== undefined) return own;
  const ca = g?.cases.find((c) => c.name === a && c.status === 'ok')?.samples?.opsPerSec;
  const cb = g?.cases.find((c) => c.name === b && c.status === 'ok')?.samples?.opsPerSec;
  // Samples are in round order; with both cases complete, index k is the same round.
  if (ca === undefined || cb === undefined || ca.length !== cb.length || ca.length === 0) return undefined;
  return summarize(ca.map((x, k) => x / cb[k]));
}

function judged(goal: string, s: Summary | undefined, bound: Bound | null): TargetResult {
  if (s === undefined) return { goal, value: null, spread: null, unit: '×', met: null };
  const met = bound === null ? null : (bound.atLeast === undefined || s.median >= bound.atLeast) && (bound.atMost === undefined || s.median <= bound.atMost);
  return { goal, value: s.median, spread: [s.q1, s.q3], unit: '×', met };
}

const inverse = (s: Summary | undefined): Summary | undefined =>
  s === undefined ? undefined : { median: 1 / s.median, q1: 1 / s.q3, q3: 1 / s.q1, min: 1 / s.max, max: 1 / s.min, n: s.n };

export function loadGoals(condition: ConditionKey, label: string, groups: readonly GroupResult[]): TargetResult[] {
  const g = (key: string): GroupResult | undefined => groups.find((x) => x.key === key);
  const calm = condition === 'calm';
  const loaded = condition === 'pinned' || condition === 'neighbour';
  const out: TargetResult[] = [];
  const t = (goal: string, s: Summary | undefined, bound: Bound | null): void => {
    out.push(judged(`${label} ${goal}`, s, bound));
  };

  const burst = g('burst');
  if (calm) {
    t('burst: agent-ipc ≥ 20× synckit calls/s', pairedSpeedup(burst, 'agent-ipc', 'synckit'), { atLeast: 20 });
    t('burst: agent-ipc within 3× the spinning floor (speed ratio ≥ 0.333)', pairedSpeedup(burst, 'agent-ipc', 'atomics-floor-spin'), { atLeast: 1 / 3 });
  } else {
    t('burst: agent-ipc ≥ 1.2× synckit calls/s', pairedSpeedup(burst, 'agent-ipc', 'synckit'), { atLeast: 1.2 });
    t('burst: agent-ipc time per call ≤ 1.25× the no-spin floor (speed ratio ≥ 0.8)', pairedSpeedup(burst, 'agent-ipc', 'atomics-floor-sleep'), { atLeast: 0.8 });
  }
  t('burst: agent-ipc vs sync-message-port (reported)', pairedSpeedup(burst, 'agent-ipc', 'sync-message-port'), null);

  for (const [key, gap, calmBound] of [
    ['spaced-20us', '20 µs', 3],
    ['spaced-200us', '200 µs', 1.2],
    ['spaced-2ms', '2 ms', 1.2],
  ] as const) {
    const table = g(key);
    if (table === undefined) continue;
    const bound = calm ? { atLeast: calmBound } : loaded ? { atLeast: 1 } : null;
    for (const base of ['synckit', 'sync-message-port']) {
      t(`spaced, ${gap} of CPU work between calls: agent-ipc ≥ ${calm ? calmBound : 1}× ${base} calls/s`, pairedSpeedup(table, 'agent-ipc', base), bound);
    }
  }

  const processTable = g('spaced-200us');
  if (processTable?.cases.some((c) => c.name === 'agent-ipc-process')) {
    // Speed ratio thread ÷ process is the process agent's cost per call as a multiple of the thread agent's.
    t('process agent, spaced 200 µs: cost per call ≤ 2× the thread agent\'s (thread ÷ process speed ratio ≤ 2)', pairedSpeedup(processTable, 'agent-ipc', 'agent-ipc-process'), calm ? { atMost: 2 } : null);
    t('process agent, spaced 200 µs: ≥ 1.0× sync-message-port calls/s', pairedSpeedup(processTable, 'agent-ipc-process', 'sync-message-port'), calm ? { atLeast: 1 } : null);
  }

  for (const kind of ['text', 'bytes']) {
    for (const [size, bound] of [
      ['1KiB', 1],
      ['64KiB', 1.5],
      ['1MiB', 1.5],
    ] as const) {
      const table = g(`${kind}-${size}`);
      if (table === undefined) continue;
      t(`payload ${kind === 'text' ? 'string' : 'Uint8Array'} ${size.replace('KiB', ' KiB').replace('MiB', ' MiB')}: agent-ipc ≥ ${bound}× sync-message-port throughput`, pairedSpeedup(table, 'agent-ipc', 'sync-message-port'), { atLeast: bound });
    }
  }

  const total = g('realcode');
  if (total !== undefined) {
    t('real code (sass): agent-ipc total time ≤ 1.15× the direct worker\'s', inverse(pairedSpeedup(total, 'agent-ipc', 'direct-worker')), { atMost: 1.15 });
    const ipcBound = calm ? { atMost: 0.8 } : condition === 'pinned' ? { atMost: 1 } : null;
    t(
      `real code (sass): agent-ipc IPC cost per call ≤ ${calm ? '0.8' : '1.0'}× sync-message-port's`,
      inverse(pairedSpeedup(g('realcode-ipc'), 'agent-ipc', 'sync-message-port')),
      ipcBound,
    );
  }
  return out;
}
