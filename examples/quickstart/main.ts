/**
 * The node side of the quick start: storage stays here; each peer's protocol runs
 * in its own agent thread. Run with `npm run example:quickstart`.
 */
import { createHash } from 'node:crypto';
import { spawnAgent } from 'agent-ipc';
import type PeerAgent from './peer-agent.ts';

const chain = Array.from({ length: 1000 }, (_, height) => createHash('sha256').update(`block ${height}`).digest('hex'));
const storage = {
  getBlockHash: (height: number) => chain[height] ?? null,
};
export type NodeApi = typeof storage;

const peers = await Promise.all(
  ['peer-a', 'peer-b'].map((name) =>
    spawnAgent<typeof PeerAgent>(new URL('./peer-agent.ts', import.meta.url), { name, expose: storage }),
  ),
);
for (const [i, peer] of peers.entries()) {
  console.log(await peer.remote.recvMessage(`GET-BLOCK ${i * 100 + 7}`));
}
await Promise.all(peers.map((peer) => peer.close()));
console.log('agents closed:', peers.map((peer) => peer.name).join(', '));
