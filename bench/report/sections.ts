/**
 * One markdown section per suite, from its results file: every table with medians,
 * IQR, min–max and each case's ratio to the table's subject (measured per round), then
 * the suite's derived summaries and notes. Generic on purpose, so a new suite appears
 * in the report without code here.
 */
import type { ResultFile } from '../harness/report.ts';
import type { CaseResult, GroupResult, Unit } from '../harness/rounds.ts';
import type { Summary } from '../harness/stats.ts';
import { fmt, mdTable, withIqr } from './markdown.ts';

function headline(c: CaseResult, unit: Unit): Summary | undefined {
  return unit === 'calls/s' ? c.opsPerSec : unit === 'µs/call' ? c.usPerOp : c.gbPerSec;
}

function secondary(unit: Unit): { label: string; pick: (c: CaseResult) => Summary | undefined } {
  return unit === 'µs/call' ? { label: 'calls/s', pick: (c) => c.opsPerSec } : { label: 'µs/call', pick: (c) => c.usPerOp };
}

function groupSection(g: GroupResult): string {
  const subject = g.ratios[0]?.subject;
  const second = secondary(g.unit);
  const header = ['case', `${g.unit} (median)`, 'IQR', 'min–max', `${second.label} (median)`];
  if (subject) header.push(`${subject} speed ratio vs this (median, IQR)`);
  const rows: string[][] = [];
  for (const c of g.cases) {
    const h = headline(c, g.unit);
    if (c.status !== 'ok' || h === undefined) {
      rows.push([c.name, c.status, c.reason ?? '', '', '', ...(subject ? [''] : [])]);
      continue;
    }
    const row = [c.name, fmt(h.median), `${fmt(h.q1)}–${fmt(h.q3)}`, `${fmt(h.min)}–${fmt(h.max)}`, fmt(second.pick(c)?.median ?? NaN)];
    if (subject) {
      const r = g.ratios.find((x) => x.baseline === c.name);
      row.push(c.name === subject ? '—' : r ? withIqr(r.speedup, '×') : '–');
    }
    rows.push(row);
  }
  const rounds = `${g.rounds} rounds + ${g.warmupRounds} warm-up, cases interleaved.`;
  return [`#### ${g.title}`, '', rounds, '', mdTable(header, rows, 'lrrrrr')].join('\n');
}

export function suiteSection(f: ResultFile): string {
  const parts = [`### ${f.suite}: ${f.description}`, '', `${fmt(f.seconds)} s, ${f.date.slice(0, 16).replace('T', ' ')} UTC.`];
  for (const t of f.summaries ?? []) {
    parts.push('', `#### ${t.title}`, '', mdTable(t.header, t.rows, 'l' + 'r'.repeat(t.header.length - 1)));
  }
  for (const g of f.groups) parts.push('', groupSection(g));
  if (f.notes.length > 0) parts.push('', 'Notes:', '', ...f.notes.map((n) => `- ${n}`));
  return parts.join('\n');
}
