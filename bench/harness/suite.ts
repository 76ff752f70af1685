/**
 * The contract between `bench/run.ts` and the modules in `bench/suites/`: each suite
 * default-exports a `Suite`, runs its tables with `runRounds` and returns everything
 * the report needs, so suites never print or write files themselves.
 */
import type { GroupResult } from './rounds.ts';
import type { TargetResult } from './targets.ts';

export interface SuiteResult {
  /** One entry per `runRounds` call, i.e. one table each. */
  groups: GroupResult[];
  /** The goals the suite checks, each marked met / missed / not measured. */
  targets: TargetResult[];
  /**
   * Extra tables a suite derives from its groups, e.g. one row per payload size across
   * the sweep's groups. Cells are preformatted text.
   */
  summaries?: SummaryTable[];
  /** Free-form facts worth keeping beside the figures (what a case really measures). */
  notes: string[];
}

export interface SummaryTable {
  title: string;
  header: string[];
  rows: string[][];
}

export interface Suite {
  /** Matches the file name; `npm run bench -- <name>` selects it. */
  name: string;
  description: string;
  run(): Promise<SuiteResult>;
}
