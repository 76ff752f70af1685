/**
 * agent-ipc under a chosen isolation, as the process suite uses it: one long-lived
 * agent (bench/agents/peer.ts) per fixture for call rates, and fresh agents for
 * start-up time and memory.
 */
import { readFileSync } from 'node:fs';
import type { Measurement } from '../harness/case.ts';
import type { Fixture } from '../harness/fixture.ts';
import { pipeline } from '../harness/pipeline.ts';
import type PeerAgent from '../agents/peer.ts';
import type { Agent, Isolation } from '../../src/index.ts';
import { loadAgentIpc } from './agent-ipc.ts';

const peer = new URL('../agents/peer.ts', import.meta.url);
const expose = { add: (a: number, b: number) => a + b };

/** Starts one agent of `isolation` and waits until it answers. */
export async function startPeer(isolation: Isolation, name: string): Promise<Agent<typeof PeerAgent>> {
  const { spawnAgent } = await loadAgentIpc();
  return spawnAgent<typeof PeerAgent>(peer, { isolation, name, expose });
}

export interface IsolationFixture extends Fixture {
  pipelined(calls: number, inFlight: number): Promise<Measurement>;
  burst(calls: number): Promise<Measurement>;
}

export function agentIpcIsolation(isolation: Isolation): IsolationFixture {
  let agent: Agent<typeof PeerAgent> | undefined;
  let died: Promise<never> | undefined;
  const guard = <T>(p: Promise<T>): Promise<T> => Promise.race([p, died!]);
  return {
    name: `agent-ipc-${isolation}`,
    async start() {
      agent = await startPeer(isolation, `bench-${isolation}`);
      const a = agent;
      died = a.exited.then((exit) => {
        throw new Error(`agent exited: ${JSON.stringify(exit)}`);
      });
      died.catch(() => undefined);
      if ((await a.remote.add(1, 2)) !== 3) throw new Error('add(1, 2) !== 3');
      await a.remote.burst(100);
    },
    async stop() {
      await agent?.close();
      agent = undefined;
    },
    pipelined(calls, inFlight) {
      const a = agent!;
      return guard(pipeline({ calls, inFlight, call: (i) => a.remote.add(i, 1), check: (i, result) => result === i + 1 }));
    },
    async burst(calls) {
      return { ops: calls, ns: await guard(agent!.remote.burst(calls)) };
    },
  };
}

/** Resident memory of process `pid` in bytes (Linux), or undefined where /proc is missing. */
export function residentBytes(pid: number): number | undefined {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
