/**
 * CPU per blocking call, agent-ipc against the other ways a worker blocks on the main
 * thread: the bench process's CPU time (user + system, every thread: the caller, the
 * answering thread, V8's helpers) divided by the calls, beside the wall time. CPU time
 * does not depend on how busy the machine is the way wall time does, so it tells what a
 * contender's code costs apart from when the scheduler runs it; run it pinned to one core
 * (`taskset -c 0`) to see the cost where nothing spins, as in the load suites' (i).
 *
 *   node --import=tsx bench/cpu-per-call.ts [--calls 5000] [--rounds 5] [--size 1024]
 *   taskset -c 0 node --import=tsx bench/cpu-per-call.ts
 *
 * Contenders: agent-ipc (a thread agent's `main.blocking`), sync-message-port and
 * synckit (a caller worker each, as in the load suites: bench/load/targets.ts), and the
 * no-spin Atomics floor for bursts. Cases: a burst of `add(i, 1)`, and calls answered
 * with a `--size`-byte string and Uint8Array. Rounds interleave the contenders; the
 * table gives medians over rounds (the first round warms up and is not counted).
 *
 * Not part of `npm run bench`: a look at what bounds the load suites' figures.
 */
import { parseArgs } from 'node:util';
import { availableParallelism, loadavg } from 'node:os';
import { summarize } from './harness/stats.ts';
import { agentIpcLoadTarget, floorTarget, syncMessagePortTarget, synckitWorkerTarget, type LoadTarget } from './load/targets.ts';
import type { LoadScenario } from './load/scenario.ts';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '5000' },
    rounds: { type: 'string', default: '5' },
    size: { type: 'string', default: '1024' },
  },
});
const calls = Number(values.calls);
const rounds = Number(values.rounds);
const size = Number(values.size);

const scenarios: Array<{ label: string; scenario: LoadScenario }> = [
  { label: 'burst add(i, 1)', scenario: { kind: 'burst', calls } },
  { label: `${size} B string`, scenario: { kind: 'text', size, calls } },
  { label: `${size} B Uint8Array`, scenario: { kind: 'bytes', size, calls } },
];
const targets: LoadTarget[] = [agentIpcLoadTarget('thread'), syncMessagePortTarget(), synckitWorkerTarget(), floorTarget(false)];

const load = loadavg()[0]!;
for (const target of targets) await target.start();
/** µs of CPU and of wall time per call, per scenario label, per contender. */
const samples = new Map<string, { cpu: number[]; wall: number[] }>();
try {
  for (let round = 0; round <= rounds; round++) {
    for (const { label, scenario } of scenarios) {
      for (const target of targets) {
        if (scenario.kind !== 'burst' && target.name.startsWith('atomics-floor')) continue;
        const cpuBefore = process.cpuUsage();
        const wallBefore = performance.now();
        await target.measure(scenario);
        const cpu = process.cpuUsage(cpuBefore);
        const wallMs = performance.now() - wallBefore;
        if (round === 0) continue; // warm-up
        const key = `${label}\u0000${target.name}`;
        const entry = samples.get(key) ?? { cpu: [], wall: [] };
        entry.cpu.push((cpu.user + cpu.system) / calls);
        entry.wall.push((wallMs * 1000) / calls);
        samples.set(key, entry);
      }
    }
  }
} finally {
  for (const target of targets) await target.stop();
}

// availableParallelism() follows the affinity mask: 1 under `taskset -c 0`.
console.log(`CPU per blocking call: ${rounds} rounds of ${calls} calls, Node ${process.version}, ${availableParallelism()} CPU(s) allowed, load average ${load.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}`);
console.log('| case | contender | CPU µs/call (median, quartiles) | wall µs/call (median) |');
console.log('| --- | --- | ---: | ---: |');
for (const [key, { cpu, wall }] of samples) {
  const [label, name] = key.split('\u0000');
  const c = summarize(cpu);
  console.log(`| ${label} | ${name} | ${c.median.toFixed(2)} (${c.q1.toFixed(2)}–${c.q3.toFixed(2)}) | ${summarize(wall).median.toFixed(2)} |`);
}
