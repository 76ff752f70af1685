/**
 * Soak (`npm run soak`, not part of CI): a million mixed async and blocking calls across
 * agents that are killed and crashed at random. Every call the node makes must settle
 * exactly once, with a result or a typed agent-ipc error, and memory must end where it
 * started. Figures go to bench/results/soak.json and docs/reliability.md.
 *
 *   npm run soak                 # 1,000,000 calls
 *   npm run soak -- 200000       # fewer
 */
import { writeFileSync } from 'node:fs';
import { AgentExitedError, ConnectionClosedError, TimeoutError, spawnAgent, type Agent, type Isolation } from '../../src/index.ts';
import type SoakAgent from './soak-agent.ts';

const TARGET_CALLS = Number(process.argv[2] ?? 1_000_000);
const AGENTS = 4;
const isolations: Isolation[] = ['thread', 'process'];
const entry = new URL('./soak-agent.ts', import.meta.url);
const nodeApi = {
  add: (a: number, b: number) => a + b,
  addLater: async (a: number, b: number) => a + b,
};

type Soaker = Agent<typeof SoakAgent>;

const counts = {
  nodeCalls: 0,
  settledOk: 0,
  settledTypedError: 0,
  untypedErrors: 0,
  doubleSettled: 0,
  agentCalls: 0,
  agentCallsFailed: 0,
  killed: 0,
  crashed: 0,
  spawned: 0,
};
const errorsByName: Record<string, number> = {};
const typed = [AgentExitedError, ConnectionClosedError, TimeoutError];

/** Agent `index` always runs in the same isolation, so memory compares like for like. */
async function spawn(index: number): Promise<Soaker> {
  counts.spawned++;
  const isolation = isolations[index % isolations.length]!;
  return spawnAgent<typeof SoakAgent>(entry, { isolation, expose: nodeApi, name: `soak-${counts.spawned}`, timeoutMs: 30_000 });
}

/** Tracks one node-side call: it must settle exactly once. */
function track(call: Promise<unknown>, onValue?: (value: unknown) => void): Promise<void> {
  counts.nodeCalls++;
  let settled = false;
  const once = (): boolean => {
    if (settled) {
      counts.doubleSettled++;
      return false;
    }
    settled = true;
    return true;
  };
  return call.then(
    (value) => {
      if (!once()) return;
      counts.settledOk++;
      onValue?.(value);
    },
    (error: unknown) => {
      if (!once()) return;
      const name = error instanceof Error ? error.name : typeof error;
      errorsByName[name] = (errorsByName[name] ?? 0) + 1;
      if (typed.some((cls) => error instanceof cls)) counts.settledTypedError++;
      else counts.untypedErrors++;
    },
  );
}

function memory(): { rssMiB: number; heapUsedMiB: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { rssMiB: Math.round(m.rss / 2 ** 20), heapUsedMiB: Math.round(m.heapUsed / 2 ** 20) };
}

async function main(): Promise<void> {
  const agents: Soaker[] = await Promise.all(Array.from({ length: AGENTS }, (_, index) => spawn(index)));
  // Warm up before the memory baseline: JIT, pools, the first agents.
  await Promise.all(agents.map((a) => a.remote.work(2000)));
  const before = memory();
  let peakRssMiB = before.rssMiB;
  const started = performance.now();
  let lastReport = 0;

  const replace = async (index: number, how: 'kill' | 'crash'): Promise<void> => {
    const victim = agents[index]!;
    if (how === 'kill') {
      counts.killed++;
      void victim.close({ timeoutMs: 0 });
    } else {
      counts.crashed++;
      void track(victim.remote.crash());
    }
    await victim.exited;
    agents[index] = await spawn(index);
  };

  while (counts.nodeCalls + counts.agentCalls < TARGET_CALLS) {
    const round: Array<Promise<void>> = [];
    for (let i = 0; i < agents.length; i++) {
      const agent = agents[i]!;
      for (let k = 0; k < 64; k++) round.push(track(agent.remote.ping(k)));
      round.push(
        track(agent.remote.work(200), (value) => {
          const { ok, failed } = value as { ok: number; failed: number };
          counts.agentCalls += ok + failed;
          counts.agentCallsFailed += failed;
        }),
      );
    }
    // Now and then, kill or crash an agent while its calls are in flight.
    if (Math.random() < 0.08) round.push(replace(Math.floor(Math.random() * agents.length), Math.random() < 0.5 ? 'kill' : 'crash'));
    await Promise.all(round);
    const total = counts.nodeCalls + counts.agentCalls;
    if (total - lastReport > 100_000) {
      lastReport = total;
      const now = memory();
      peakRssMiB = Math.max(peakRssMiB, now.rssMiB);
      process.stderr.write(`[soak] ${total.toLocaleString()} calls, ${counts.killed + counts.crashed} agents killed, rss ${now.rssMiB} MiB\n`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  // Measured like the baseline: with the same number of agents running.
  const after = memory();
  await Promise.all(agents.map((a) => a.close()));
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    seconds: Math.round(seconds * 10) / 10,
    isolations,
    ...counts,
    totalCalls: counts.nodeCalls + counts.agentCalls,
    errorsByName,
    memoryBefore: before,
    memoryAfter: after,
    peakRssMiB,
  };
  writeFileSync(new URL('../results/soak.json', import.meta.url), JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify(result, null, 2));
  const ok = counts.doubleSettled === 0 && counts.untypedErrors === 0 && counts.settledOk + counts.settledTypedError === counts.nodeCalls;
  console.log(ok ? 'soak: every call settled exactly once, with a result or a typed error' : 'soak: FAILED');
  process.exitCode = ok ? 0 : 1;
}

await main();
