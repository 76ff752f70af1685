/**
 * Agent for the blocking suite. Here the agent is the caller: each method runs one
 * scenario of `main.blocking` calls into the node and returns the nanoseconds spent in
 * those calls, timed on this thread as the Atomics floor's worker times its own.
 */
import { defineAgent, type MainHandle } from '../../src/agent.ts';
import { isPayload } from '../baselines/blocking-target.ts';
import { sleepBlocking } from '../harness/sleep.ts';
import type { BenchNodeApi } from '../subjects/agent-ipc.ts';

export default defineAgent((main: MainHandle<BenchNodeApi>) => ({
  /** `calls` back-to-back `add(i, 1)` calls. */
  burst(calls: number): number {
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) {
      if (main.blocking.add(i, 1) !== i + 1) throw new Error(`wrong answer for add(${i}, 1)`);
    }
    return Number(process.hrtime.bigint() - start);
  },

  /** `calls` calls, each after a `gapMs` blocking sleep; only the calls are timed. */
  spaced(calls: number, gapMs: number): number {
    let ns = 0n;
    for (let i = 0; i < calls; i++) {
      sleepBlocking(gapMs);
      const start = process.hrtime.bigint();
      const sum = main.blocking.add(i, 1);
      ns += process.hrtime.bigint() - start;
      if (sum !== i + 1) throw new Error(`wrong answer for add(${i}, 1)`);
    }
    return Number(ns);
  },

  /** `calls` calls of `bytes(size)`, each payload spot-checked. */
  fetch(size: number, calls: number): number {
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) {
      if (!isPayload(main.blocking.bytes(size), size)) throw new Error(`bad payload of ${size} B`);
    }
    return Number(process.hrtime.bigint() - start);
  },
}));
