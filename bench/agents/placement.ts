/**
 * Agent for bench/placement.ts and the sync-main suite: `add`, and the Linux thread id of
 * the agent's thread, so the bench can read which CPU that thread is on.
 */
import { defineAgent } from '../../src/agent.ts';
import { currentThreadId } from '../harness/thread-cpu.ts';

export default defineAgent(() => ({
  add(a: number, b: number): number {
    return a + b;
  },
  threadTid(): number {
    return currentThreadId();
  },
}));
