/**
 * The line server: echoed lines per second through one connection and through eight,
 * with the protocol inline (the RFC's current architecture, the baseline) and in
 * thread and process agents — lines relayed through the node, and process agents that
 * were handed the socket (`handOffSockets`); and the RFC's proof of concept — two peers each sending a
 * ~1.5 s CPU-heavy line at once — timed inline and with thread (and process) agents.
 */
import { calibrate } from '../../examples/poc/cpu-work.ts';
import { rateTable } from '../harness/rate-table.ts';
import { fmt } from '../harness/report.ts';
import { runRounds, type GroupResult } from '../harness/rounds.ts';
import { summarize } from '../harness/stats.ts';
import type { Suite, SummaryTable } from '../harness/suite.ts';
import { speedupTarget } from '../harness/targets.ts';
import { lineJobsCase, lineThroughputCase } from '../subjects/line-server.ts';

/**
 * Hand-off against relayed process agents, per table: both rates and their per-round
 * ratio (the rounds interleave every case, so a ratio compares the same few seconds).
 */
function handOffTable(groups: readonly GroupResult[]): SummaryTable {
  const rows: string[][] = [];
  for (const g of groups) {
    const handOff = g.cases.find((c) => c.name === 'process-handoff');
    const relayed = g.cases.find((c) => c.name === 'process');
    const a = handOff?.samples?.opsPerSec;
    const b = relayed?.samples?.opsPerSec;
    if (!a || !b || a.length !== b.length || a.length === 0) {
      rows.push([g.key, handOff?.status ?? 'missing', relayed?.status ?? 'missing', '–']);
      continue;
    }
    const ratio = summarize(a.map((x, i) => x / b[i]!));
    rows.push([g.key, fmt(handOff!.opsPerSec!.median), fmt(relayed!.opsPerSec!.median), `${fmt(ratio.median)}× (${fmt(ratio.q1)}–${fmt(ratio.q3)})`]);
  }
  return {
    title: 'process agents: socket handed off vs lines relayed through the node (median; × = per-round ratio, IQR)',
    header: ['table', 'process-handoff lines/s', 'process lines/s', '× relayed'],
    rows,
  };
}

/** Lines per run: ~0.2–1 s per case and round at the rates seen on the 2-core machines. */
const ONE_CONNECTION_LINES = 100_000;
const EIGHT_CONNECTIONS = 8;
const LINES_PER_CONNECTION = 20_000;
const THROUGHPUT_ROUNDS = 9;
/** One job of the proof of concept, as in examples/poc. */
const JOB_MS = 1500;
const POC_ROUNDS = 7;

const suite: Suite = {
  name: 'lines',
  description: 'line server: echoed lines/s through 1 and 8 connections per isolation; the RFC proof of concept',
  async run() {
    const one = await runRounds({
      key: 'one-connection',
      title: `one connection, ${ONE_CONNECTION_LINES.toLocaleString('en-US')} 30-byte lines echoed per round (1 call = 1 line there and back)`,
      unit: 'calls/s',
      cases: [
        lineThroughputCase({ name: 'inline', isolation: 'inline', agents: 'per-connection', connections: 1, lines: ONE_CONNECTION_LINES }),
        lineThroughputCase({ name: 'thread', isolation: 'thread', agents: 'per-connection', connections: 1, lines: ONE_CONNECTION_LINES }),
        lineThroughputCase({ name: 'process', isolation: 'process', agents: 'per-connection', connections: 1, lines: ONE_CONNECTION_LINES }),
        lineThroughputCase({ name: 'process-handoff', isolation: 'process', agents: 'per-connection', connections: 1, lines: ONE_CONNECTION_LINES, handOffSockets: true }),
      ],
      rounds: THROUGHPUT_ROUNDS,
      subject: 'inline',
    });
    const eight = await runRounds({
      key: 'eight-connections',
      title: `${EIGHT_CONNECTIONS} connections at once, ${LINES_PER_CONNECTION.toLocaleString('en-US')} lines each echoed per round`,
      unit: 'calls/s',
      cases: [
        lineThroughputCase({ name: 'inline', isolation: 'inline', agents: 'per-connection', connections: EIGHT_CONNECTIONS, lines: LINES_PER_CONNECTION }),
        lineThroughputCase({ name: 'thread', isolation: 'thread', agents: 'per-connection', connections: EIGHT_CONNECTIONS, lines: LINES_PER_CONNECTION }),
        lineThroughputCase({ name: 'thread-pool2', isolation: 'thread', agents: { pool: 2 }, connections: EIGHT_CONNECTIONS, lines: LINES_PER_CONNECTION }),
        lineThroughputCase({ name: 'process', isolation: 'process', agents: 'per-connection', connections: EIGHT_CONNECTIONS, lines: LINES_PER_CONNECTION }),
        lineThroughputCase({
          name: 'process-handoff',
          isolation: 'process',
          agents: 'per-connection',
          connections: EIGHT_CONNECTIONS,
          lines: LINES_PER_CONNECTION,
          handOffSockets: true,
        }),
      ],
      rounds: THROUGHPUT_ROUNDS,
      subject: 'inline',
    });

    const iterations = calibrate(JOB_MS);
    const poc = await runRounds({
      key: 'poc',
      title: `proof of concept: 2 peers send one ~${JOB_MS / 1000} s CPU job each at once (${iterations.toLocaleString('en-US')} iterations per job; 1 call = 1 job)`,
      unit: 'calls/s',
      cases: [
        lineJobsCase({ name: 'inline', isolation: 'inline', peers: 2, iterations }),
        lineJobsCase({ name: 'thread', isolation: 'thread', peers: 2, iterations }),
        lineJobsCase({ name: 'process', isolation: 'process', peers: 2, iterations }),
      ],
      rounds: POC_ROUNDS,
      subject: 'thread',
    });

    return {
      groups: [one, eight, poc],
      summaries: [
        rateTable(
          [one, eight],
          { title: 'lines/s per isolation against inline (median; × = per-round speed ratio to inline)', header: ['table', 'case', 'lines/s', '× inline'], baselineCell: '1 (baseline)' },
          (name) => name === 'inline',
        ),
        handOffTable([one, eight]),
      ],
      targets: [speedupTarget(poc, 'thread', 'inline', { atLeast: 1.6 }, 'proof of concept: both jobs answered ≥ 1.6× sooner with thread agents than inline')],
      notes: [
        'Throughput tables: the ratio rows compare inline (the baseline architecture) with each agent isolation: "inline vs thread 2× faster" means the thread agent echoes half as many lines per second.',
        'The peers run in their own worker thread; every line crosses TCP twice and the node↔agent IPC twice (lines are batched per socket read and per agent turn).',
        'Per-connection agents: one agent per connection (the RFC design); thread-pool2: 8 connections shared by 2 thread agents.',
        'process-handoff: process agents with handOffSockets — the node passes each socket to its agent, which frames, reads and writes it itself, so no line crosses the node↔agent IPC (compare it with process, where the node relays every line).',
        "What bounds it: relayed, every line is framed and written by the node's one main thread and crosses two IPC hops per batch (v8.serialize, a socket write and a wake-up on each side), so the node's thread caps all connections together; handed off, each agent process frames and writes its own socket and the node only sees connects and closes, so throughput is bounded by the agents' own event loops and the cores they get (2 here, shared with the peers). When to use it: process agents whose connections carry many lines, where the node does not need to see the traffic; the fd passing adds one IPC message per connection.",
        'Proof of concept: jobs are a fixed, calibrated amount of arithmetic (not a sleep), so the speed-up reflects real parallelism on this machine.',
      ],
    };
  },
};

export default suite;
