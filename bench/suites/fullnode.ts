/**
 * The reference full node (examples/fullnode): a fresh node syncs a 2,000-block chain
 * from another node (each its own process) while its HTTP API is asked `GET /status`
 * every 5 ms. Cases are deployments of the syncing node: the P2P modes inline (the
 * legacy architecture, the baseline), thread and process (one agent per peer
 * connection, started when the peer connects); thread with its agents started with the
 * node (`--p2p-agents 2`, a pool); and, syncing the same chain from two source nodes at
 * once, inline, thread and thread with the pool again; and from four source nodes at once
 * (4 peers on 2 cores: more busy threads than cores), inline, thread and thread with the
 * pool. Measured per round: sync time (as blocks/s) and the
 * HTTP latencies during the sync; ratios are taken per round, then summarised.
 */
import type { Case } from '../harness/case.ts';
import { withFixtures, type Fixture } from '../harness/fixture.ts';
import { fmt } from '../harness/report.ts';
import { runRounds } from '../harness/rounds.ts';
import { summarize } from '../harness/stats.ts';
import type { Suite, SummaryTable } from '../harness/suite.ts';
import type { TargetResult } from '../harness/targets.ts';
import type { Isolation } from '../../src/index.ts';
import { ensureBuilt } from '../subjects/built-package.ts';
import { runSyncTrial, startSourceNode, type SourceNode, type SyncTrialResult } from '../../examples/fullnode/demo/sync-trial.ts';

const BLOCKS = 2000;
const ROUNDS = 5;
const WARMUP_ROUNDS = 1;

interface Deployment {
  name: string;
  mode: Isolation;
  /** Source nodes synced from at once. */
  peers: 1 | 2 | 4;
  args?: string[];
}

const DEPLOYMENTS: Deployment[] = [
  { name: 'inline', mode: 'inline', peers: 1 },
  { name: 'thread', mode: 'thread', peers: 1 },
  { name: 'process', mode: 'process', peers: 1 },
  { name: 'thread-pool', mode: 'thread', peers: 1, args: ['--p2p-agents', '2'] },
  { name: 'inline-2peers', mode: 'inline', peers: 2 },
  { name: 'thread-2peers', mode: 'thread', peers: 2 },
  { name: 'thread-pool-2peers', mode: 'thread', peers: 2, args: ['--p2p-agents', '2'] },
  { name: 'inline-4peers', mode: 'inline', peers: 4 },
  { name: 'thread-4peers', mode: 'thread', peers: 4 },
  { name: 'thread-pool-4peers', mode: 'thread', peers: 4, args: ['--p2p-agents', '2'] },
];

/** Source nodes started once for every round: as many as the deployment with most peers. */
const SOURCES = Math.max(...DEPLOYMENTS.map((d) => d.peers));

class SourceFixture implements Fixture {
  readonly name = 'source nodes';
  nodes: SourceNode[] = [];

  async start(): Promise<void> {
    // The nodes run from a build that uses dist/ (examples/fullnode/demo/built-node.ts).
    ensureBuilt();
    const first = await startSourceNode(BLOCKS);
    this.nodes.push(first);
    // The other sources copy the first one's chain: peers serving the same blocks.
    for (let i = 1; i < SOURCES; i++) this.nodes.push(await startSourceNode(BLOCKS, undefined, first));
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop()));
  }
}

/** One deployment; keeps every run's result (warm-up included) so rounds can be paired later. */
function syncCase(deployment: Deployment, source: SourceFixture, runs: SyncTrialResult[]): Case {
  return {
    name: deployment.name,
    setup() {
      if (source.nodes.length < deployment.peers) throw new Error('the source nodes did not start');
    },
    async run() {
      const result = await runSyncTrial(source.nodes.slice(0, deployment.peers), deployment.mode, { args: deployment.args });
      runs.push(result);
      return { ops: result.blocks, ns: result.syncMs * 1e6 };
    },
  };
}

/** The median of per-round `ratios` against a bound (`atMost`), or reported with none. */
function ratioTarget(goal: string, ratios: number[], atMost?: number): TargetResult {
  const finite = ratios.filter(Number.isFinite);
  if (finite.length === 0) return { goal, value: null, spread: null, unit: '×', met: null };
  const s = summarize(finite);
  return { goal, value: s.median, spread: [s.q1, s.q3], unit: '×', met: atMost === undefined ? null : s.median <= atMost };
}

const suite: Suite = {
  name: 'fullnode',
  description: `reference full node: sync ${BLOCKS.toLocaleString('en-US')} blocks per deployment (P2P mode, agents, peers), HTTP GET /status every 5 ms`,
  async run() {
    const source = new SourceFixture();
    return withFixtures([source], async () => {
      const runs = new Map<string, SyncTrialResult[]>(DEPLOYMENTS.map((d) => [d.name, []]));
      const group = await runRounds({
        key: 'sync',
        title: `sync ${BLOCKS.toLocaleString('en-US')} blocks from one peer (two for *-2peers, four for *-4peers); calls/s = blocks/s, µs/call = µs per block`,
        unit: 'calls/s',
        cases: DEPLOYMENTS.map((d) => syncCase(d, source, runs.get(d.name)!)),
        rounds: ROUNDS,
        warmupRounds: WARMUP_ROUNDS,
        subject: 'thread',
      });

      // Measured rounds only, by round index: run k of every case belongs to round k.
      const measured = (name: string): SyncTrialResult[] => (group.cases.find((c) => c.name === name)?.status === 'ok' ? runs.get(name)!.slice(WARMUP_ROUNDS) : []);
      const perRound = (name: string, baseline: string, metric: (r: SyncTrialResult) => number): number[] => {
        const base = measured(baseline);
        return measured(name).flatMap((r, i) => (base[i] ? [metric(r) / metric(base[i])] : []));
      };
      const p99Ratios = (name: string, baseline = 'inline'): number[] => perRound(name, baseline, (r) => r.http.p99);
      const syncRatios = (name: string, baseline = 'inline'): number[] => perRound(name, baseline, (r) => r.syncMs);
      const baselineOf = (d: Deployment): string => (d.peers === 1 ? 'inline' : `inline-${d.peers}peers`);
      // Non-finite values (CPU time where /proc is missing) are left out.
      const median = (values: number[]): string => {
        const finite = values.filter(Number.isFinite);
        return finite.length === 0 ? '–' : fmt(summarize(finite).median);
      };
      const http: SummaryTable = {
        title: 'per case, medians over measured rounds (ratios per round against inline with as many peers, then the median)',
        header: ['case', 'peers', 'sync s', 'blocks/s', 'first block ms', 'then blocks/s', 'HTTP p50 ms', 'HTTP p99 ms', 'HTTP max ms', 'p99 / inline', 'sync time / inline', 'CPU s', 'CPU / inline'],
        rows: DEPLOYMENTS.map((d) => {
          const rs = measured(d.name);
          const base = d.name === baselineOf(d);
          return [
            d.name,
            String(d.peers),
            median(rs.map((r) => r.syncMs / 1000)),
            median(rs.map((r) => r.blocksPerSec)),
            median(rs.map((r) => r.firstBlockMs)),
            median(rs.map((r) => r.streamBlocksPerSec)),
            median(rs.map((r) => r.http.p50)),
            median(rs.map((r) => r.http.p99)),
            median(rs.map((r) => r.http.max)),
            base ? '1' : median(p99Ratios(d.name, baselineOf(d))),
            base ? '1' : median(syncRatios(d.name, baselineOf(d))),
            median(rs.map((r) => r.cpuMs / 1000)),
            base ? '1' : median(perRound(d.name, baselineOf(d), (r) => r.cpuMs)),
          ];
        }),
      };
      return {
        groups: [group],
        summaries: [http],
        targets: [
          ratioTarget('thread: HTTP p99 during sync ≤ 0.5× inline (goal 0.1×)', p99Ratios('thread'), 0.5),
          ratioTarget('thread: sync time ≤ 1.3× inline (time ratio per round)', syncRatios('thread'), 1.3),
          ratioTarget('thread-pool: sync time ≤ 1.3× inline (time ratio per round)', syncRatios('thread-pool'), 1.3),
          ratioTarget('thread-2peers: sync time < inline-2peers (time ratio per round, goal: faster)', syncRatios('thread-2peers', 'inline-2peers'), 1),
          ratioTarget('thread-pool-2peers: sync time < inline-2peers (time ratio per round, goal: faster)', syncRatios('thread-pool-2peers', 'inline-2peers'), 1),
          ratioTarget('thread-4peers: sync time ≤ 1.0× inline-4peers (time ratio per round)', syncRatios('thread-4peers', 'inline-4peers'), 1),
          ratioTarget('thread-4peers: HTTP p99 during sync ≤ 0.1× inline-4peers', p99Ratios('thread-4peers', 'inline-4peers'), 0.1),
          ratioTarget('thread-pool-4peers: sync time ÷ inline-4peers (reported)', syncRatios('thread-pool-4peers', 'inline-4peers')),
          ratioTarget('thread-4peers: CPU time ÷ inline-4peers (reported)', perRound('thread-4peers', 'inline-4peers', (r) => r.cpuMs)),
          ratioTarget('thread-pool-4peers: CPU time ÷ inline-4peers (reported)', perRound('thread-pool-4peers', 'inline-4peers', (r) => r.cpuMs)),
          ratioTarget('process: HTTP p99 during sync ≤ 0.5× inline', p99Ratios('process'), 0.5),
          ratioTarget('process: sync time ≤ 1.3× inline (time ratio per round)', syncRatios('process'), 1.3),
        ],
        notes: [
          'Each round starts a fresh syncing node (its own process, empty LMDB in a temporary directory) for each case; the source nodes (inline P2P) are started once and serve every round. The second source syncs the first one\'s chain before the rounds start, so both serve the very same blocks.',
          "Sync time runs from the syncing node printing `online:` (it dials its sources right before) until GET /status reports the source's height; HTTP latencies are of every GET /status in that window (one request at a time, keep-alive).",
          'first block: from `online:` until GET /status shows height > 0 (connect, handshake, the common-block search and — for thread/process with an agent per connection — starting the agent: a worker or a process). The nodes run as deployed: compiled JavaScript on a plain node, agent-ipc from dist/ (examples/fullnode/demo/built-node.ts); under tsx each agent would also compile its modules (~0.15 s more per agent on Node 20).',
          'thread-pool runs the node with `--p2p-agents 2`: two agents started with the node (before `online:`, so outside the sync time), the connections shared among them. A deployment choice, not a different protocol: it trades isolation between peers for no start-up per connection.',
          '*-4peers: the same from four sources at once (issue 13: 4 peers on 2 cores, more busy threads than cores); thread-4peers has an agent per connection, i.e. four agents, beside the syncing node, four source nodes and the prober; thread-pool-4peers shares two agents started with the node among the four connections.',
          '*-2peers: the node syncs from both sources at once; each connection streams the whole chain (as sync-v2 does with each syncing peer). A connection skips blocks the node knows (stored or queued) and leaves blocks another connection claimed (in flight) to it, so each block is verified once; with agents, the two verify different blocks at the same time.',
          "CPU s: the CPU time (user + system) of the syncing node's process during the sync, all its threads (its thread agents and V8's own) included, process agents not (Linux's /proc; – elsewhere). Unlike the sync time it does not depend on the machine's load: the CPU the same sync costs in each deployment, which decides who wins when cores are short.",
          "On 2-core machines the syncing node's thread, its agents, the source nodes and the prober share 2 cores; blocking calls spin briefly, which costs most when cores are short.",
        ],
      };
    });
  },
};

export default suite;
