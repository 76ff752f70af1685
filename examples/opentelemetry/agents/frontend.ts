/** The agent a "peer" talks to: it checks a block with the node, synchronously and not. */
import { defineAgent, type MainHandle } from '../../../src/agent.ts';

export interface NodeApi {
  /** Whether the node has the block (served on the node's thread). */
  has(hash: string): boolean;
  /** Verifies the block, which the node hands to another agent. */
  verify(hash: string): Promise<boolean>;
}

export default defineAgent((main: MainHandle<NodeApi>) => ({
  async receive(hash: string): Promise<string> {
    if (main.blocking.has(hash)) return 'known';
    return (await main.async.verify(hash)) ? 'accepted' : 'rejected';
  },
}));
