/**
 * The demo's table: per mode, sync time and rate, and the HTTP latency seen during sync;
 * then each agent mode relative to inline.
 */
import type { Isolation } from '../../../src/index.ts';
import type { SyncTrialResult } from './sync-trial.ts';

export function fmtMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : ms >= 10 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`;
}

function row(cells: string[], widths: number[]): string {
  return cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
}

export function printTable(results: ReadonlyArray<SyncTrialResult | { mode: Isolation; error: string }>, blocks: number): void {
  const header = ['P2P mode', 'sync time', 'blocks/s', 'first block', 'then blocks/s', 'HTTP p50', 'HTTP p99', 'HTTP max', 'requests'];
  const rate = (x: number): string => Math.round(x).toLocaleString('en-US');
  const rows = results.map((r) =>
    'error' in r
      ? [r.mode, 'n/a', '', '', '', '', '', '', '']
      : [
          r.mode,
          fmtMs(r.syncMs),
          rate(r.blocksPerSec),
          fmtMs(r.firstBlockMs),
          rate(r.streamBlocksPerSec),
          fmtMs(r.http.p50),
          fmtMs(r.http.p99),
          fmtMs(r.http.max),
          String(r.http.count),
        ],
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((cells) => cells[i].length)));
  const out: string[] = ['', `Syncing ${blocks.toLocaleString('en-US')} blocks; GET /status every 5 ms on the syncing node:`, '', row(header, widths), row(widths.map((w) => '-'.repeat(w)), widths)];
  for (const cells of rows) out.push(row(cells, widths));
  const inline = results.find((r): r is SyncTrialResult => r.mode === 'inline' && !('error' in r));
  if (inline) {
    out.push('');
    for (const r of results) {
      if (r === inline || 'error' in r) continue;
      out.push(
        `${r.mode} vs inline: HTTP p99 ${(r.http.p99 / inline.http.p99).toFixed(3)}×, sync time ${(r.syncMs / inline.syncMs).toFixed(2)}× ` +
          `(after the first block ${(inline.streamBlocksPerSec / r.streamBlocksPerSec).toFixed(2)}×)`,
      );
    }
  }
  for (const r of results) if ('error' in r) out.push(`${r.mode}: ${r.error}`);
  out.push(
    '',
    'inline: peer protocols run on the node thread (the legacy architecture); thread/process: one agent per connection (--p2p-multiprocess).',
    "first block: connecting, handshake, the agent's start-up (a TypeScript module loaded through tsx here) and the common-block search.",
  );
  process.stdout.write(`${out.join('\n')}\n`);
}
