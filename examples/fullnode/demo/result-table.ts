/**
 * The demo's table: per mode, sync time and rate, and the HTTP latency seen during sync;
 * then each agent mode relative to inline.
 */
import type { SyncTrialResult } from './sync-trial.ts';

/** One row: a deployment of the syncing node and what its sync measured. */
export type TableRow = { label: string; baseline: string } & ({ result: SyncTrialResult } | { error: string });

export function fmtMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : ms >= 10 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`;
}

function row(cells: string[], widths: number[]): string {
  return cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
}

export function printTable(results: readonly TableRow[], blocks: number): void {
  const header = ['syncing node', 'peers', 'sync time', 'blocks/s', 'first block', 'then blocks/s', 'HTTP p50', 'HTTP p99', 'HTTP max', 'requests'];
  const rate = (x: number): string => Math.round(x).toLocaleString('en-US');
  const rows = results.map((entry) => {
    if ('error' in entry) return [entry.label, '', 'n/a', '', '', '', '', '', '', ''];
    const r = entry.result;
    return [
      entry.label,
      String(r.peers),
      fmtMs(r.syncMs),
      rate(r.blocksPerSec),
      fmtMs(r.firstBlockMs),
      rate(r.streamBlocksPerSec),
      fmtMs(r.http.p50),
      fmtMs(r.http.p99),
      fmtMs(r.http.max),
      String(r.http.count),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((cells) => cells[i].length)));
  const out: string[] = ['', `Syncing ${blocks.toLocaleString('en-US')} blocks; GET /status every 5 ms on the syncing node:`, '', row(header, widths), row(widths.map((w) => '-'.repeat(w)), widths)];
  for (const cells of rows) out.push(row(cells, widths));
  const byLabel = new Map(results.flatMap((entry) => ('result' in entry ? [[entry.label, entry.result] as const] : [])));
  out.push('');
  for (const entry of results) {
    const base = byLabel.get(entry.baseline);
    if (!('result' in entry) || !base || entry.label === entry.baseline) continue;
    const r = entry.result;
    out.push(
      `${entry.label} vs ${entry.baseline}: HTTP p99 ${(r.http.p99 / base.http.p99).toFixed(3)}×, sync time ${(r.syncMs / base.syncMs).toFixed(2)}× ` +
        `(after the first block ${(base.streamBlocksPerSec / r.streamBlocksPerSec).toFixed(2)}×)`,
    );
  }
  for (const entry of results) if ('error' in entry) out.push(`${entry.label}: ${entry.error}`);
  out.push(
    '',
    'inline: peer protocols run on the node thread (the legacy architecture); thread/process: one agent per connection (--p2p-multiprocess),',
    'started when the peer connects; "agents started with the node": --p2p-agents 2, a pool of two agents started before the node goes online.',
    'Two peers: the same chain from two source nodes at once; each connection streams every block, each block is verified and stored once.',
    "first block: connecting, handshake, the agent's start-up if per connection, the common-block search. Nodes run built JavaScript (demo/built-node.ts), as deployed.",
  );
  process.stdout.write(`${out.join('\n')}\n`);
}
