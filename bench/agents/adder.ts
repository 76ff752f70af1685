/** Agent for the async suite: one method, the same `add` the baselines expose. */
import { defineAgent } from '../../src/agent.ts';

export default defineAgent(() => ({
  add(a: number, b: number): number {
    return a + b;
  },
}));
