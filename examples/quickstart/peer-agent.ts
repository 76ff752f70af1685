/**
 * The agent side of the quick start: a "peer protocol" that handles one message by
 * reading storage synchronously (legacy style) through blocking calls.
 */
import { defineAgent, type AgentContext, type MainHandle } from 'agent-ipc/agent';
import type { NodeApi } from './main.ts';

// Annotating `main` lets TypeScript infer the agent's methods for `spawnAgent<typeof PeerAgent>`.
export default defineAgent((main: MainHandle<NodeApi>, ctx: AgentContext) => ({
  recvMessage(line: string): string {
    const [command, height] = line.split(' ');
    if (command !== 'GET-BLOCK') throw new Error(`unknown command ${command}`);
    // Plain synchronous code: the agent's thread parks while the node answers.
    const hash = main.blocking.getBlockHash(Number(height));
    return `BLOCK ${height} ${hash} (served by ${ctx.name})`;
  },
}));
