/**
 * The syncing side of block sync (sync-v2's `run_sync_blocks`): every `syncIntervalMs`,
 * and whenever a relayed block shows that the peer is ahead, ask for its best block; if
 * it is ahead of us, find the best common block (n-ary search over
 * GET-PEER-BLOCK-HASHES) and stream the blocks after it (GET-NEXT-BLOCKS → BLOCKS … →
 * BLOCKS-END), at most `streamLimit` per stream, until we have its best block.
 *
 * Waiting for the peer is asynchronous (the line server must keep delivering lines);
 * everything that touches the node is a synchronous call, as in the legacy code.
 *
 * Streamed blocks are handled in two passes per batch of lines. Each BLOCKS line is
 * decoded at once. The rest runs for the whole batch on the next event-loop turn: one
 * synchronous query asks the node what it knows about the batch's blocks and their
 * dependencies (`readDependencies`: one blocking call per 64 blocks, where a call per
 * question would wait for the node's busy event loop a dozen times per block); a block
 * the node knows already — stored, or queued by another peer's stream — is skipped
 * without verifying its proof of work (sync-v2 does the same), the others are verified
 * and checked; then they go to the node with `main.async.queueBlock` — not awaited, so
 * in an agent the node validates and saves them (in slices: its event loop stays free)
 * while the agent checks the next batch.
 * Until the node confirms a block, its outputs are known from `PendingBlocks`; before
 * asking the peer anything new, the sync waits for every block it handed over.
 */
import type { BestBlock } from '../chain/block-meta.ts';
import type { Hash } from '../chain/sha256.ts';
import { decodeBlock, type Block } from '../chain/block.ts';
import { checkDependencies, checkProofOfWork, readDependencies } from './block-intake.ts';
import { Command } from './commands.ts';
import { narrowRange, probeHeights } from './common-block-search.ts';
import { formatNextBlocksRequest, parseBestBlock, parseBlockBytes, parseHashAnswer, parseStreamEnd, type BestBlockPayload } from './payloads.ts';
import type { PeerConnection } from './peer-connection.ts';
import { PendingBlocks } from './pending-blocks.ts';
import { ProtocolViolation } from './protocol-violation.ts';

interface IncomingStream {
  /** The block the next one must build on. */
  expectedParent: Hash;
  /** Blocks the peer may still send. */
  left: number;
  received: number;
}

export class BlockSync {
  readonly handlers = new Map<string, (payload: string) => void>([
    [Command.BEST_BLOCK, (payload) => this.reply(Command.BEST_BLOCK, payload)],
    [Command.PEER_BLOCK_HASHES, (payload) => this.reply(Command.PEER_BLOCK_HASHES, payload)],
    [Command.BLOCKS, (payload) => this.onBlock(payload)],
    [
      Command.BLOCKS_END,
      (payload) => {
        this.handOver();
        this.reply(Command.BLOCKS_END, payload);
      },
    ],
  ]);
  private running = false;
  private stopped = false;
  private stream: IncomingStream | undefined;
  /** Decoded blocks of the current batch of lines, not yet handed to the node. */
  private checked: Block[] = [];
  /** Handed to the node, not yet confirmed. */
  private readonly pending = new PendingBlocks();
  private timer: NodeJS.Timeout | undefined;
  private reported = '';

  constructor(private readonly peer: PeerConnection) {}

  start(): void {
    this.timer = setInterval(() => this.runSoon(), this.peer.settings.syncIntervalMs);
    this.timer.unref();
    this.runSoon();
  }

  stop(): void {
    this.stopped = true;
    this.checked = [];
    this.pending.clear();
    clearInterval(this.timer);
  }

  /** Starts a sync pass unless one is running. */
  runSoon(): void {
    if (this.running || this.stopped || !this.peer.connected) return;
    this.running = true;
    this.run()
      .catch((error: unknown) => this.peer.fail(error))
      .finally(() => (this.running = false));
  }

  private async run(): Promise<void> {
    const node = this.peer.node;
    while (!this.stopped && this.peer.connected) {
      const best = parseBestBlock(await this.peer.request(Command.GET_BEST_BLOCK, '', Command.BEST_BLOCK));
      const ours = node.getBestBlock();
      if (best.height <= ours.height || node.blockExists(best.block)) {
        this.report('synced', best);
        return;
      }
      this.report('syncing', best);
      const common = await this.findBestCommonBlock(best.height, ours.height);
      const received = await this.download(common, best);
      await this.pending.drained();
      // No progress (the peer's chain moved under us, say): try again at the next interval.
      if (received === 0) return;
    }
  }

  private async findBestCommonBlock(peerHeight: number, ourHeight: number): Promise<BestBlock> {
    const node = this.peer.node;
    let lo = 0;
    let hi = Math.min(peerHeight, ourHeight);
    while (lo < hi) {
      const heights = probeHeights(lo, hi);
      const answer = parseHashAnswer(await this.peer.request(Command.GET_PEER_BLOCK_HASHES, JSON.stringify(heights), Command.PEER_BLOCK_HASHES));
      const matches = heights.map((height) => {
        const theirs = answer.get(height);
        return theirs !== undefined && node.getBlockHashAtHeight(height) === theirs;
      });
      ({ lo, hi } = narrowRange(lo, heights, matches));
    }
    return { height: lo, hash: node.getBlockHashAtHeight(lo) ?? this.peer.settings.genesis };
  }

  /** Streams the blocks after `common` towards the peer's best; resolves with how many arrived. */
  private async download(common: BestBlock, best: BestBlockPayload): Promise<number> {
    const quantity = Math.min(this.peer.settings.streamLimit, best.height - common.height);
    const stream: IncomingStream = { expectedParent: common.hash, left: quantity, received: 0 };
    this.stream = stream;
    try {
      const request = formatNextBlocksRequest({ start: common.hash, end: best.block, quantity });
      const end = parseStreamEnd(await this.peer.request(Command.GET_NEXT_BLOCKS, request, Command.BLOCKS_END));
      this.peer.log.debug({ from: common.height, received: stream.received, end }, 'block stream ended');
      return stream.received;
    } finally {
      this.stream = undefined;
    }
  }

  /** One streamed block: decoded now; checked and handed to the node with the rest of its batch. */
  private onBlock(payload: string): void {
    const stream = this.stream;
    if (!stream) throw new ProtocolViolation('BLOCKS without a GET-NEXT-BLOCKS');
    if (stream.left === 0) throw new ProtocolViolation('more BLOCKS than asked for');
    this.peer.replies.extend(Command.BLOCKS_END);
    const block = decodeBlock(parseBlockBytes(payload, 'BLOCKS'));
    if (block.parent !== stream.expectedParent) throw new ProtocolViolation(`BLOCKS out of order: ${block.hash} does not follow ${stream.expectedParent}`);
    stream.expectedParent = block.hash;
    stream.left--;
    stream.received++;
    // The line server hands over a batch of lines in one synchronous loop; the next
    // turn of the event loop comes after the batch's last line.
    if (this.checked.push(block) === 1) setImmediate(() => this.handOverOrFail());
  }

  /**
   * Checks the decoded blocks, in order — what the node knows about them (one query),
   * the proof of work of those it does not know, their dependencies — then queues them
   * all on the node. Reads first, calls after: a blocking call is served only once the node has
   * taken in the async calls sent before it, so interleaving them would cost a round
   * trip through the node's event loop per block instead of one per batch.
   */
  private handOver(): void {
    const blocks = this.checked;
    this.checked = [];
    const ready: Block[] = [];
    const known = readDependencies(this.peer.node, blocks);
    for (const [i, block] of blocks.entries()) {
      // Known already (stored, queued by another peer's stream, or by us): a duplicate, not worth verifying.
      if (known[i].known || this.pending.height(block.hash) !== undefined) continue;
      checkProofOfWork(block, this.peer.settings.network);
      const readiness = checkDependencies(this.peer.node, block, this.pending, known[i]);
      if (readiness === 'missing-parent') throw new ProtocolViolation(`BLOCKS: the parent of ${block.hash} is unknown`);
      if (readiness === 'duplicate') continue;
      this.pending.add(block);
      ready.push(block);
    }
    const { nodeAsync, conn } = this.peer;
    for (const block of ready) {
      const stored = nodeAsync.queueBlock(block.bytes, { connection: conn.id, relayed: false }).then((result) => {
        if (result.status === 'missing-parent') throw new ProtocolViolation(`BLOCKS: the node lacks the parent of ${block.hash}`);
      });
      stored.catch((error: unknown) => this.peer.fail(error));
      this.pending.until(block, stored);
    }
  }

  private handOverOrFail(): void {
    if (this.stopped) return;
    try {
      this.handOver();
    } catch (error) {
      this.peer.fail(error);
    }
  }

  private reply(command: string, payload: string): void {
    if (!this.peer.replies.settle(command, payload)) throw new ProtocolViolation(`${command} that nobody asked for`);
  }

  /** Tells the node how this peer's sync stands (a notification: nothing waits for it). */
  private report(state: 'syncing' | 'synced', best: BestBlockPayload): void {
    const key = `${state} ${best.block}`;
    if (key === this.reported) return;
    this.reported = key;
    this.peer.nodeAsync.peerSyncState(this.peer.conn.id, { state, peerHeight: best.height, peerBest: best.block }).catch(() => undefined);
  }
}
