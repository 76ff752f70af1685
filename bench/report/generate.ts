/**
 * Writes docs/benchmarks.md and docs/charts/*.svg from bench/results/*.json: fills the
 * template's {{placeholders}} with sections built from the results. Run at the end of
 * `npm run bench` and by `npm run bench:report`.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { machineLine } from '../harness/machine.ts';
import { boundsSection } from './bounds.ts';
import { buildCharts, type Chart } from './charts.ts';
import { evaluateGoals, verdict } from './goals.ts';
import { fmt, mdTable } from './markdown.ts';
import { loadSection } from './load.ts';
import { group, loadResults, type Results } from './results.ts';
import { suiteSection } from './sections.ts';

const root = new URL('../../', import.meta.url);
const resultsDir = new URL('bench/results/', root);
const docsFile = new URL('docs/benchmarks.md', root);
const chartsDir = new URL('docs/charts/', root);
const template = new URL('./template.md', import.meta.url);

/** Suites in reading order; any other suite follows in name order. */
const ORDER = ['async', 'blocking', 'load-pinned', 'load-neighbour', 'load-crowd', 'load-calm', 'process', 'lines', 'fullnode', 'scaling'];

function ordered(r: Results): string[] {
  const names = [...r.keys()];
  const rank = (n: string): number => (ORDER.includes(n) ? ORDER.indexOf(n) : ORDER.length);
  return names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

function minutes(seconds: number): string {
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds - m * 60);
  return m > 0 ? `${m} min ${s} s` : `${s} s`;
}

function machineSection(r: Results): string {
  const files = ordered(r).map((n) => r.get(n)!);
  const machines = [...new Set(files.map((f) => machineLine(f.machine)))];
  const dates = files.map((f) => f.date).sort();
  return [
    ...machines.map((m) => `- ${m}`),
    `- Results written ${dates[0]?.slice(0, 16).replace('T', ' ')} – ${dates.at(-1)?.slice(0, 16).replace('T', ' ')} UTC (the machine's clock)`,
    `- Time per suite: ${files.map((f) => `${f.suite} ${fmt(f.seconds)} s`).join(', ')}`,
  ].join('\n');
}

function targetsSection(r: Results): { table: string; summary: string; bounds: string } {
  const goals = evaluateGoals(r);
  const table = mdTable(
    ['goal', 'measured (median, IQR)', 'verdict', 'from'],
    goals.map((g) => [g.goal, g.measured, verdict(g), g.source]),
  );
  const met = goals.filter((g) => g.met === true).length;
  const bounded = goals.filter((g) => g.met !== null).length;
  const missed = goals.filter((g) => g.met === false).map((g) => g.goal);
  const summary = `In the run below, ${met} of ${bounded} measured goals were met${missed.length > 0 ? `; missed: ${missed.join('; ')}` : ''}.`;
  return { table, summary, bounds: boundsSection(goals, r) };
}

function chartsSection(charts: readonly Chart[]): string {
  if (charts.length === 0) return 'No results to chart yet.';
  // The load conditions' charts sit in their own sections.
  return charts.filter((c) => !c.file.startsWith('load-')).map((c) => `![${c.caption}](charts/${c.file})\n\n*${c.caption}.*`).join('\n\n');
}

function scalingSection(r: Results): string {
  const f = r.get('scaling');
  if (!f) return 'The scaling suite has not been run (`npm run bench -- scaling`).';
  const table = f.summaries?.[0];
  const lines = [`N thread agents served by one node at once; the same total work per round for every N. ${f.groups.map((g) => g.title).join('. ')}.`];
  if (table) lines.push('', mdTable(table.header, table.rows, 'llrr'));
  const burst = group(r, 'scaling', 'burst');
  if (burst) lines.push('', 'Details (IQR, min–max, per-round ratios) are in the scaling suite\'s tables under "Results per suite".');
  return lines.join('\n');
}

export async function generateReport(): Promise<{ markdown: string; charts: string[] }> {
  const results = await loadResults(resultsDir);
  const charts = buildCharts(results);
  await mkdir(chartsDir, { recursive: true });
  for (const c of charts) await writeFile(new URL(c.file, chartsDir), c.svg);

  const targets = targetsSection(results);
  const total = ordered(results).reduce((sum, n) => sum + results.get(n)!.seconds, 0);
  const values: Record<string, string> = {
    summary: targets.summary,
    suiteList: ordered(results).map((n) => `\`${n}\``).join(', '),
    totalTime: `${minutes(total)} (sum of the suites)`,
    machine: machineSection(results),
    targets: targets.table,
    bounds: targets.bounds,
    charts: chartsSection(charts),
    scaling: scalingSection(results),
    load: loadSection(results, charts),
    suites: ordered(results).map((n) => suiteSection(results.get(n)!)).join('\n\n'),
  };
  const text = (await readFile(template, 'utf8')).replace(/\{\{(\w+)\}\}/g, (whole, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`bench/report/template.md: unknown placeholder ${whole}`);
    return value;
  });
  await writeFile(docsFile, text);
  return { markdown: docsFile.pathname, charts: charts.map((c) => new URL(c.file, chartsDir).pathname) };
}
