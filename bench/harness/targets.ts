/**
 * Goals a suite states up front ("≥ 3× birpc") checked against the medians of the same
 * run. A goal whose cases did not run is "not measured", never silently passed.
 */
import type { GroupResult } from './rounds.ts';

export interface TargetResult {
  /** The goal as a sentence, e.g. `agent-ipc ≥ 3× birpc calls/s`. */
  goal: string;
  /** Median of the measured quantity, or null when it could not be measured. */
  value: number | null;
  /** Interquartile range of the same quantity across rounds. */
  spread: [number, number] | null;
  /** `×` for speed ratios, otherwise the metric's unit. */
  unit: string;
  met: boolean | null;
}

interface Bound {
  atLeast?: number;
  atMost?: number;
}

function judge(goal: string, unit: string, bound: Bound, s: { median: number; q1: number; q3: number } | undefined): TargetResult {
  if (s === undefined) return { goal, value: null, spread: null, unit, met: null };
  const met = (bound.atLeast === undefined || s.median >= bound.atLeast) && (bound.atMost === undefined || s.median <= bound.atMost);
  return { goal, value: s.median, spread: [s.q1, s.q3], unit, met };
}

/**
 * Goal on the per-round speed ratio of `subject` to `baseline` in one table (2 = twice
 * as fast, 0.2 = five times slower).
 */
export function speedupTarget(group: GroupResult, subject: string, baseline: string, bound: Bound, goal: string): TargetResult {
  const ratio = group.ratios.find((r) => r.subject === subject && r.baseline === baseline);
  return judge(goal, '×', bound, ratio?.speedup);
}

/** Goal on one case's own median, e.g. GB/s of the largest payload. */
export function metricTarget(
  group: GroupResult,
  caseName: string,
  metric: 'opsPerSec' | 'usPerOp' | 'gbPerSec',
  bound: Bound,
  goal: string,
): TargetResult {
  const c = group.cases.find((x) => x.name === caseName);
  const unit = metric === 'opsPerSec' ? 'calls/s' : metric === 'usPerOp' ? 'µs/call' : 'GB/s';
  return judge(goal, unit, bound, c?.[metric]);
}
