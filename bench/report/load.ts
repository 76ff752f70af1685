/**
 * The report's "Load conditions" part: one section per condition of issue 13 (the
 * load-* suites), each with its own table of medians and its own charts, so no goal
 * about blocking calls is read off a calm machine alone. Charts are built here too and
 * returned beside the text.
 */
import { CONDITIONS, type ConditionKey } from '../harness/condition.ts';
import type { GroupResult } from '../harness/rounds.ts';
import type { Chart } from './charts.ts';
import { fmt, mdTable } from './markdown.ts';
import { caseOf, type Results } from './results.ts';
import { barChart } from './svg.ts';

/** Reading order of the conditions: the issue's (i)–(iv). */
export const LOAD_ORDER: ConditionKey[] = ['pinned', 'neighbour', 'crowd', 'calm'];
export const loadSuiteName = (k: ConditionKey): string => `load-${k}`;

const CONTENDERS = ['agent-ipc', 'agent-ipc-process', 'synckit', 'sync-message-port', 'atomics-floor-sleep', 'atomics-floor-spin', 'direct-worker'];

const LATENCY_TABLES: [string, string][] = [
  ['burst', 'burst'],
  ['spaced-20us', '20 µs work'],
  ['spaced-200us', '200 µs work'],
  ['spaced-2ms', '2 ms work'],
  ['realcode-ipc', 'sass hook'],
];
const PAYLOAD_TABLES: [string, string][] = [
  ['text-1KiB', 'str 1K'],
  ['text-64KiB', 'str 64K'],
  ['text-1MiB', 'str 1M'],
  ['bytes-1KiB', 'u8 1K'],
  ['bytes-64KiB', 'u8 64K'],
  ['bytes-1MiB', 'u8 1M'],
];

function groupsOf(r: Results, k: ConditionKey): GroupResult[] {
  return r.get(loadSuiteName(k))?.groups ?? [];
}

function chartFor(r: Results, k: ConditionKey, tables: [string, string][], unit: 'usPerOp' | 'gbPerSec'): Chart | undefined {
  const groups = groupsOf(r, k);
  const present = tables.filter(([key]) => groups.some((g) => g.key === key));
  if (present.length === 0) return undefined;
  const names = CONTENDERS.filter((n) => present.some(([key]) => caseOf(groups.find((g) => g.key === key), n)?.[unit] !== undefined));
  const c = CONDITIONS[k];
  const what = unit === 'usPerOp' ? 'time per call' : 'payload throughput';
  return {
    file: `load-${k}-${unit === 'usPerOp' ? 'latency' : 'payloads'}.svg`,
    caption: `Load ${c.label}, ${c.key}: ${what} per contender (median, whiskers = IQR; logarithmic${unit === 'usPerOp' ? '; lower is better' : '; higher is better'})`,
    svg: barChart({
      title: `${c.label} ${c.key}: ${what}`,
      yLabel: unit === 'usPerOp' ? 'µs per call (median, IQR)' : 'GB/s (median, IQR)',
      categories: present.map(([, label]) => label),
      series: names.map((name) => ({
        name,
        bars: present.map(([key]) => {
          const s = caseOf(groups.find((g) => g.key === key), name)?.[unit];
          return s ? { value: s.median, lo: s.q1, hi: s.q3 } : null;
        }),
      })),
      logY: true,
    }),
  };
}

export function loadCharts(r: Results): Chart[] {
  return LOAD_ORDER.flatMap((k) => [chartFor(r, k, LATENCY_TABLES, 'usPerOp'), chartFor(r, k, PAYLOAD_TABLES, 'gbPerSec')]).filter((c): c is Chart => c !== undefined);
}

/** One compact table per condition: each table's median per contender. */
function conditionTable(groups: readonly GroupResult[]): string {
  const names = CONTENDERS.filter((n) => groups.some((g) => g.cases.some((c) => c.name === n)));
  const rows = groups.map((g) => {
    const unit = g.unit === 'GB/s' ? 'gbPerSec' : g.unit === 'calls/s' ? 'opsPerSec' : 'usPerOp';
    const scale = g.key === 'realcode' ? 1e-3 : 1;
    const label = g.key === 'realcode' ? 'realcode (ms per compilation)' : `${g.key} (${g.unit})`;
    return [
      label,
      ...names.map((n) => {
        const c = g.cases.find((x) => x.name === n);
        if (c === undefined) return '';
        if (c.status !== 'ok') return c.status;
        const s = c[unit];
        return s ? fmt(s.median * scale) : '–';
      }),
    ];
  });
  return mdTable(['table', ...names], rows, 'l' + 'r'.repeat(names.length));
}

export function loadSection(r: Results, charts: readonly Chart[]): string {
  const parts: string[] = [];
  for (const k of LOAD_ORDER) {
    const c = CONDITIONS[k];
    const f = r.get(loadSuiteName(k));
    parts.push(`### ${c.label} ${c.key}: ${c.title}`, '');
    if (f === undefined) {
      parts.push(`Not run yet: \`npm run bench -- ${loadSuiteName(k)}\`.`, '');
      continue;
    }
    parts.push(`${fmt(f.seconds)} s, ${f.date.slice(0, 16).replace('T', ' ')} UTC. ${f.notes[0] ?? ''}${f.notes[1]?.startsWith('The neighbour') ? ` ${f.notes[1]}` : ''}`, '');
    parts.push('Medians (µs per call unless the row says otherwise; payload rows in GB/s). Ratios, IQRs and every round are in the suite\'s section under "Results per suite"; the verdicts are in "Targets".', '');
    parts.push(conditionTable(f.groups), '');
    for (const chart of charts.filter((x) => x.file.startsWith(`load-${k}-`))) parts.push(`![${chart.caption}](charts/${chart.file})`, '', `*${chart.caption}.*`, '');
  }
  return parts.join('\n').trimEnd();
}
