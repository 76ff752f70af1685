/**
 * Scaling with the number of agents: N thread agents (1, 2, 4, 8) served by one node,
 * all busy at once. Two loads: pipelined async calls node → agents (256 in flight per
 * agent) and bursts of blocking calls agents → node. The total work per round is the
 * same for every N (split evenly across the agents), so a flat line means the node's
 * main thread — which every call passes through — is the bottleneck, and a rising one
 * means the work spreads over cores.
 */
import type { Case, Measurement } from '../harness/case.ts';
import { pipeline } from '../harness/pipeline.ts';
import { rateTable } from '../harness/rate-table.ts';
import { runRounds } from '../harness/rounds.ts';
import type { Suite } from '../harness/suite.ts';
import { startPeer } from '../subjects/agent-ipc-isolation.ts';
import type { Agent } from '../../src/index.ts';
import type PeerAgent from '../agents/peer.ts';

const COUNTS = [1, 2, 4, 8];
const PIPELINED_CALLS = 100_000;
const IN_FLIGHT = 256;
const BURST_CALLS = 20_000;
const ROUNDS = 9;

type Load = 'pipelined' | 'burst';

const caseName = (n: number): string => `${n} agent${n === 1 ? '' : 's'}`;

/** N agents started in setup; each run splits the total calls evenly among them. */
function agentsCase(n: number, load: Load): Case {
  let agents: Agent<typeof PeerAgent>[] = [];
  let died: Promise<never> | undefined;
  return {
    name: caseName(n),
    async setup() {
      agents = await Promise.all(Array.from({ length: n }, (_, i) => startPeer('thread', `scale-${load}-${n}-${i}`)));
      died = Promise.race(agents.map((a) => a.exited)).then((exit) => {
        throw new Error(`an agent exited: ${JSON.stringify(exit)}`);
      });
      died.catch(() => undefined);
      await Promise.all(agents.map((a) => a.remote.burst(100)));
    },
    async run(): Promise<Measurement> {
      const total = load === 'pipelined' ? PIPELINED_CALLS : BURST_CALLS;
      const each = Math.floor(total / n);
      const start = process.hrtime.bigint();
      const work = agents.map((a) =>
        load === 'pipelined'
          ? pipeline({ calls: each, inFlight: IN_FLIGHT, call: (i) => a.remote.add(i, 1), check: (i, r) => r === i + 1 })
          : a.remote.burst(each),
      );
      await Promise.race([Promise.all(work), died!]);
      // Wall time on the node: the agents run at once, so their own timers would overlap.
      return { ops: each * n, ns: Number(process.hrtime.bigint() - start) };
    },
    async teardown() {
      await Promise.all(agents.map((a) => a.close()));
      agents = [];
    },
  };
}

const suite: Suite = {
  name: 'scaling',
  description: `N thread agents (${COUNTS.join(', ')}) at once: pipelined async calls and blocking bursts`,
  async run() {
    const pipelined = await runRounds({
      key: 'pipelined',
      title: `pipelined: add(i, 1) node → agents, ${PIPELINED_CALLS.toLocaleString('en-US')} calls per round split over N agents, ${IN_FLIGHT} in flight per agent`,
      unit: 'calls/s',
      cases: COUNTS.map((n) => agentsCase(n, 'pipelined')),
      rounds: ROUNDS,
      subject: caseName(1),
    });
    const burst = await runRounds({
      key: 'burst',
      title: `blocking bursts: main.blocking.add(i, 1) agents → node, ${BURST_CALLS.toLocaleString('en-US')} calls per round split over N agents, all at once`,
      unit: 'calls/s',
      cases: COUNTS.map((n) => agentsCase(n, 'burst')),
      rounds: ROUNDS,
      warmupRounds: 2,
      subject: caseName(1),
    });
    return {
      groups: [pipelined, burst],
      targets: [],
      summaries: [
        rateTable(
          [pipelined, burst],
          { title: 'total calls/s against N (× = per-round ratio to 1 agent)', header: ['load', 'agents', 'calls/s', '× 1 agent'], baselineCell: '1' },
          (name) => name === caseName(1),
        ),
      ],
      notes: [
        'Ratio rows are 1 agent against N agents ("1 agent vs 4 agents 2× faster" means four agents together made half the calls per second of one).',
        'Every call of every agent is answered on the node\'s main thread, so total calls/s cannot exceed what that one thread can serve; extra agents add parallel work only on their own side of each call.',
        `Times are wall time on the node from the first call to the last answer of all N agents.`,
      ],
    };
  },
};

export default suite;
