/**
 * The agent's side of the mailbox: a blocking call writes the request, parks the
 * agent's thread in `Atomics.wait` (after a short adaptive spin) and returns the
 * answer as a plain value. See `mailbox.ts` for the layout and the phase machine.
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { ByteArea, decode, encodeToNewBuffer } from '../codec.ts';
import { deserializeError, type WireError } from '../error-codec.ts';
import { DataCloneError, MessageTooLargeError, ProtocolError, TimeoutError } from '../errors.ts';
import { Flag, HEADER_BYTES, MailboxArea, Phase, SEQ_MASK, Slot, phaseOf, seqOf, stateWord, type SideMessage } from './mailbox.ts';
import { SpinEnd, SpinPolicy, spinUntil } from './spin-budget.ts';

/**
 * The agent's spin for an answer while the node watches the mailbox: in a burst the
 * answer comes in a few µs when the node has a core; 200 µs covers a quick handler.
 * See spin-budget.ts for how it learns.
 */
const ANSWER_SPIN = { initialNs: 20_000, maxNs: 200_000, probeNs: 20_000, missesBeforeBackOff: 3 };


/** What the caller needs from the agent runtime around it. */
export interface BlockingCallerOptions {
  /** Default timeout in ms (`0` = none). */
  timeoutMs: number;
  /** Largest request body the agent may send, and answer it accepts. */
  maxMessageBytes: number;
  /**
   * Sends the agent's queued async frames now and returns the id of the last async
   * request sent: the node serves this blocking call only after it has started that one.
   */
  beforeBlock(): number;
  /** The error to throw once the mailbox is closed (agent closing, node gone). */
  closedError(): Error;
  /** Names the node in error stacks. */
  peerName: string;
}

/** Makes blocking calls from an agent thread to the node. */
export class BlockingCaller {
  private readonly header: Int32Array;
  private readonly area: MailboxArea;
  private readonly policy = new SpinPolicy(ANSWER_SPIN);
  private seq = 0;

  /** The spin's exit tests, one function each for all calls (no closure per call). */
  private readonly answered = (): boolean => {
    const phase = phaseOf(Atomics.load(this.header, Slot.STATE));
    return phase === Phase.RESPONSE || phase === Phase.CLOSED;
  };
  private readonly nodeNotWatching = (): boolean => Atomics.load(this.header, Slot.NODE_PARKED) === 1;

  constructor(
    memory: SharedArrayBuffer,
    private readonly sidePort: MessagePort,
    private readonly options: BlockingCallerOptions,
  ) {
    this.header = new Int32Array(memory, 0, HEADER_BYTES / 4);
    this.area = new MailboxArea(memory);
  }

  /**
   * Calls `command` on the node with `payload` (an args array, or the bytes of a
   * byte-layer call) and waits for the answer.
   */
  call(command: string, payload: unknown, timeoutMs = this.options.timeoutMs): unknown {
    const { header } = this;
    const fence = this.options.beforeBlock();
    const current = Atomics.load(header, Slot.STATE);
    if (phaseOf(current) === Phase.CLOSED) throw this.options.closedError();

    this.seq = (this.seq + 1) & SEQ_MASK;
    const seq = this.seq;
    const request: unknown[] = [command, payload];
    let end: number;
    try {
      end = this.area.encode(request, this.options.maxMessageBytes);
    } catch (error) {
      throw error instanceof DataCloneError ? new DataCloneError(`an argument of blocking call '${command}'`, { cause: error.cause }) : error;
    }
    if (end > this.options.maxMessageBytes) {
      throw new MessageTooLargeError(`blocking call '${command}' request`, end, this.options.maxMessageBytes);
    }
    let flags = 0;
    if (end < 0) {
      const body = encodeToNewBuffer(request);
      if (body.length > this.options.maxMessageBytes) {
        throw new MessageTooLargeError(`blocking call '${command}' request`, body.length, this.options.maxMessageBytes);
      }
      this.sidePort.postMessage({ seq, body } satisfies SideMessage, [body.buffer as ArrayBuffer]);
      flags = Flag.VIA_PORT;
      end = 0;
    }
    // Plain writes: the CAS on STATE below publishes them (see "Memory order" in mailbox.ts).
    header[Slot.LENGTH] = end;
    header[Slot.FLAGS] = flags;
    header[Slot.FENCE] = fence;
    // Publish with a CAS: if the node closed the mailbox meanwhile, the call must not start.
    if (Atomics.compareExchange(header, Slot.STATE, current, stateWord(seq, Phase.REQUEST)) !== current) {
      throw this.options.closedError();
    }
    if (Atomics.load(header, Slot.NODE_PARKED) === 1) Atomics.notify(header, Slot.STATE);

    if (!this.awaitAnswer(seq, command, timeoutMs)) throw new TimeoutError(command, timeoutMs);
    return this.readAnswer(seq, command);
  }

  /**
   * Waits until the answer to `seq` is there; false if the call was given up (timeout).
   * Spins first only if the node is watching this mailbox and the policy says spinning
   * has paid lately. A node that must first be woken on its event loop takes longer than
   * a spin worth doing, and on a busy machine the spinner would hold the core the node
   * needs to wake up (measured: spinning then cost ~2.5× the CPU per call and was slower
   * under load). See "Spinning" in mailbox.ts.
   */
  private awaitAnswer(seq: number, command: string, timeoutMs: number): boolean {
    const { header, policy } = this;
    // Asked on every call, so that a back-off counts calls, not only those the node watched.
    const planned = policy.nextBudget();
    const budgetNs = Atomics.load(header, Slot.NODE_PARKED) === 0 ? planned : 0;
    const sent = performance.now();
    let end: number = SpinEnd.TIMED_OUT;
    if (budgetNs > 0) end = spinUntil(this.answered, this.nodeNotWatching, sent, budgetNs);
    if (end === SpinEnd.CAUGHT) {
      policy.caught((performance.now() - sent) * 1e6);
    } else if (end === SpinEnd.PREEMPTED && this.answered()) {
      // Came, but only because this thread lost its core to the node: a miss all the same.
      policy.missed(budgetNs, (performance.now() - sent) * 1e6, true);
    } else {
      // No progress while we spun: the node never claimed the request, so it had no
      // core (or was busy elsewhere) — spinning cannot pay now.
      const stalled = end === SpinEnd.PREEMPTED || (end === SpinEnd.TIMED_OUT && phaseOf(Atomics.load(header, Slot.STATE)) === Phase.REQUEST);
      if (!this.park(seq, sent, timeoutMs)) return false;
      if (budgetNs > 0) policy.missed(budgetNs, (performance.now() - sent) * 1e6, stalled);
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
      const left = deadline - performance.now();
      if (left <= 0) {
        if (this.abandon(seq)) return false;
        continue;
      }
      Atomics.store(header, Slot.AGENT_PARKED, 1);
      Atomics.wait(header, Slot.STATE, word, left === Infinity ? undefined : left);
      Atomics.store(header, Slot.AGENT_PARKED, 0);
    }
  }

  /**
   * Gives up on call `seq` after its timeout. True if it was withdrawn; false if the
   * answer is already being written (then it is taken instead: it is microseconds away).
   */
  private abandon(seq: number): boolean {
    const { header } = this;
    const requested = stateWord(seq, Phase.REQUEST);
    if (Atomics.compareExchange(header, Slot.STATE, requested, stateWord(seq, Phase.IDLE)) === requested) return true;
    const serving = stateWord(seq, Phase.SERVING);
    if (Atomics.compareExchange(header, Slot.STATE, serving, stateWord(seq, Phase.ABANDONED)) === serving) return true;
    // CLAIMED or WRITING: the node holds the byte area for a moment; wait for the next phase.
    Atomics.wait(header, Slot.STATE, Atomics.load(header, Slot.STATE), 1);
    return false;
  }

  private readAnswer(seq: number, command: string): unknown {
    const { header } = this;
    // Plain reads: written before the answer's STATE store, which this thread has seen.
    const flags = header[Slot.FLAGS]!;
    let value: unknown;
    if (flags & Flag.VIA_PORT) {
      const body = this.takeSideMessage(seq, command);
      value = decode(new ByteArea(body.buffer, body.byteOffset, body.byteLength), 0, body.byteLength, true);
    } else {
      value = decode(this.area.current(), 0, header[Slot.LENGTH]!);
    }
    if (flags & Flag.ERROR) throw deserializeError(value as WireError, this.options.peerName);
    return value;
  }

  private takeSideMessage(seq: number, command: string): Uint8Array {
    for (;;) {
      const received = receiveMessageOnPort(this.sidePort);
      if (!received) throw new ProtocolError(`blocking call '${command}': answer body missing from the side port`);
      const message = received.message as SideMessage;
      if (message.seq === seq) return message.body;
      // A body left behind by an abandoned call: skip it.
    }
  }
}
