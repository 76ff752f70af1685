/** The agent the node hands verification to. */
import { defineAgent } from '../../../src/agent.ts';

export default defineAgent(() => ({
  async check(hash: string): Promise<boolean> {
    await new Promise((resolve) => setTimeout(resolve, 2));
    if (hash.startsWith('bad')) throw new Error(`block ${hash} does not verify`);
    return true;
  },
}));
