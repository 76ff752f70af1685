/**
 * The agent's blocking calls into a node that is itself parked on this agent (inside
 * `agent.blocking.x()`): they go through the call-back slot of the reverse mailbox, which
 * the parked node serves from its wait (see `reverse-mailbox.ts`). When the slot is shut
 * (the node is not parked) the caller falls back to the forward mailbox.
 *
 * A call-back whose body went on the call-back side port and that is not claimed (its
 * timeout withdrew it, or the slot shut before its publishing CAS) leaves the body on the
 * node's end of the port. Two things drop it, as for a mailbox ("Withdrawn bodies on the
 * side port" in mailbox.ts): the next call-back is marked STALE_BEFORE and the node drops
 * it under its claim; and the call-back's tag goes in CB_WITHDRAWN, which the node reads
 * when it next enters or leaves a wait on this agent, dropping the bodies up to that tag
 * (the slot's state word has no sequence number, so without that word the node could not
 * tell a dead body from one whose publishing CAS is still to come). A body is posted
 * before its tag is written, so the node finds it there when it sees the tag.
 */
import type { MessagePort } from 'node:worker_threads';
import { ByteArea } from './value-codec.ts';
import { TimeoutError } from '../errors.ts';
import { decodeBudget } from '../decoded-size.ts';
import { FixedArea, readAnswer, writeRequest } from './mailbox-body.ts';
import { Flag, staleAfterUnclaimed } from './mailbox.ts';
import { CALLBACK_AREA_OFFSET, CallbackPhase, REVERSE_AREA_BYTES, RSlot, reverseHeader, ringDoorbell } from './reverse-mailbox.ts';

/** The result of {@link ParkedNodeLink.tryCall}: the answer, or `undefined` if the node is not parked. */
export type CallbackOutcome = { value: unknown } | undefined;

/** Makes blocking calls into a parked node. */
export class ParkedNodeLink {
  private readonly header: Int32Array;
  private readonly area: FixedArea;
  /** Tags call-back bodies on the side port, so that a stale one is recognised and skipped. */
  private seq = 0;
  /**
   * Flag.STALE_BEFORE while call-backs withdrawn before the node claimed them, or never
   * published (the slot shut first), may have left bodies on the call-back side port: the
   * next call-back carries it, and the node drops them under its claim (as a mailbox's
   * server does: "Withdrawn bodies on the side port" in mailbox.ts). 0 otherwise.
   */
  private staleBefore = 0;
  /** The heap an answer's v8 body may decode to (`decodeBudget` of `maxMessageBytes`), worked out once. */
  private readonly maxDecoded: number;

  constructor(
    memory: SharedArrayBuffer,
    private readonly sidePort: MessagePort,
    private readonly maxMessageBytes: number,
  ) {
    this.header = reverseHeader(memory);
    this.area = new FixedArea(new ByteArea(memory, CALLBACK_AREA_OFFSET, REVERSE_AREA_BYTES));
    this.maxDecoded = decodeBudget(maxMessageBytes);
  }

  /** `flags` with STALE_BEFORE, which this call-back now carries (if it is not claimed either, the next one does). */
  private markStale(flags: number): number {
    this.staleBefore = 0;
    return flags | Flag.STALE_BEFORE;
  }

  /**
   * Call-back `seq`, written with `flags`, was not claimed: if its body (or stale ones
   * before it) may be on the side port, the next call-back carries STALE_BEFORE, and
   * CB_WITHDRAWN tells the node, which drops them when it next enters or leaves a wait.
   */
  private unclaimed(seq: number, flags: number): void {
    this.staleBefore = staleAfterUnclaimed(flags);
    if (this.staleBefore !== 0) Atomics.store(this.header, RSlot.CB_WITHDRAWN, seq);
  }

  /** Whether the node is parked on this agent right now. */
  nodeBlocked(): boolean {
    return Atomics.load(this.header, RSlot.NODE_BLOCKED) === 1;
  }

  /** Counts a batch posted on the connection's port, and rings the node if it is parked. */
  posted(): void {
    Atomics.add(this.header, RSlot.POSTED, 1);
    if (Atomics.load(this.header, RSlot.NODE_BLOCKED) === 1) ringDoorbell(this.header);
  }

  /**
   * Calls `command` on the parked node. Returns `undefined` at once if the slot is shut;
   * throws the node's error, or `TimeoutError` after `timeoutMs` (0 = none).
   */
  tryCall(command: string, payload: unknown, timeoutMs: number): CallbackOutcome {
    const { header } = this;
    if (Atomics.load(header, RSlot.CB_STATE) !== CallbackPhase.OPEN) return undefined;
    // Never 0: CB_WITHDRAWN = 0 means no call-back was withdrawn.
    const seq = (this.seq = (this.seq + 1) | 0 || 1);
    // A body on the side port is posted before the CAS: if the slot shuts meanwhile, the node skips it later (its seq is stale).
    const { end, flags: written } = writeRequest(this.area, this.sidePort, seq, command, payload, this.maxMessageBytes);
    const flags = this.staleBefore === 0 ? written : this.markStale(written);
    header[RSlot.CB_SEQ] = seq;
    header[RSlot.CB_LENGTH] = end;
    header[RSlot.CB_FLAGS] = flags;
    if (Atomics.compareExchange(header, RSlot.CB_STATE, CallbackPhase.OPEN, CallbackPhase.REQUEST) !== CallbackPhase.OPEN) {
      // The node left its wait just now: its event loop will serve the forward mailbox. The
      // body posted, if any, is dropped at the node's next wait or a later call-back's claim.
      this.unclaimed(seq, flags);
      return undefined;
    }
    ringDoorbell(header);
    const deadline = timeoutMs > 0 ? performance.now() + timeoutMs : Infinity;
    for (;;) {
      const phase = Atomics.load(header, RSlot.CB_STATE);
      if (phase !== CallbackPhase.REQUEST && phase !== CallbackPhase.CLAIMED) break;
      const left = deadline - performance.now();
      if (left <= 0 && phase === CallbackPhase.REQUEST) {
        // Withdraw; once CLAIMED the node runs a synchronous handler and answers soon.
        if (Atomics.compareExchange(header, RSlot.CB_STATE, CallbackPhase.REQUEST, CallbackPhase.OPEN) === CallbackPhase.REQUEST) {
          this.unclaimed(seq, flags);
          throw new TimeoutError(command, timeoutMs);
        }
        continue;
      }
      Atomics.wait(header, RSlot.CB_STATE, phase, left === Infinity || left <= 0 ? 50 : Math.min(left, 50));
    }
    try {
      return { value: readAnswer(this.area, this.sidePort, seq, header[RSlot.CB_FLAGS]!, header[RSlot.CB_LENGTH]!, command, 'the node', this.maxDecoded) };
    } finally {
      // Reopen for the next call-back unless the node has shut the slot meanwhile.
      Atomics.compareExchange(header, RSlot.CB_STATE, CallbackPhase.RESPONSE, CallbackPhase.OPEN);
    }
  }
}
