/**
 * The report's charts, each built from the results files and written as an SVG beside
 * docs/benchmarks.md. A chart whose suite has not run is left out (and not embedded).
 */
import type { GroupResult } from '../harness/rounds.ts';
import { caseOf, cellNumber, group, type Results } from './results.ts';
import { loadCharts } from './load.ts';
import { barChart, lineChart, type Bar, type Series } from './svg.ts';

export interface Chart {
  /** File name under docs/charts/. */
  file: string;
  /** Alt text and caption. */
  caption: string;
  svg: string;
}

const UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 * 1024 };

/** Payload size of a sweep table from its key (`sweep-64KiB` → 65536). */
function sweepSize(key: string): number | undefined {
  const m = /^sweep-(\d+)(B|KiB|MiB)$/.exec(key);
  return m ? Number(m[1]) * UNITS[m[2]] : undefined;
}

function sizeLabel(size: number): string {
  return size >= UNITS.MiB ? `${size / UNITS.MiB} MiB` : size >= UNITS.KiB ? `${size / UNITS.KiB} KiB` : `${size} B`;
}

function sweepChart(r: Results): Chart | undefined {
  const sweep = (r.get('blocking')?.groups ?? []).flatMap((g) => {
    const size = sweepSize(g.key);
    return size === undefined ? [] : [{ size, g }];
  });
  if (sweep.length === 0) return undefined;
  const names = [...new Set(sweep.flatMap((s) => s.g.cases.map((c) => c.name)))];
  const series: Series[] = names.map((name) => ({
    name,
    points: sweep.flatMap(({ size, g }) => {
      const gb = caseOf(g, name)?.gbPerSec;
      return gb ? [{ x: size, y: gb.median, lo: gb.q1, hi: gb.q3 }] : [];
    }),
  }));
  return {
    file: 'blocking-payload-sweep.svg',
    caption: 'Blocking payload sweep: GB/s against answer size per contender (median, whiskers = IQR; both axes logarithmic)',
    svg: lineChart({
      title: 'Blocking calls: answer size vs throughput',
      xLabel: 'answer size',
      yLabel: 'GB/s (median, IQR)',
      series,
      logX: true,
      logY: true,
      xTicks: sweep.map((s) => ({ value: s.size, label: sizeLabel(s.size) })),
    }),
  };
}

function bar(g: GroupResult | undefined, name: string): Bar | null {
  const s = caseOf(g, name)?.opsPerSec;
  return s ? { value: s.median, lo: s.q1, hi: s.q3 } : null;
}

function isolationChart(r: Results): Chart | undefined {
  const pipelined = group(r, 'process', 'pipelined');
  const blocking = group(r, 'process', 'blocking');
  if (!pipelined && !blocking) return undefined;
  const contenders: [string, string][] = [
    ['agent-ipc-inline', 'inline'],
    ['agent-ipc-thread', 'thread'],
    ['agent-ipc-process', 'process'],
    ['fork-ipc', 'fork IPC (json)'],
  ];
  return {
    file: 'calls-by-isolation.svg',
    caption: 'Calls/s by isolation: pipelined async calls node → agent and back-to-back blocking calls agent → node (median, whiskers = IQR; logarithmic)',
    svg: barChart({
      title: 'Calls per second by isolation',
      yLabel: 'calls/s (median, IQR)',
      categories: ['async, 256 in flight', 'blocking burst'],
      series: contenders.map(([key, name]) => ({ name, bars: [bar(pipelined, key), bar(blocking, key)] })),
      logY: true,
    }),
  };
}

function fullnodeChart(r: Results): Chart | undefined {
  const table = r.get('fullnode')?.summaries?.find((t) => t.header.includes('HTTP p99 ms'));
  if (!table) return undefined;
  const columns = ['HTTP p50 ms', 'HTTP p99 ms', 'HTTP max ms'];
  const modes = table.rows.map((row) => row[0]);
  return {
    file: 'fullnode-http-latency.svg',
    caption: 'Reference node: GET /status latency while syncing, per P2P mode (medians over rounds; logarithmic)',
    svg: barChart({
      title: 'HTTP latency during sync, per P2P mode',
      yLabel: 'ms (median over rounds)',
      categories: modes,
      series: columns.map((col) => {
        const i = table.header.indexOf(col);
        return {
          name: col.replace('HTTP ', '').replace(' ms', ''),
          bars: table.rows.map((row) => {
            const v = cellNumber(row[i]);
            return v === undefined ? null : { value: v };
          }),
        };
      }),
      logY: true,
    }),
  };
}

function scalingChart(r: Results): Chart | undefined {
  const loads: [string, string][] = [
    ['pipelined', 'async pipelined'],
    ['burst', 'blocking bursts'],
  ];
  const series: Series[] = loads.flatMap(([key, name]) => {
    const g = group(r, 'scaling', key);
    if (!g) return [];
    const points = g.cases.flatMap((c) => {
      const n = Number.parseInt(c.name, 10);
      return c.status === 'ok' && c.opsPerSec ? [{ x: n, y: c.opsPerSec.median, lo: c.opsPerSec.q1, hi: c.opsPerSec.q3 }] : [];
    });
    return [{ name, points }];
  });
  if (series.length === 0) return undefined;
  const counts = [...new Set(series.flatMap((s) => s.points.map((p) => p.x)))].sort((a, b) => a - b);
  return {
    file: 'scaling.svg',
    caption: 'Total calls/s of N thread agents working at once (median, whiskers = IQR; logarithmic axes)',
    svg: lineChart({
      title: 'Scaling: N thread agents at once',
      xLabel: 'agents (N)',
      yLabel: 'total calls/s (median, IQR)',
      series,
      logX: true,
      logY: true,
      xTicks: counts.map((n) => ({ value: n, label: String(n) })),
    }),
  };
}

export function buildCharts(r: Results): Chart[] {
  return [sweepChart(r), isolationChart(r), fullnodeChart(r), scalingChart(r), ...loadCharts(r)].filter((c): c is Chart => c !== undefined);
}
