/**
 * Output. Humans get tables on stdout and a one-line progress display on stderr (a run
 * takes minutes; the progress says which suite, table, round and case is running).
 * Machines get `bench/results/<suite>.json`: figures rounded to 4 significant digits and
 * keys in a fixed order, so a re-run shows up as a small, readable diff when committed.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import type { GroupResult, CaseResult, Unit } from './rounds.ts';
import type { Summary } from './stats.ts';
import type { SuiteResult, SummaryTable } from './suite.ts';
import type { TargetResult } from './targets.ts';
import { describeMachine, machineLine, type Machine } from './machine.ts';

// ---------------------------------------------------------------- progress (stderr)

const tty = process.stderr.isTTY === true;
let prefix = '';
let lastPrinted = 0;
let showing = false;

// The whole run is timed from the first import of this module, i.e. from start-up.
const runStart = Date.now();

/** Name of the suite now running (and its place in the run); prefixed to every progress line. */
export function setProgressSuite(name: string, index?: number, count?: number): void {
  prefix = index === undefined || count === undefined ? name : `${name} ${index + 1}/${count}`;
}

function elapsed(): string {
  const s = Math.round((Date.now() - runStart) / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/**
 * Show what is running. On a terminal the line is rewritten in place; in a log (CI,
 * `| tee`) one line every few seconds is enough to show the run is alive.
 */
export function progress(text: string): void {
  const line = `[${prefix}, ${elapsed()}] ${text}`;
  if (tty) {
    process.stderr.write(`\r\x1b[K${line.slice(0, (process.stderr.columns ?? 100) - 1)}`);
    showing = true;
  } else if (Date.now() - lastPrinted > 3000) {
    process.stderr.write(`${line}\n`);
    lastPrinted = Date.now();
  }
}

/** Remove the progress line so that a table or warning starts on a clean line. */
export function clearProgress(): void {
  if (tty && showing) process.stderr.write('\r\x1b[K');
  showing = false;
}

export function warn(text: string): void {
  clearProgress();
  process.stderr.write(`warning: ${text}\n`);
}

// ---------------------------------------------------------------- tables (stdout)

/** Three significant digits with thousands separators: 1,230,000 / 45.3 / 0.512. */
export function fmt(x: number): string {
  return x.toLocaleString('en-US', { maximumSignificantDigits: 3 });
}

/** A per-round speed ratio as words: 3 → "3× faster", 0.25 → "4× slower". */
export function speedWords(speedup: number): string {
  return speedup >= 1 ? `${fmt(speedup)}× faster` : `${fmt(1 / speedup)}× slower`;
}

function headline(c: CaseResult, unit: Unit): Summary | undefined {
  return unit === 'calls/s' ? c.opsPerSec : unit === 'µs/call' ? c.usPerOp : c.gbPerSec;
}

/** The second column: whatever the headline is not (latency for rates, rate for latency). */
function secondary(unit: Unit): { label: Unit; pick: (c: CaseResult) => Summary | undefined } {
  return unit === 'calls/s'
    ? { label: 'µs/call', pick: (c) => c.usPerOp }
    : unit === 'µs/call'
      ? { label: 'calls/s', pick: (c) => c.opsPerSec }
      : { label: 'µs/call', pick: (c) => c.usPerOp };
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  // Name column left-aligned, figures right-aligned so digits line up.
  return rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('   ').trimEnd()).join('\n');
}

export function formatGroup(suite: string, g: GroupResult): string {
  const out: string[] = [];
  out.push(`== ${suite} / ${g.title}`);
  out.push(`   (${g.rounds} measured rounds after ${g.warmupRounds} warm-up, cases interleaved; medians)`);
  const second = secondary(g.unit);
  const rows: string[][] = [['case', `${g.unit} median`, 'IQR', 'min–max', `${second.label} median`, 'ops/run']];
  for (const c of g.cases) {
    const h = headline(c, g.unit);
    if (c.status !== 'ok' || h === undefined) continue;
    rows.push([
      c.name,
      fmt(h.median),
      `${fmt(h.q1)}–${fmt(h.q3)}`,
      `${fmt(h.min)}–${fmt(h.max)}`,
      fmt(second.pick(c)?.median ?? NaN),
      fmt(c.opsPerRun ?? NaN),
    ]);
  }
  if (rows.length > 1) out.push(table(rows));
  for (const c of g.cases) {
    if (c.status !== 'ok') out.push(`${c.status}: ${c.name} — ${c.reason ?? ''}`);
  }
  if (g.ratios.length > 0) {
    out.push(`${g.ratios[0].subject} against each baseline (speed ratio per round; median, IQR):`);
    out.push(
      table(
        g.ratios.map((r) => [
          `  vs ${r.baseline}`,
          speedWords(r.speedup.median),
          `ratio ${fmt(r.speedup.median)}`,
          `IQR ${fmt(r.speedup.q1)}–${fmt(r.speedup.q3)}`,
        ]),
      ),
    );
  }
  return out.join('\n');
}

export function formatTargets(targets: readonly TargetResult[]): string {
  if (targets.length === 0) return '';
  const lines = ['targets:'];
  for (const t of targets) {
    const mark = t.met === null ? '[n/a]   ' : t.met ? '[met]   ' : '[MISSED]';
    const value =
      t.value === null ? 'not measured' : `${fmt(t.value)}${t.unit === '×' ? '×' : ` ${t.unit}`}${t.spread ? ` (IQR ${fmt(t.spread[0])}–${fmt(t.spread[1])})` : ''}`;
    lines.push(`  ${mark} ${t.goal}: ${value}`);
  }
  return lines.join('\n');
}

export function printSuite(name: string, description: string, result: SuiteResult, seconds: number): void {
  clearProgress();
  const parts = [`\n#### ${name}: ${description} (${fmt(seconds)} s)`];
  for (const g of result.groups) parts.push(formatGroup(name, g));
  for (const t of result.summaries ?? []) parts.push(`== ${name} / ${t.title}\n${table([t.header, ...t.rows])}`);
  const targets = formatTargets(result.targets);
  if (targets) parts.push(targets);
  for (const n of result.notes) parts.push(`note: ${n}`);
  process.stdout.write(`${parts.join('\n\n')}\n`);
}

// ---------------------------------------------------------------- JSON (bench/results)

/** Round every number to 4 significant digits: more would only be noise in a diff. */
function round4(_key: string, value: unknown): unknown {
  return typeof value === 'number' && Number.isFinite(value) && !Number.isInteger(value) ? Number(value.toPrecision(4)) : value;
}

export interface ResultFile {
  suite: string;
  description: string;
  date: string;
  machine: Machine;
  seconds: number;
  groups: GroupResult[];
  targets: TargetResult[];
  summaries?: SummaryTable[];
  notes: string[];
}

export async function writeResults(name: string, description: string, result: SuiteResult, seconds: number): Promise<string> {
  const file: ResultFile = {
    suite: name,
    description,
    date: new Date().toISOString(),
    machine: describeMachine(),
    seconds,
    ...result,
  };
  const dir = new URL('../results/', import.meta.url);
  await mkdir(dir, { recursive: true });
  const path = new URL(`${name}.json`, dir);
  await writeFile(path, `${JSON.stringify(file, round4, 2)}\n`);
  return path.pathname;
}

export function machineSummary(): string {
  return machineLine(describeMachine());
}
