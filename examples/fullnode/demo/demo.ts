/**
 * `npm run demo`: the reference full node syncing in each P2P mode.
 *
 * A source node mines a 2,000-block chain (its own process). Then, for each mode —
 * inline (P2P on the node's thread, the legacy architecture), thread and process (each
 * peer connection in an agent) — a fresh node syncs that chain while this script asks
 * its `GET /status` every 5 ms. The table shows what moving P2P into agents buys (the
 * node's API stays responsive during sync) and what it costs (a blocking call per
 * storage read, cheap when cores are free). `DEMO_BLOCKS=500 npm run demo` for a
 * shorter run.
 */
import * as os from 'node:os';
import { fmtMs, printTable } from './result-table.ts';
import { runSyncTrial, startSourceNode, type SyncTrialResult } from './sync-trial.ts';
import type { Isolation } from '../../../src/index.ts';

const BLOCKS = Number(process.env.DEMO_BLOCKS ?? 2000);
const MODES: Isolation[] = ['inline', 'thread', 'process'];

function machine(): string {
  const [load] = os.loadavg();
  return `${os.availableParallelism()} cores, load average ${load.toFixed(1)}`;
}

async function main(): Promise<void> {
  const before = machine();
  process.stdout.write(`Mining a ${BLOCKS.toLocaleString('en-US')}-block chain on the source node…\n`);
  const source = await startSourceNode(BLOCKS, (line) => {
    if (line.startsWith('generated')) process.stdout.write(`  ${line}\n`);
  });
  const results: Array<SyncTrialResult | { mode: Isolation; error: string }> = [];
  try {
    for (const mode of MODES) {
      process.stdout.write(`Syncing a fresh node, P2P ${mode}…`);
      try {
        const result = await runSyncTrial(source, mode);
        results.push(result);
        process.stdout.write(` ${fmtMs(result.syncMs)}\n`);
      } catch (error) {
        results.push({ mode, error: error instanceof Error ? error.message.split('\n')[0] : String(error) });
        process.stdout.write(' failed\n');
      }
    }
  } finally {
    await source.stop();
  }
  printTable(results, BLOCKS);
  process.stdout.write(
    `machine: ${before} at the start, ${machine()} at the end. Agent modes hand work between threads on every blocking call:\n` +
      'with fewer free cores than busy threads (a load average above the core count) their sync time suffers most.\n',
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
