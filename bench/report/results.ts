/**
 * The report's input: every `bench/results/<suite>.json` the runner wrote. Files of
 * another shape (the soak test's summary) are left out rather than half-read.
 */
import { readdir, readFile } from 'node:fs/promises';
import type { ResultFile } from '../harness/report.ts';
import type { CaseResult, GroupResult } from '../harness/rounds.ts';
import type { Summary } from '../harness/stats.ts';

export type Results = Map<string, ResultFile>;

function isResultFile(value: unknown): value is ResultFile {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.suite === 'string' && Array.isArray(v.groups) && Array.isArray(v.targets) && typeof v.machine === 'object';
}

export async function loadResults(dir: URL): Promise<Results> {
  const results: Results = new Map();
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.json')).sort()) {
    const parsed: unknown = JSON.parse(await readFile(new URL(file, dir), 'utf8'));
    if (isResultFile(parsed)) results.set(parsed.suite, parsed);
  }
  return results;
}

export function group(results: Results, suite: string, key: string): GroupResult | undefined {
  return results.get(suite)?.groups.find((g) => g.key === key);
}

export function caseOf(g: GroupResult | undefined, name: string): CaseResult | undefined {
  const c = g?.cases.find((x) => x.name === name);
  return c?.status === 'ok' ? c : undefined;
}

/** Per-round speed ratio of the group's subject to `baseline`. */
export function ratioOf(g: GroupResult | undefined, subject: string, baseline: string): Summary | undefined {
  return g?.ratios.find((r) => r.subject === subject && r.baseline === baseline)?.speedup;
}

/** Turns a speed ratio round (subject/baseline → baseline/subject); quartiles swap. */
export function inverse(s: Summary): Summary {
  return { median: 1 / s.median, q1: 1 / s.q3, q3: 1 / s.q1, min: 1 / s.max, max: 1 / s.min, n: s.n };
}

/** A number out of a preformatted summary cell ("2,050", "0.0349", "12.9"). */
export function cellNumber(cell: string | undefined): number | undefined {
  if (cell === undefined) return undefined;
  const v = Number(cell.replace(/,/g, '').replace(/×$/, ''));
  return Number.isFinite(v) ? v : undefined;
}
