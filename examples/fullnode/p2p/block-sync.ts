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
 * decoded at once. The rest runs for the whole batch on the next event-loop turn
 * (`handOver`): one synchronous call claims the blocks (which does the node know
 * already — stored, or queued by another peer's stream — and which is another
 * connection verifying: blocks in flight); the proofs of work of this connection's
 * blocks are checked; then, in order, one synchronous query per run of blocks asks
 * for their dependencies (`readDependencies`: a call per 64 blocks, where a call per
 * question would wait for the node's busy event loop a dozen times per block), and
 * the blocks go to the node with `main.async.queueBlock` — not awaited, so in an
 * agent the node validates and saves them (in slices: its event loop stays free)
 * while the agent checks the next batch. Blocks the node knows are skipped without
 * verifying them, as sync-v2 does; the pass waits at a block in flight until the
 * other connection has handed it over.
 *
 * Until the node confirms a block, its outputs are known from `PendingBlocks`; before
 * asking the peer anything new, the sync waits for every block it handed over.
 */
import type { BestBlock } from '../chain/block-meta.ts';
import type { Hash } from '../chain/sha256.ts';
import { decodeBlock, type Block } from '../chain/block.ts';
import type { BlockClaim } from '../node/node-api.ts';
import { DEPENDENCY_BATCH, checkDependencies, checkProofOfWork, readDependencies } from './block-intake.ts';
import { Command } from './commands.ts';
import { narrowRange, probeHeights } from './common-block-search.ts';
import { formatNextBlocksRequest, parseBestBlock, parseBlockBytes, parseHashAnswer, parseStreamEnd, type BestBlockPayload } from './payloads.ts';
import type { PeerConnection } from './peer-connection.ts';
import { PendingBlocks } from './pending-blocks.ts';
import { ProtocolViolation } from './protocol-violation.ts';

/** How soon a batch waiting for another connection's blocks in flight looks again. */
const IN_FLIGHT_RETRY_MS = 2;

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
  /** What the node said of the waiting blocks (`claimBlocks`); absent: not asked yet. */
  private readonly claims = new Map<Block, BlockClaim>();
  /** Blocks whose proof of work this connection checked. */
  private readonly verified = new WeakSet<Block>();
  private scheduled = false;
  private retry: NodeJS.Timeout | undefined;
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
    this.claims.clear();
    this.pending.clear();
    clearInterval(this.timer);
    clearTimeout(this.retry);
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
      // Blocks still waiting for another connection's blocks in flight.
      while (this.checked.length > 0 && !this.stopped) await new Promise((resolve) => setTimeout(resolve, IN_FLIGHT_RETRY_MS));
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
    this.checked.push(block);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.handOverOrFail();
      });
    }
  }

  /**
   * Checks the decoded blocks, in order, and queues those that pass on the node.
   *
   * First it claims the blocks it has not asked about (`claimBlocks`, one call): the
   * node knows some already (stored, or queued by another peer's stream) — those are
   * skipped unverified, as sync-v2 skips vertices it has; another connection may be
   * verifying some (in flight) — those are left to it; the rest are this connection's,
   * and their proofs of work are checked at once (they need no parent). Then, in
   * order, the dependencies of each run of its blocks are checked with one query, and
   * the pass stops at a block still in flight: the rest waits for the other
   * connection to hand it over (a retry a few ms later). With two peers streaming the
   * same blocks, the two agents thus verify different blocks at the same time.
   *
   * Reads first, calls after: a blocking call is served only once the node has taken
   * in the async calls sent before it, so interleaving them would cost a round trip
   * through the node's event loop per block instead of one per batch.
   */
  private handOver(): void {
    const { node } = this.peer;
    const id = this.peer.conn.id;
    const blocks = this.checked;
    const fresh = blocks.filter((block) => !this.claims.has(block));
    if (fresh.length > 0) {
      const answers = node.claimBlocks(id, fresh.map((block) => block.hash));
      fresh.forEach((block, i) => this.claims.set(block, answers[i]));
    }
    for (const block of blocks) if (this.claims.get(block) === 'claimed') this.verify(block);

    const ready: Block[] = [];
    let at = 0;
    while (at < blocks.length) {
      const block = blocks[at];
      if (this.claims.get(block) === 'in-flight') {
        // Handed over by the other connection yet (or left to us, its connection gone)?
        const [claim] = node.claimBlocks(id, [block.hash]);
        this.claims.set(block, claim);
        if (claim === 'in-flight') break;
        if (claim === 'claimed') this.verify(block);
      }
      if (this.claims.get(block) === 'known' || this.pending.height(block.hash) !== undefined) {
        at++;
        continue;
      }
      let end = at + 1;
      while (end < blocks.length && end - at < DEPENDENCY_BATCH && this.claims.get(blocks[end]) === 'claimed') end++;
      const run = blocks.slice(at, end);
      const known = readDependencies(node, run);
      for (const [i, next] of run.entries()) {
        const readiness = checkDependencies(node, next, this.pending, known[i]);
        if (readiness === 'missing-parent') throw new ProtocolViolation(`BLOCKS: the parent of ${next.hash} is unknown`);
        if (readiness === 'duplicate') continue;
        this.pending.add(next);
        ready.push(next);
      }
      at = end;
    }
    for (const done of blocks.slice(0, at)) this.claims.delete(done);
    this.checked = blocks.slice(at);
    if (this.checked.length > 0) this.retryLater();
    const { nodeAsync, conn } = this.peer;
    for (const block of ready) {
      const stored = nodeAsync.queueBlock(block.bytes, { connection: conn.id, relayed: false }).then((result) => {
        if (result.status === 'missing-parent') throw new ProtocolViolation(`BLOCKS: the node lacks the parent of ${block.hash}`);
      });
      stored.catch((error: unknown) => this.peer.fail(error));
      this.pending.until(block, stored);
    }
  }

  /** Checks the proof of work of a block this connection claimed (once). */
  private verify(block: Block): void {
    if (this.verified.has(block)) return;
    checkProofOfWork(block, this.peer.settings.network);
    this.verified.add(block);
  }

  private retryLater(): void {
    if (this.retry !== undefined) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.handOverOrFail();
    }, IN_FLIGHT_RETRY_MS);
  }

  private handOverOrFail(): void {
    if (this.stopped || this.checked.length === 0) return;
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
