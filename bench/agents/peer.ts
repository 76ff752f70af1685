/**
 * Agent for the process suite: `add` for the node's pipelined calls, and `burst` for
 * blocking calls the other way (timed in the agent, as the blocking suite's caller does).
 */
import { defineAgent, type MainHandle } from '../../src/agent.ts';

export default defineAgent((main: MainHandle<{ add(a: number, b: number): number }>) => ({
  add(a: number, b: number): number {
    return a + b;
  },
  burst(calls: number): number {
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) {
      if (main.blocking.add(i, 1) !== i + 1) throw new Error(`wrong answer for add(${i}, 1)`);
    }
    return Number(process.hrtime.bigint() - start);
  },
}));
