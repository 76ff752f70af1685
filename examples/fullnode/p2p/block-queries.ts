/**
 * The serving side's one-shot answers: GET-BEST-BLOCK and GET-PEER-BLOCK-HASHES, each a
 * few synchronous storage reads.
 */
import { Command } from './commands.ts';
import { parseHashQuery } from './payloads.ts';
import type { PeerConnection } from './peer-connection.ts';

export class BlockQueries {
  readonly handlers = new Map<string, (payload: string) => void>([
    [Command.GET_BEST_BLOCK, () => this.onGetBestBlock()],
    [Command.GET_PEER_BLOCK_HASHES, (payload) => this.onGetPeerBlockHashes(payload)],
  ]);

  constructor(private readonly peer: PeerConnection) {}

  private onGetBestBlock(): void {
    const best = this.peer.node.getBestBlock();
    this.peer.send(Command.BEST_BLOCK, JSON.stringify({ block: best.hash, height: best.height }));
  }

  private onGetPeerBlockHashes(payload: string): void {
    const pairs: Array<[number, string]> = [];
    for (const height of parseHashQuery(payload)) {
      const hash = this.peer.node.getBlockHashAtHeight(height);
      if (hash !== null) pairs.push([height, hash]);
    }
    this.peer.send(Command.PEER_BLOCK_HASHES, JSON.stringify(pairs));
  }
}
