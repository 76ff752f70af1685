/**
 * `npm run demo`: the reference full node syncing in each P2P mode.
 *
 * A source node mines a 2,000-block chain (its own process) and a second one copies it.
 * Then, for each deployment — inline (P2P on the node's thread, the legacy
 * architecture), thread and process (each peer connection in an agent started when the
 * peer connects), thread with two agents started with the node (`--p2p-agents 2`), and
 * inline and thread (both ways) syncing from both sources at once — a fresh node syncs that chain
 * while this script asks its `GET /status` every 5 ms. The table shows what moving P2P
 * into agents buys (the node's API stays responsive during sync, verification runs in
 * parallel with several peers) and what it costs (agent start-up, blocking calls, cheap
 * when cores are free). `DEMO_BLOCKS=500 npm run demo` for a shorter run.
 */
import * as os from 'node:os';
import { fmtMs, printTable, type TableRow } from './result-table.ts';
import { formatSummaries } from './agent-summary.ts';
import { runSyncTrial, startSourceNode } from './sync-trial.ts';
import type { Isolation } from 'agent-ipc';

const BLOCKS = Number(process.env.DEMO_BLOCKS ?? 2000);

interface Deployment {
  label: string;
  mode: Isolation;
  peers: 1 | 2;
  args?: string[];
  baseline: string;
}

const DEPLOYMENTS: Deployment[] = [
  { label: 'inline', mode: 'inline', peers: 1, baseline: 'inline' },
  { label: 'thread', mode: 'thread', peers: 1, baseline: 'inline' },
  { label: 'process', mode: 'process', peers: 1, baseline: 'inline' },
  { label: 'thread, agents started with the node', mode: 'thread', peers: 1, args: ['--p2p-agents', '2'], baseline: 'inline' },
  { label: 'inline, two peers', mode: 'inline', peers: 2, baseline: 'inline, two peers' },
  { label: 'thread, two peers', mode: 'thread', peers: 2, baseline: 'inline, two peers' },
  { label: 'thread, agents started with the node, two peers', mode: 'thread', peers: 2, args: ['--p2p-agents', '2'], baseline: 'inline, two peers' },
];

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
  const results: TableRow[] = [];
  try {
    process.stdout.write('Copying the chain to a second source node…\n');
    const sources = [source, await startSourceNode(BLOCKS, undefined, source)];
    try {
      for (const d of DEPLOYMENTS) {
        process.stdout.write(`Syncing a fresh node, ${d.label}…`);
        try {
          const result = await runSyncTrial(sources.slice(0, d.peers), d.mode, { args: d.args });
          results.push({ label: d.label, baseline: d.baseline, result });
          process.stdout.write(` ${fmtMs(result.syncMs)}\n`);
          for (const line of formatSummaries(result.agents)) process.stdout.write(`    ${line}\n`);
        } catch (error) {
          results.push({ label: d.label, baseline: d.baseline, error: error instanceof Error ? error.message.split('\n')[0] : String(error) });
          process.stdout.write(' failed\n');
        }
      }
    } finally {
      await sources[1].stop();
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
