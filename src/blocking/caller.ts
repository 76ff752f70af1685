/**
 * The agent's side of the mailbox: a blocking call writes the request, parks the
 * agent's thread in `Atomics.wait` (after a short adaptive spin) and returns the
 * answer as a plain value. See `mailbox.ts` for the layout and the phase machine.
 */
import type { MessagePort } from 'node:worker_threads';
import { ProtocolError, TimeoutError } from '../errors.ts';
import { AnswerSpin } from './answer-spin.ts';
import { Flag, HEADER_BYTES, MailboxArea, Phase, SEQ_MASK, Slot, phaseOf, seqOf, staleAfterWithdrawal, stateWord, withdrawCall } from './mailbox.ts';
import { readAnswer, writeRequest } from './mailbox-body.ts';
import { decodeBudget } from '../decoded-size.ts';
import { RSlot, ringDoorbell } from './reverse-mailbox.ts';

/** What the caller needs from the agent runtime around it. */
export interface BlockingCallerOptions {
  /** Default timeout in ms (`0` = none). */
  timeoutMs: number;
  /** Largest request body the agent may send, and answer it accepts. */
  maxMessageBytes: number;
  /**
   * Sends the agent's queued async frames now and returns the id of the last async
   * request sent: the node serves this blocking call only after it has started that one.
   * Throws (`DeadlockError`) if that request cannot leave before this call returns
   * (`IpcConnection.blockingFence`).
   */
  beforeBlock(command: string): number;
  /** The error to throw once the mailbox is closed (agent closing, node gone). */
  closedError(): Error;
  /** Names the node in error stacks. */
  peerName: string;
  /**
   * The header of this agent's reverse mailbox (`reverse-mailbox.ts`): a request published
   * here while the node's thread is parked on the agent rings its DOORBELL (see `call`).
   */
  reverseHeader: Int32Array;
}

/** Makes blocking calls from an agent thread to the node. */
export class BlockingCaller {
  private readonly header: Int32Array;
  private readonly area: MailboxArea;
  private readonly spin: AnswerSpin;
  private seq = 0;
  /**
   * Flag.STALE_BEFORE while requests this caller withdrew before the node claimed them may
   * have left bodies on the side port (see "Withdrawn bodies on the side port" in
   * mailbox.ts): the next request carries it, and the node drops them under its claim.
   * 0 otherwise; the one field a call tests for this.
   */
  private staleBefore = 0;
  /** The heap an answer's v8 body may decode to (`decodeBudget` of `maxMessageBytes`), worked out once. */
  private readonly maxDecoded: number;

  /** The spin's exit test, one function for all calls (no closure per call). */
  private readonly answered = (): boolean => {
    const phase = phaseOf(Atomics.load(this.header, Slot.STATE));
    return phase === Phase.RESPONSE || phase === Phase.CLOSED;
  };

  constructor(
    memory: SharedArrayBuffer,
    private readonly sidePort: MessagePort,
    private readonly options: BlockingCallerOptions,
  ) {
    this.header = new Int32Array(memory, 0, HEADER_BYTES / 4);
    this.area = new MailboxArea(memory);
    this.spin = new AnswerSpin(this.header);
    this.maxDecoded = decodeBudget(options.maxMessageBytes);
  }

  /**
   * Calls `command` on the node with `payload` (an args array, or the bytes of a
   * byte-layer call) and waits for the answer.
   */
  call(command: string, payload: unknown, timeoutMs = this.options.timeoutMs): unknown {
    const { header } = this;
    const fence = this.options.beforeBlock(command);
    const current = Atomics.load(header, Slot.STATE);
    if (phaseOf(current) === Phase.CLOSED) throw this.options.closedError();

    this.seq = (this.seq + 1) & SEQ_MASK;
    const seq = this.seq;
    const { end, flags: written } = writeRequest(this.area, this.sidePort, seq, command, payload, this.options.maxMessageBytes);
    const flags = this.staleBefore === 0 ? written : this.markStale(written);
    // Plain writes: the CAS on STATE below publishes them (see "Memory order" in mailbox.ts).
    header[Slot.LENGTH] = end;
    header[Slot.FLAGS] = flags;
    header[Slot.FENCE] = fence;
    // Publish with a CAS: if the node closed the mailbox meanwhile, the call must not start.
    if (Atomics.compareExchange(header, Slot.STATE, current, stateWord(seq, Phase.REQUEST)) !== current) {
      throw this.options.closedError();
    }
    if (Atomics.load(header, Slot.SERVER_PARKED) === 1) Atomics.notify(header, Slot.STATE);
    // A node parked on this agent (agent.blocking.x()) serves this mailbox from its wait,
    // not from its event loop, and sleeps on the reverse mailbox's DOORBELL, which only news
    // rings. This request is news to it in one window: the agent's thread read NODE_BLOCKED
    // as 0 (before its call: the node was not parked, so not the call-back slot) and then
    //   node:  enter(): NODE_BLOCKED = 1, call-back slot OPEN; request to the agent;
    //          park(): bell = DOORBELL; ... serveForward(): nothing in this mailbox;
    //          Atomics.wait(DOORBELL, bell, 50 ms)
    //   agent: CAS above publishes the request; nobody rings DOORBELL
    // and the node found it only when its 50 ms slice ran out (latency, not a hang). So
    // ring after publishing whenever the node is parked on us. Either the node's look at
    // this mailbox comes after our CAS (it serves the request), or its NODE_BLOCKED = 1
    // came before our load below (seq-cst atomics: one of the two sees the other's write)
    // and we ring, after its bell read or before: its wait does not sleep on the old value.
    // Per call: one load and a compare (NODE_BLOCKED is 0 unless the node is parked).
    const reverse = this.options.reverseHeader;
    if (Atomics.load(reverse, RSlot.NODE_BLOCKED) === 1) ringDoorbell(reverse);

    if (!this.awaitAnswer(seq, command, timeoutMs)) {
      // Withdrawn before the node claimed it: its body (or the ones it was marked for) may stay on the side port.
      this.staleBefore = staleAfterWithdrawal(header, seq, flags);
      throw new TimeoutError(command, timeoutMs);
    }
    // Plain reads: written before the answer's STATE store, which this thread has seen.
    return readAnswer(this.area, this.sidePort, seq, header[Slot.FLAGS]!, header[Slot.LENGTH]!, command, this.options.peerName, this.maxDecoded);
  }

  /** `flags` with STALE_BEFORE, which this request now carries (if it is withdrawn unclaimed too, the next one does). */
  private markStale(flags: number): number {
    this.staleBefore = 0;
    return flags | Flag.STALE_BEFORE;
  }

  /**
   * Waits until the answer to `seq` is there; false if the call was given up (timeout).
   * Spins first if that pays (see answer-spin.ts), then parks.
   */
  private awaitAnswer(seq: number, command: string, timeoutMs: number): boolean {
    const { header, spin } = this;
    if (!spin.spin(this.answered)) {
      if (!this.park(seq, spin.sentAt, timeoutMs)) return false;
      spin.parked();
    }
    const word = Atomics.load(header, Slot.STATE);
    if (phaseOf(word) === Phase.CLOSED) throw this.options.closedError();
    if (seqOf(word) !== seq) throw new ProtocolError(`blocking call '${command}' got the answer of another call`);
    return true;
  }

  /** Sleeps in `Atomics.wait` until the answer (or close) is there; false on timeout. */
  private park(seq: number, sent: number, timeoutMs: number): boolean {
    const { header } = this;
    const deadline = timeoutMs > 0 ? sent + timeoutMs : Infinity;
    for (;;) {
      const word = Atomics.load(header, Slot.STATE);
      const phase = phaseOf(word);
      if (phase === Phase.RESPONSE || phase === Phase.CLOSED) return true;
      // No deadline (the default): no clock read, ~70 ns on these VMs, per wake-up.
      const left = deadline === Infinity ? Infinity : deadline - performance.now();
      if (left <= 0) {
        if (this.abandon(seq)) return false;
        continue;
      }
      Atomics.store(header, Slot.CALLER_PARKED, 1);
      Atomics.wait(header, Slot.STATE, word, left === Infinity ? undefined : left);
      Atomics.store(header, Slot.CALLER_PARKED, 0);
    }
  }

  /** Withdraws call `seq` after its timeout; false if its answer is being written (then it is taken instead: it is microseconds away). */
  private abandon(seq: number): boolean {
    if (withdrawCall(this.header, seq)) return true;
    // CLAIMED or WRITING: the node holds the byte area for a moment; wait for the next phase.
    Atomics.wait(this.header, Slot.STATE, Atomics.load(this.header, Slot.STATE), 1);
    return false;
  }
}
