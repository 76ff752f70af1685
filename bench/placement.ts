/**
 * Where the kernel puts a blocking call's two threads, and what it costs: the node's
 * thread makes bursts of `agent.blocking.add(i, 1)` into a thread agent, each burst after
 * an idle pause (as a tool's or a bench round's calls come), and every `--chunk` calls it
 * records the time per call and the CPU each of the two threads last ran on (field 39 of
 * /proc/self/task/<tid>/stat). Both threads spin when each has a core (~1–2 µs a call);
 * on one core they cannot, and each call pays two wake-ups.
 *
 *   node --import=tsx bench/placement.ts [--rounds 6] [--idle-ms 300] [--chunk 250] [--span-ms 200]
 *
 * Prints the machine line of the benchmark report (with the kernel's release and, where
 * the kernel has one, its `sched_vcpu_pack` setting) (a scheduler extension of the VMs this project is developed on, not in
 * upstream Linux), then per round the chunks as `µs/call` with `=` (both threads on one
 * CPU) or `|` (apart), and a summary: how many chunks ran on one CPU and their median
 * cost against the apart ones. docs/blocking-calls.md ("Open: short bursts on a calm
 * machine") has what it showed. Linux only. Not part of `npm run bench`.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeMachine, machineLine } from './harness/machine.ts';
import { summarize } from './harness/stats.ts';
import { currentThreadId, shareCpu } from './harness/thread-cpu.ts';
import { spawnAgentSync } from '../src/index.ts';
import type PlacementAgent from './agents/placement.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '6' },
    'idle-ms': { type: 'string', default: '300' },
    chunk: { type: 'string', default: '250' },
    'span-ms': { type: 'string', default: '200' },
  },
});
const ROUNDS = Number(values.rounds);
const IDLE_MS = Number(values['idle-ms']);
const CHUNK = Number(values.chunk);
const SPAN_MS = Number(values['span-ms']);

const agent = spawnAgentSync<typeof PlacementAgent>(new URL('./agents/placement.ts', import.meta.url), { name: 'placement' });
try {
  const nodeTid = currentThreadId();
  const agentTid = agent.blocking.threadTid();
  if (shareCpu(nodeTid, agentTid) === undefined) throw new Error('bench/placement.ts: /proc does not say which CPU a thread runs on (Linux only)');
  console.log(`${machineLine(describeMachine())}; load average ${loadavg()[0]!.toFixed(1)}`);
  console.log(`${ROUNDS} rounds: ${IDLE_MS} ms idle, then ${SPAN_MS} ms of back-to-back calls in chunks of ${CHUNK}; µs/call per chunk, '=' both threads on one CPU, '|' apart`);
  for (let i = 0; i < 20_000; i++) agent.blocking.add(i, 1); // warm-up
  const together: number[] = [];
  const apart: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    await sleep(IDLE_MS);
    const start = performance.now();
    let last = start;
    const cells: string[] = [];
    while (last - start < SPAN_MS) {
      for (let i = 0; i < CHUNK; i++) {
        if (agent.blocking.add(i, 1) !== i + 1) throw new Error('placement: wrong answer');
      }
      const now = performance.now();
      const us = ((now - last) * 1000) / CHUNK;
      last = now;
      const same = shareCpu(nodeTid, agentTid) === true;
      (same ? together : apart).push(us);
      cells.push(`${us.toFixed(1)}${same ? '=' : '|'}`);
    }
    console.log(`round ${round + 1}: ${cells.join(' ')}`);
  }
  const median = (xs: number[]): string => (xs.length === 0 ? '–' : summarize(xs).median.toFixed(2));
  console.log(
    `chunks on one CPU: ${together.length} of ${together.length + apart.length}, median ${median(together)} µs/call; apart: ${apart.length}, median ${median(apart)} µs/call`,
  );
} finally {
  await agent.close();
}
