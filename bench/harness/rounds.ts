/**
 * Interleaved rounds. Timings on the 2-core machines this runs on drift 3–5× from
 * minute to minute, so cases are never measured one after another in blocks: every
 * round runs every case once, and figures are medians over rounds. Ratios between two
 * cases are taken per round (both measured within the same few seconds) and only then
 * summarised, which cancels most of the drift.
 */
import { SkipCase, type Case, type Measurement } from './case.ts';
import { progress, warn } from './report.ts';
import { summarize, type Summary } from './stats.ts';

/** The headline metric of a table; the JSON results carry all of them. */
export type Unit = 'calls/s' | 'µs/call' | 'GB/s';

export interface RoundsOptions {
  /** Stable key used in the JSON results, e.g. `burst`. */
  key: string;
  /** Human heading, e.g. `burst: 20,000 back-to-back calls`. */
  title: string;
  unit: Unit;
  cases: readonly Case[];
  /** Measured rounds. Use an odd number so the median is an actual round. */
  rounds: number;
  /** Rounds run first and thrown away (JIT, caches, worker start-up). Default 1. */
  warmupRounds?: number;
  /** Case whose ratio to every other case is reported. */
  subject?: string;
}

export interface CaseResult {
  name: string;
  status: 'ok' | 'skipped' | 'failed';
  /** Why the case was skipped or failed. */
  reason?: string;
  /** Operations per run, as reported by the case (the last run's value). */
  opsPerRun?: number;
  /** Per measured round, in round order (so rounds can be paired across cases). */
  samples?: { opsPerSec: number[]; usPerOp: number[]; gbPerSec?: number[] };
  opsPerSec?: Summary;
  usPerOp?: Summary;
  gbPerSec?: Summary;
}

export interface RatioResult {
  subject: string;
  baseline: string;
  /**
   * Subject speed over baseline speed, computed per round and then summarised:
   * 2 means the subject did twice the work per second (half the time per call).
   */
  speedup: Summary;
}

export interface GroupResult {
  key: string;
  title: string;
  unit: Unit;
  rounds: number;
  warmupRounds: number;
  cases: CaseResult[];
  ratios: RatioResult[];
}

interface Running {
  spec: Case;
  result: CaseResult;
  /** Samples by round index; a round this case did not complete stays absent. */
  opsPerSec: Map<number, number>;
  usPerOp: Map<number, number>;
  gbPerSec: Map<number, number>;
  active: boolean;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function checkMeasurement(m: Measurement): void {
  if (!(m.ops > 0) || !(m.ns > 0) || !Number.isFinite(m.ops) || !Number.isFinite(m.ns)) {
    throw new RangeError(`invalid measurement ${JSON.stringify(m)}`);
  }
}

async function teardown(c: Running): Promise<void> {
  try {
    await c.spec.teardown?.();
  } catch (error) {
    // A failed teardown is reported but must not hide the figures already measured.
    warn(`teardown of ${c.spec.name} failed: ${describe(error)}`);
  }
}

/**
 * Every round runs every case once, in an order that changes from round to round: the
 * start rotates and the direction alternates. Otherwise one case would always run first
 * (after the longest pause) or always right after the same neighbour, inheriting its
 * garbage, its cache state and its effect on the CPUs' idle states.
 */
function orderOfRound<T>(cases: readonly T[], round: number): T[] {
  const n = cases.length;
  const rotated = cases.map((_, k) => cases[(round + k) % n]);
  return round % 2 === 0 ? rotated : rotated.reverse();
}

export async function runRounds(options: RoundsOptions): Promise<GroupResult> {
  const warmupRounds = options.warmupRounds ?? 1;
  const total = warmupRounds + options.rounds;
  const cases: Running[] = options.cases.map((spec) => ({
    spec,
    result: { name: spec.name, status: 'ok' },
    opsPerSec: new Map(),
    usPerOp: new Map(),
    gbPerSec: new Map(),
    active: false,
  }));

  try {
    for (const c of cases) {
      progress(`${options.key}: setting up ${c.spec.name}`);
      try {
        await c.spec.setup?.();
        c.active = true;
      } catch (error) {
        c.result.status = error instanceof SkipCase ? 'skipped' : 'failed';
        c.result.reason = error instanceof SkipCase ? error.message : describe(error);
        // setup may have started something before it threw.
        await teardown(c);
      }
    }

    for (let round = 0; round < total; round++) {
      const warm = round < warmupRounds;
      const label = warm ? `warm-up ${round + 1}/${warmupRounds}` : `round ${round - warmupRounds + 1}/${options.rounds}`;
      for (const c of orderOfRound(cases, round)) {
        if (!c.active) continue;
        progress(`${options.key}: ${label}: ${c.spec.name}`);
        try {
          const m = await c.spec.run();
          checkMeasurement(m);
          if (warm) continue;
          const index = round - warmupRounds;
          c.result.opsPerRun = m.ops;
          c.opsPerSec.set(index, (m.ops * 1e9) / m.ns);
          c.usPerOp.set(index, m.ns / 1e3 / m.ops);
          if (m.bytes !== undefined) c.gbPerSec.set(index, m.bytes / m.ns); // bytes/ns = GB/s
        } catch (error) {
          c.result.status = 'failed';
          c.result.reason = `round ${round + 1}: ${describe(error)}`;
          c.active = false;
          await teardown(c);
        }
      }
    }
  } finally {
    for (const c of cases) {
      if (c.active) await teardown(c);
    }
  }

  for (const c of cases) {
    if (c.result.status !== 'ok') continue;
    const ordered = (m: Map<number, number>): number[] => [...m.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
    c.result.samples = { opsPerSec: ordered(c.opsPerSec), usPerOp: ordered(c.usPerOp) };
    c.result.opsPerSec = summarize(c.result.samples.opsPerSec);
    c.result.usPerOp = summarize(c.result.samples.usPerOp);
    if (c.gbPerSec.size > 0) {
      c.result.samples.gbPerSec = ordered(c.gbPerSec);
      c.result.gbPerSec = summarize(c.result.samples.gbPerSec);
    }
  }

  const ratios: RatioResult[] = [];
  const subject = cases.find((c) => c.spec.name === options.subject);
  if (options.subject !== undefined && subject === undefined) {
    throw new Error(`runRounds: subject ${options.subject} is not one of the cases`);
  }
  if (subject !== undefined && subject.result.status === 'ok') {
    for (const base of cases) {
      if (base === subject || base.result.status !== 'ok') continue;
      // Pair rounds: both figures of a pair were measured seconds apart.
      const perRound: number[] = [];
      for (const [index, rate] of subject.opsPerSec) {
        const baseRate = base.opsPerSec.get(index);
        if (baseRate !== undefined) perRound.push(rate / baseRate);
      }
      if (perRound.length > 0) {
        ratios.push({ subject: subject.spec.name, baseline: base.spec.name, speedup: summarize(perRound) });
      }
    }
  }

  return {
    key: options.key,
    title: options.title,
    unit: options.unit,
    rounds: options.rounds,
    warmupRounds,
    cases: cases.map((c) => c.result),
    ratios,
  };
}
