/**
 * Real-time relay: blocks that reach the node as they are found (generated here, or
 * relayed by another peer) go to this peer as DATA; DATA from this peer is checked and
 * handed to the node like a streamed block. A relayed block whose parent we lack means
 * the peer is ahead: the sync runs at once instead of at its next interval.
 */
import { checkBlock, submitBlock } from './block-intake.ts';
import type { BlockSync } from './block-sync.ts';
import { Command } from './commands.ts';
import { formatBlockBytes, parseBlockBytes } from './payloads.ts';
import type { PeerConnection } from './peer-connection.ts';

export class RelayForwarder {
  readonly handlers = new Map<string, (payload: string) => void>([[Command.DATA, (payload) => this.onData(payload)]]);
  private stopped = false;

  constructor(
    private readonly peer: PeerConnection,
    private readonly sync: BlockSync,
  ) {}

  start(): void {
    void this.forward(this.peer.node.relayCursor());
  }

  stop(): void {
    this.stopped = true;
  }

  /** One long-waiting async call at a time; each answer is sent on, then the next call goes out. */
  private async forward(cursor: number): Promise<void> {
    const { conn, nodeAsync } = this.peer;
    while (!this.stopped && conn.connected) {
      let batch;
      try {
        batch = await nodeAsync.nextRelayed(conn.id, cursor);
      } catch {
        return; // the node or the agent is closing
      }
      if (batch.closed || this.stopped) return;
      cursor = batch.cursor;
      for (const block of batch.blocks) if (block.origin !== conn.id) this.peer.send(Command.DATA, formatBlockBytes(block.bytes));
    }
  }

  private onData(payload: string): void {
    const block = checkBlock(parseBlockBytes(payload, 'DATA'), this.peer.settings.network);
    const result = submitBlock(this.peer.node, block, this.peer.conn.id, true);
    if (result.status === 'missing-parent') this.sync.runSoon();
  }
}
