/**
 * The reference full node (examples/fullnode): a fresh node syncs a 2,000-block chain
 * from another node (each its own process) while its HTTP API is asked `GET /status`
 * every 5 ms. Cases are the P2P modes: inline (the legacy architecture, the baseline),
 * thread and process (one agent per peer connection). Measured per round: sync time
 * (as blocks/s) and the HTTP latencies during the sync; p99 ratios are taken per round,
 * like the speed ratios, and then summarised.
 */
import type { Case } from '../harness/case.ts';
import { withFixtures, type Fixture } from '../harness/fixture.ts';
import { fmt } from '../harness/report.ts';
import { runRounds } from '../harness/rounds.ts';
import { summarize } from '../harness/stats.ts';
import type { Suite, SummaryTable } from '../harness/suite.ts';
import { speedupTarget, type TargetResult } from '../harness/targets.ts';
import type { Isolation } from '../../src/index.ts';
import { runSyncTrial, startSourceNode, type SourceNode, type SyncTrialResult } from '../../examples/fullnode/demo/sync-trial.ts';

const BLOCKS = 2000;
const ROUNDS = 5;
const WARMUP_ROUNDS = 1;
const MODES: Isolation[] = ['inline', 'thread', 'process'];

class SourceFixture implements Fixture {
  readonly name = 'source node';
  node: SourceNode | undefined;

  async start(): Promise<void> {
    this.node = await startSourceNode(BLOCKS);
  }

  async stop(): Promise<void> {
    await this.node?.stop();
  }
}

/** One mode; keeps every run's result (warm-up included) so rounds can be paired later. */
function syncCase(mode: Isolation, source: SourceFixture, runs: SyncTrialResult[]): Case {
  return {
    name: mode,
    setup() {
      if (!source.node) throw new Error('the source node did not start');
    },
    async run() {
      const result = await runSyncTrial(source.node!, mode);
      runs.push(result);
      return { ops: result.blocks, ns: result.syncMs * 1e6 };
    },
  };
}

function ratioTarget(goal: string, ratios: number[], atMost: number): TargetResult {
  if (ratios.length === 0) return { goal, value: null, spread: null, unit: '×', met: null };
  const s = summarize(ratios);
  return { goal, value: s.median, spread: [s.q1, s.q3], unit: '×', met: s.median <= atMost };
}

const suite: Suite = {
  name: 'fullnode',
  description: `reference full node: sync ${BLOCKS.toLocaleString('en-US')} blocks per P2P mode, HTTP GET /status every 5 ms`,
  async run() {
    const source = new SourceFixture();
    return withFixtures([source], async () => {
      const runs = new Map<Isolation, SyncTrialResult[]>(MODES.map((mode) => [mode, []]));
      const group = await runRounds({
        key: 'sync',
        title: `sync ${BLOCKS.toLocaleString('en-US')} blocks from a peer; calls/s = blocks/s, µs/call = µs per block`,
        unit: 'calls/s',
        cases: MODES.map((mode) => syncCase(mode, source, runs.get(mode)!)),
        rounds: ROUNDS,
        warmupRounds: WARMUP_ROUNDS,
        subject: 'thread',
      });

      // Measured rounds only, by round index: run k of every mode belongs to round k.
      const measured = (mode: Isolation): SyncTrialResult[] => (group.cases.find((c) => c.name === mode)?.status === 'ok' ? runs.get(mode)!.slice(WARMUP_ROUNDS) : []);
      const p99Ratios = (mode: Isolation): number[] => {
        const inline = measured('inline');
        return measured(mode).flatMap((r, i) => (inline[i] ? [r.http.p99 / inline[i].http.p99] : []));
      };
      const syncRatios = (mode: Isolation): number[] => {
        const inline = measured('inline');
        return measured(mode).flatMap((r, i) => (inline[i] ? [r.syncMs / inline[i].syncMs] : []));
      };
      const median = (values: number[]): string => (values.length === 0 ? '–' : fmt(summarize(values).median));
      const http: SummaryTable = {
        title: 'per mode, medians over measured rounds (ratios per round against inline, then the median)',
        header: ['mode', 'sync s', 'blocks/s', 'first block ms', 'then blocks/s', 'HTTP p50 ms', 'HTTP p99 ms', 'HTTP max ms', 'p99 / inline', 'sync time / inline'],
        rows: MODES.map((mode) => {
          const rs = measured(mode);
          return [
            mode,
            median(rs.map((r) => r.syncMs / 1000)),
            median(rs.map((r) => r.blocksPerSec)),
            median(rs.map((r) => r.firstBlockMs)),
            median(rs.map((r) => r.streamBlocksPerSec)),
            median(rs.map((r) => r.http.p50)),
            median(rs.map((r) => r.http.p99)),
            median(rs.map((r) => r.http.max)),
            mode === 'inline' ? '1' : median(p99Ratios(mode)),
            mode === 'inline' ? '1' : median(syncRatios(mode)),
          ];
        }),
      };
      return {
        groups: [group],
        summaries: [http],
        targets: [
          ratioTarget('thread: HTTP p99 during sync ≤ 0.5× inline (goal 0.1×)', p99Ratios('thread'), 0.5),
          speedupTarget(group, 'thread', 'inline', { atLeast: 1 / 1.3 }, 'thread: sync time ≤ 1.3× inline (speed ratio ≥ 0.77)'),
          ratioTarget('process: HTTP p99 during sync ≤ 0.5× inline', p99Ratios('process'), 0.5),
          ratioTarget('process: sync time ≤ 1.3× inline (time ratio per round)', syncRatios('process'), 1.3),
        ],
        notes: [
          'Each round starts a fresh syncing node (its own process, empty LMDB in a temporary directory) for each mode; the source node (inline P2P) mines its chain once and serves every round.',
          "Sync time runs from the syncing node printing `online:` (it dials the source right before) until GET /status reports the source's height; HTTP latencies are of every GET /status in that window (one request at a time, keep-alive).",
          "first block: from `online:` until GET /status shows height > 0 (connect, handshake, agent start-up with tsx compiling the TypeScript agent module, common-block search); then blocks/s: the rest of the sync.",
          'process mode includes starting the per-connection child process (a tsx-loaded agent module) in its sync time.',
          "On 2-core machines thread/process modes run the syncing node's thread, its agent, the source node and the prober on 2 cores; blocking calls spin briefly, which costs most when cores are short.",
        ],
      };
    });
  },
};

export default suite;
