/**
 * Async calls, main → worker, pipelined: 256 calls outstanding at all times, the load
 * of a node exchanging messages with many peers. Compares agent-ipc's `agent.remote.x()`
 * with birpc over the same kind of port and with the bare port (raw-echo).
 */
import { birpcCase } from '../baselines/birpc-port.ts';
import { rawEchoCase } from '../baselines/raw-echo.ts';
import { runRounds } from '../harness/rounds.ts';
import type { Suite } from '../harness/suite.ts';
import { speedupTarget } from '../harness/targets.ts';
import { agentIpcAsyncCase } from '../subjects/agent-ipc.ts';

/** ~0.1–0.7 s per case and round at the rates seen on the 2-core machines. */
const CALLS = 100_000;
const IN_FLIGHT = 256;
const ROUNDS = 15;

const suite: Suite = {
  name: 'async',
  description: `pipelined async calls, ${IN_FLIGHT} in flight`,
  async run() {
    const options = { calls: CALLS, inFlight: IN_FLIGHT };
    const group = await runRounds({
      key: 'pipelined',
      title: `add(i, 1), ${CALLS.toLocaleString('en-US')} calls per round, ${IN_FLIGHT} in flight`,
      unit: 'calls/s',
      cases: [agentIpcAsyncCase(options), birpcCase(options), rawEchoCase(options)],
      rounds: ROUNDS,
      subject: 'agent-ipc',
    });
    return {
      groups: [group],
      targets: [
        speedupTarget(group, 'agent-ipc', 'birpc', { atLeast: 5 }, 'pipelined: agent-ipc ≥ 5× birpc calls/s'),
        speedupTarget(group, 'agent-ipc', 'raw-echo', { atLeast: 2 }, 'pipelined: agent-ipc ≥ 2× raw postMessage echo calls/s'),
      ],
      notes: [
        'raw-echo posts one MessagePort message per call and the worker echoes it: no ids, no promises, no dispatch.',
        'birpc runs with its defaults over a MessageChannel port (structured clone, per-call timeout timer).',
      ],
    };
  },
};

export default suite;
