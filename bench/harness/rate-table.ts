/**
 * A summary table of each case's median rate and how it compares with the baseline of
 * its table: the per-round speed ratio against that baseline, turned round so that it
 * reads "× baseline" (the reciprocal of the median ratio, rounds being odd).
 */
import { fmt } from './report.ts';
import type { GroupResult } from './rounds.ts';
import type { SummaryTable } from './suite.ts';

/** Rows of table key, case, median rate, and the rate as a multiple of the baseline's. */
export function rateTable(
  groups: readonly GroupResult[],
  labels: { title: string; header: [string, string, string, string]; baselineCell: string },
  isBaseline: (caseName: string) => boolean,
): SummaryTable {
  const rows: string[][] = [];
  for (const g of groups) {
    for (const c of g.cases) {
      if (c.status !== 'ok' || c.opsPerSec === undefined) {
        rows.push([g.key, c.name, c.status, '–']);
        continue;
      }
      const ratio = g.ratios.find((r) => r.baseline === c.name);
      const cell = isBaseline(c.name) ? labels.baselineCell : ratio ? `${fmt(1 / ratio.speedup.median)}×` : '–';
      rows.push([g.key, c.name, fmt(c.opsPerSec.median), cell]);
    }
  }
  return { title: labels.title, header: labels.header, rows };
}
