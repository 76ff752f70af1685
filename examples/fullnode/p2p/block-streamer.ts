/**
 * The serving side of GET-NEXT-BLOCKS: streams the best chain's blocks after the start
 * block, one BLOCKS line each, until the end block, the quantity (capped at the stream
 * limit) or the chain's tip, then BLOCKS-END with the reason. It is a producer in
 * Twisted's sense: it sends a slice per event-loop turn, pauses while the connection is
 * not writable (the socket's back-pressure, reported by the line server) and resumes on
 * drain. STOP-BLOCK-STREAMING ends it early.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Hash } from '../chain/sha256.ts';
import { Command, StreamEnd, type StreamEndCode } from './commands.ts';
import { formatBlockBytes, parseNextBlocksRequest } from './payloads.ts';
import type { PeerConnection } from './peer-connection.ts';
import { ProtocolViolation } from './protocol-violation.ts';

/** Blocks sent per event-loop turn before yielding (to timers, other connections, and inline to the node). */
const SLICE = 16;

interface OutgoingStream {
  next: number;
  left: number;
  end: Hash;
  stopped: boolean;
}

export class BlockStreamer {
  readonly handlers = new Map<string, (payload: string) => void>([
    [Command.GET_NEXT_BLOCKS, (payload) => this.onGetNextBlocks(payload)],
    [Command.STOP_BLOCK_STREAMING, () => this.stop()],
  ]);
  private active: OutgoingStream | undefined;

  constructor(private readonly peer: PeerConnection) {}

  stop(): void {
    if (this.active) this.active.stopped = true;
  }

  private onGetNextBlocks(payload: string): void {
    const { streamLimit } = this.peer.settings;
    const request = parseNextBlocksRequest(payload);
    if (this.active) throw new ProtocolViolation('GET-NEXT-BLOCKS while a stream is running');
    const node = this.peer.node;
    const start = node.getBlockMeta(request.start);
    if (start === null || node.getBlockHashAtHeight(start.height) !== request.start) {
      this.peer.send(Command.BLOCKS_END, StreamEnd.INVALID_START);
      return;
    }
    const stream: OutgoingStream = {
      next: start.height + 1,
      left: Math.min(request.quantity, streamLimit),
      end: request.end,
      stopped: false,
    };
    this.active = stream;
    this.produce(stream)
      .catch((error: unknown) => this.peer.fail(error))
      .finally(() => {
        if (this.active === stream) this.active = undefined;
      });
  }

  private async produce(stream: OutgoingStream): Promise<void> {
    const { conn, node } = this.peer;
    while (conn.connected) {
      if (stream.stopped) return this.finish(StreamEnd.STOPPED);
      if (!conn.writable) {
        await conn.whenWritable().catch(() => undefined);
        continue;
      }
      for (let i = 0; i < SLICE && conn.writable; i++) {
        const hash = node.getBlockHashAtHeight(stream.next);
        const bytes = hash === null ? null : node.getBlockBytes(hash);
        if (hash === null || bytes === null) return this.finish(StreamEnd.NO_MORE_BLOCKS);
        this.peer.send(Command.BLOCKS, formatBlockBytes(bytes));
        stream.next++;
        stream.left--;
        if (hash === stream.end) return this.finish(StreamEnd.END_REACHED);
        if (stream.left === 0) return this.finish(StreamEnd.LIMIT_EXCEEDED);
      }
      await nextTurn();
    }
  }

  private finish(code: StreamEndCode): void {
    this.peer.send(Command.BLOCKS_END, code);
  }
}
