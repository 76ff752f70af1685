/**
 * The node's side of the reverse mailbox (layout and wake-up rules in
 * `reverse-mailbox.ts`): `agent.blocking.x()` writes the request, parks the node's own
 * thread and returns the agent's (awaited) answer. This is the one place where the
 * library parks the node's thread, and only because the node's code asked for it.
 *
 * Design, and why the node is never parked forever:
 *
 * - The node spins for the answer only if the agent was awake when the request went out
 *   (spinning for it after its last answer, in a burst) and spinning has been paying;
 *   otherwise it sleeps at once, which is what a machine with one free core needs (a
 *   spinner there holds the core the thread it waits for needs).
 * - It sleeps on the DOORBELL word in bounded slices of {@link SLICE_MS}. Between slices
 *   it checks the deadline (the call's `timeoutMs`), whether the agent's thread has ended
 *   (the LIFE word, which the agent's 'exit' hook sets and rings; and the worker's handle,
 *   for a thread stopped without running JavaScript, e.g. at its heap limit), and
 *   whether the mailbox was closed. So a timeout, an exit, a crash or a close wakes it
 *   with a typed error within a slice at worst, and at once when the agent rang.
 * - While parked it serves the agent: frames the agent posted on the connection's port
 *   are read with `receiveMessageOnPort` and handled at once (async calls, log records,
 *   start-up reports), and blocking call-backs arrive in the call-back slot. A handler
 *   that answers synchronously is served; one that returns a promise cannot be (the
 *   promise needs the event loop this thread is parked in), so that call fails at once
 *   with `DeadlockError` instead of waiting for a timeout.
 * - A timed-out call is withdrawn with the forward mailbox's CAS rules: a late answer is
 *   dropped by sequence number, so the next call always reads its own answer. A call
 *   the agent is writing the answer of when its deadline passes times out too (writing
 *   runs the agent's code: a getter in the value may never return); the next call waits
 *   for the agent to let go of the byte area, within its own deadline. The body such an
 *   answer may have posted on the side port is read off and dropped then (or on the
 *   event loop, if no call comes), before any later request goes out: a stale body never
 *   waits there for a later call to skip, so none can be taken for another call's answer
 *   and at most one is held. The mirror case, a request withdrawn before the agent
 *   claimed it whose body went on the side port, is the agent's to drop (it holds that
 *   end): the next request is marked STALE_BEFORE for it ({@link NodeCaller.staleBefore},
 *   "Withdrawn bodies on the side port" in mailbox.ts).
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { ByteArea } from './value-codec.ts';
import { ProtocolError, TimeoutError } from '../errors.ts';
import type { AgentCallObserver } from '../observability/agent-observer.ts';
import { AnswerSpin } from './answer-spin.ts';
import { Flag, Phase, SEQ_MASK, phaseOf, seqOf, staleAfterWithdrawal, stateWord, withdrawCall } from './mailbox.ts';
import { FixedArea, MAX_STALE_SIDE_BODIES, RequestInbox, readAnswer, readRequest, writeAnswer, writeRequest } from './mailbox-body.ts';
import { cannotRebuild } from '../cannot-rebuild.ts';
import { CALLBACK_AREA_OFFSET, CALL_AREA_OFFSET, CallbackPhase, Life, REVERSE_AREA_BYTES, RSlot, reverseHeader } from './reverse-mailbox.ts';
import type { ServedCallHooks } from './server.ts';
import { decodeBudget } from '../decoded-size.ts';

/** The token of a call whose request has not reached the agent (yet): not reported. */
const NOT_SENT: unique symbol = Symbol('not sent');

/** {@link NodeCaller}'s `givenUp` when no call was given up while the agent held the byte area. */
const NONE = -1;

/** Longest sleep between two checks of the deadline and of the agent's liveness. */
export const SLICE_MS = 50;

/**
 * The slice until the agent's bootstrap has set LIFE: a thread that dies in Node.js's own
 * start-up (at a tiny heap limit) runs for a few tens of ms, and is known to have stopped
 * only if a look saw it run (see `thread-liveness.ts`). Start-up is short, so the extra
 * wake-ups are few (~20–50 for a start of 40–100 ms).
 */
const START_SLICE_MS = 2;

/**
 * Batches read from the agent's port per look while parked: an agent that posts without
 * pause cannot keep the wait from its deadline (its batches are read 256 at a time,
 * with the deadline, the call-backs and the answer looked at in between).
 */
const DRAIN_BATCHES_PER_LOOK = 256;

/**
 * What the caller needs from the agent host around it. The hooks (`begin`, `dispatch`,
 * `end`: see `ServedCallHooks`) serve the agent's blocking call-backs while the node is
 * parked.
 */
export interface NodeCallerOptions extends Omit<ServedCallHooks, 'dispatch'> {
  /**
   * Runs the node's handler of a call-back: returns its value or throws. It must not
   * return a promise, which could not settle while this thread is parked: the agent
   * host's dispatch refuses one with `DeadlockError` (as it does for an async call served
   * while parked), so the caller does not check again.
   */
  dispatch(command: string, payload: unknown, token: unknown): unknown;
  /**
   * Sees the node's own calls: each is reported once its request was handed to the
   * agent, and settled once it returns or throws. A call that fails before that (too
   * large, not encodable, a deadlock, the agent gone) is refused at its call site and not
   * reported, like an async call refused there.
   */
  observer: Pick<AgentCallObserver, 'nodeBlockingStarted' | 'nodeBlockingSettled' | 'nodeBlockingFailed'>;
  /** Largest request body the node may send, and answer it accepts. */
  maxMessageBytes: number;
  /** Names the agent in error stacks. */
  peerName: string;
  /**
   * Sends the node's queued async frames; returns the id of the last async request sent,
   * or throws (`DeadlockError`) if it cannot leave before this call returns
   * (`IpcConnection.blockingFence`).
   */
  beforeBlock(command: string): number;
  /**
   * Delivers what the agent posted on the connection's port (at most `limit` batches;
   * default all), and sends the answers. True if it stopped at the limit with more waiting.
   */
  drain(limit?: number): boolean;
  /** The error for a call into an agent that has exited (`code` null if unknown). */
  exitedError(code: number | null): Error;
  /** The error once the mailbox is closed. */
  closedError(): Error;
  /** The error for a blocking call made while another one into this agent is parked. */
  nestedError(command: string): Error;
  /**
   * True once the agent's thread has stopped (asked between slices; may be always false).
   * `started`: its LIFE word says it ran; before that, only a thread the probe saw running
   * counts (see `thread-liveness.ts`).
   */
  threadStopped(started: boolean): boolean;
  /**
   * Serves, synchronously, a blocking call the agent made into the node through its
   * forward mailbox before the node parked (the call-back slot was shut then); true if
   * it served one.
   */
  serveForward(): boolean;
  /** The error for a blocking call into an agent that is itself blocked on a handler of the node that has not answered yet, or `undefined`. */
  blockedOnNode(command: string): Error | undefined;
}

/** True in the phases where the agent holds the byte area (CLAIMED, WRITING): the node may not write a request there. */
function holdsArea(word: number): boolean {
  const phase = phaseOf(word);
  return phase === Phase.CLAIMED || phase === Phase.WRITING;
}

/** Makes blocking calls from the node's thread into one thread agent. */
export class NodeCaller {
  private readonly header: Int32Array;
  private readonly area: FixedArea;
  private readonly callbackArea: FixedArea;
  private readonly spin: AnswerSpin;
  private seq = 0;
  /** A call or start-up wait is parked on this agent (there can be only one). */
  private active = false;
  /** The POSTED count when the port was last read while parked. */
  private drainedAt = -1;
  /**
   * The probe found the agent's thread gone (stopped without running JavaScript, so its
   * LIFE word never said so): later calls fail at once, until the event loop reports the
   * exit and the agent host closes this mailbox.
   */
  private threadGone = false;
  /**
   * The observer's token of the call in progress once its request was handed to the
   * agent; {@link NOT_SENT} before (a refused call is not reported). A field, not a
   * return value, so that the call is settled after the call-back slot is shut, as
   * before, with nothing allocated.
   */
  private token: unknown = NOT_SENT;
  /**
   * The seq of the last call that timed out while the agent held the byte area (CLAIMED
   * or WRITING), or {@link NONE}. Such a call could not be withdrawn: the agent goes on
   * and may post its answer's body on the side port, where nobody will read it. Until
   * that is settled ({@link settleGivenUp}) the next call may not start, and a body it
   * left is read off the port and dropped, at the next call or, without one, on the event
   * loop ({@link watchGivenUp}). So a stale body never waits on the port for a later
   * call (whose `seq` it could match once seqs wrap), and at most one is ever held.
   */
  private givenUp = NONE;
  /** The timer that looks, on the event loop, whether the call given up has been settled. */
  private givenUpTimer: NodeJS.Timeout | undefined;
  /**
   * Flag.STALE_BEFORE while requests withdrawn before the agent claimed them may have left
   * bodies on the side port (the mirror of {@link givenUp}, for requests: see "Withdrawn
   * bodies on the side port" in mailbox.ts): the next request carries it, and the agent
   * drops them under its claim. 0 otherwise; the one field a call tests for this.
   */
  private staleBefore = 0;
  /** Reads the agent's call-backs off the call-back port, dropping those it withdrew unclaimed. */
  private readonly callbackInbox: RequestInbox;
  /** CB_WITHDRAWN when the call-back port was last swept (see {@link sweepWithdrawnCallbacks}). */
  private callbacksSweptAt = 0;
  /** The heap a v8 body may decode to (`decodeBudget` of `maxMessageBytes`), worked out once. */
  private readonly maxDecoded: number;

  private readonly answered = (): boolean => {
    const phase = phaseOf(Atomics.load(this.header, RSlot.STATE));
    return phase === Phase.RESPONSE || phase === Phase.CLOSED;
  };

  /** The agent no longer holds the byte area for a call the node gave up on (see {@link callEntered}). */
  private readonly areaReleased = (): boolean => !holdsArea(Atomics.load(this.header, RSlot.STATE));

  /** The spin's exit test: answered, or a call-back to serve (which the spin cannot). */
  private readonly answeredOrCalledBack = (): boolean => this.answered() || Atomics.load(this.header, RSlot.CB_STATE) === CallbackPhase.REQUEST;

  constructor(
    memory: SharedArrayBuffer,
    private readonly sidePort: MessagePort,
    private readonly callbackPort: MessagePort,
    private readonly options: NodeCallerOptions,
  ) {
    this.header = reverseHeader(memory);
    this.area = new FixedArea(new ByteArea(memory, CALL_AREA_OFFSET, REVERSE_AREA_BYTES));
    this.callbackArea = new FixedArea(new ByteArea(memory, CALLBACK_AREA_OFFSET, REVERSE_AREA_BYTES));
    this.spin = new AnswerSpin(this.header);
    this.maxDecoded = decodeBudget(options.maxMessageBytes);
    this.callbackInbox = new RequestInbox(callbackPort, this.maxDecoded);
  }

  /** Whether the node's thread is parked on this agent now (for the deadlock checks). */
  get parked(): boolean {
    return this.active;
  }

  /** Closes the mailbox: later calls fail at once, a parked one wakes with the closed error. */
  close(): void {
    clearTimeout(this.givenUpTimer);
    Atomics.store(this.header, RSlot.STATE, stateWord(0, Phase.CLOSED));
    Atomics.notify(this.header, RSlot.STATE);
    Atomics.add(this.header, RSlot.DOORBELL, 1);
    Atomics.notify(this.header, RSlot.DOORBELL);
  }

  /**
   * Calls the agent's `command` with `payload` (an args array, or the bytes of a
   * byte-layer call) and returns its answer, parking this thread until then.
   */
  call(command: string, payload: unknown, timeoutMs: number): unknown {
    if (this.active) throw this.options.nestedError(command);
    // The agent waits in a blocking call of its own for an answer only this thread's event loop can give.
    const blocked = this.options.blockedOnNode(command);
    if (blocked) throw blocked;
    const { header } = this;
    const fence = this.options.beforeBlock(command);
    const current = Atomics.load(header, RSlot.STATE);
    if (phaseOf(current) === Phase.CLOSED) throw this.options.closedError();
    // The LIFE word, or a stop the probe saw; a thread stopped silently since is found by the probe after one slice.
    if (Atomics.load(header, RSlot.LIFE) === Life.EXITED || this.threadGone) this.throwIfExited();
    // Blocked from before the request is out: the agent's method may call back at once.
    this.enter();
    this.token = NOT_SENT;
    let answer: unknown;
    try {
      answer = this.callEntered(command, payload, timeoutMs, fence, current);
    } catch (error) {
      this.leave();
      this.settled(true, error);
      throw error;
    }
    this.leave();
    this.settled(false, undefined);
    return answer;
  }

  /** Reports the end of the call in progress (answered, or `failed` with `error`), if it had reached the agent. */
  private settled(failed: boolean, error: unknown): void {
    const token = this.token;
    if (token === NOT_SENT) return;
    this.token = NOT_SENT;
    if (!failed) this.options.observer.nodeBlockingSettled(token, 'ok', undefined);
    else this.options.observer.nodeBlockingFailed(token, error);
  }

  private callEntered(command: string, payload: unknown, timeoutMs: number, fence: number, current: number): unknown {
    const { header } = this;
    // A call before this one timed out while the agent held the byte area (below): the
    // request cannot be written until the agent lets go of it, so this call waits for
    // that within its own deadline, and is not sent if it passes.
    if (this.givenUp !== NONE || holdsArea(current)) current = this.settleGivenUp(command, timeoutMs);
    this.seq = (this.seq + 1) & SEQ_MASK;
    const seq = this.seq;
    const { end, flags: written } = writeRequest(this.area, this.sidePort, seq, command, payload, this.options.maxMessageBytes);
    const flags = this.staleBefore === 0 ? written : this.markStale(written);
    header[RSlot.LENGTH] = end;
    header[RSlot.FLAGS] = flags;
    header[RSlot.FENCE] = fence;
    if (Atomics.compareExchange(header, RSlot.STATE, current, stateWord(seq, Phase.REQUEST)) !== current) throw this.options.closedError();
    // The request is the agent's now: the call counts, and is traced, from here.
    this.token = this.options.observer.nodeBlockingStarted(command);
    // An agent waiting on its event loop is woken; one that is awake (spinning for this
    // request, or running) is worth spinning for (see answer-spin.ts).
    if (Atomics.load(header, RSlot.SERVER_PARKED) === 1) Atomics.notify(header, RSlot.STATE);
    const { spin } = this;
    const caught = spin.spin(this.answeredOrCalledBack);
    // A call-back may have ended the spin: the wait below serves it.
    if (!caught || !this.answered()) {
      const deadline = timeoutMs > 0 ? spin.sentAt + timeoutMs : Infinity;
      if (!this.park(this.answered, deadline)) {
        // The deadline passed. The call is withdrawn if the agent has not claimed it or
        // is still serving it. If it holds the byte area (reading a body from the side
        // port, or writing its answer), the call times out all the same: writing an
        // answer runs the agent's code (a getter, a proxy's trap in the value), which
        // may take as long as it likes, or never end. The next call then waits for the
        // area (above); the late answer is dropped by its sequence number. A request
        // withdrawn before the agent claimed it may leave its body on the side port: the
        // next request is marked for the agent to drop it.
        if (!withdrawCall(header, seq)) {
          this.givenUp = seq;
          this.watchGivenUp();
        } else this.staleBefore = staleAfterWithdrawal(header, seq, flags);
        throw new TimeoutError(command, timeoutMs);
      }
      if (!caught) spin.parked();
    }
    const word = Atomics.load(header, RSlot.STATE);
    if (phaseOf(word) === Phase.CLOSED) throw this.options.closedError();
    if (seqOf(word) !== seq) throw new ProtocolError(`blocking call '${command}' got the answer of another call`);
    // Plain reads: written before the answer's STATE store, which this thread has seen.
    return readAnswer(this.area, this.sidePort, seq, header[RSlot.FLAGS]!, header[RSlot.LENGTH]!, command, this.options.peerName, this.maxDecoded);
  }

  /** `flags` with STALE_BEFORE, which this request now carries (if it is withdrawn unclaimed too, the next one does). */
  private markStale(flags: number): number {
    this.staleBefore = 0;
    return flags | Flag.STALE_BEFORE;
  }

  /**
   * Waits (within the call's own timeout) until the agent has let go of the byte area for
   * the call given up, makes sure it will not answer that call, and drops the body it may
   * have left on the side port; the STATE word then. Throws `TimeoutError` if the agent
   * still holds the area at the deadline (the call is not sent), or the closed error.
   */
  private settleGivenUp(command: string, timeoutMs: number): number {
    const deadline = timeoutMs > 0 ? performance.now() + timeoutMs : Infinity;
    for (;;) {
      const current = Atomics.load(this.header, RSlot.STATE);
      if (phaseOf(current) === Phase.CLOSED) throw this.options.closedError();
      if (holdsArea(current)) {
        if (!this.park(this.areaReleased, deadline)) throw new TimeoutError(command, timeoutMs);
        continue;
      }
      if (this.tryDropGivenUp(current)) return Atomics.load(this.header, RSlot.STATE);
    }
  }

  /**
   * Settles the call given up if the agent no longer holds the byte area (STATE is
   * `current`): true once done. A call given up while the agent read its request's body
   * (CLAIMED) is being served now: it is withdrawn (SERVING → ABANDONED), so its answer
   * is dropped unwritten rather than posted later. Then every body on the side port is
   * stale: answers are posted before the STATE store that publishes them, and no call is
   * waiting for one (a call reads its own answer before it returns).
   */
  private tryDropGivenUp(current: number): boolean {
    if (holdsArea(current)) return false;
    // False if the agent just claimed it for writing: look again.
    if (this.givenUp !== NONE && current === stateWord(this.givenUp, Phase.SERVING) && !withdrawCall(this.header, this.givenUp)) return false;
    for (let dropped = 0; dropped < MAX_STALE_SIDE_BODIES && receiveMessageOnPort(this.sidePort) !== undefined; dropped++);
    this.givenUp = NONE;
    clearTimeout(this.givenUpTimer);
    this.givenUpTimer = undefined;
    return true;
  }

  /**
   * Without a next call, the body of the call given up would be held until one: look on
   * the event loop, every {@link SLICE_MS}, until the agent has let go of the byte area
   * (unref'd: it keeps no process alive; stopped by a call that settles it, or a close).
   */
  private watchGivenUp(): void {
    if (this.givenUpTimer) return;
    const look = (): void => {
      this.givenUpTimer = undefined;
      // (A timer never fires during a call: calls are synchronous.) A closed mailbox has nothing more to read.
      if (this.givenUp === NONE) return;
      const current = Atomics.load(this.header, RSlot.STATE);
      if (phaseOf(current) === Phase.CLOSED || this.tryDropGivenUp(current)) return;
      this.givenUpTimer = setTimeout(look, SLICE_MS).unref();
    };
    this.givenUpTimer = setTimeout(look, SLICE_MS).unref();
  }

  /**
   * Whether a call given up while the agent held the byte area is not settled yet (its
   * answer's body may still come, or wait on the side port to be dropped).
   *
   * @internal For tests.
   */
  get givenUpPending(): boolean {
    return this.givenUp !== NONE;
  }

  /**
   * Parks until `done()` (checked after every wake-up), serving the agent meanwhile.
   * False if `deadline` (a `performance.now()` time) passed first; throws if the agent
   * exited or the mailbox closed. For a wait that is not a call (start-up).
   */
  parkUntil(done: () => boolean, deadline: number): boolean {
    if (this.active) throw this.options.nestedError('(start-up)');
    this.enter();
    try {
      return this.park(done, deadline);
    } finally {
      this.leave();
    }
  }

  /** The node's thread is blocked on this agent from now: call-backs come through the call-back slot. */
  private enter(): void {
    this.active = true;
    Atomics.store(this.header, RSlot.NODE_BLOCKED, 1);
    // Still SHUT: a call-back withdrawn after the last wait's sweep is dropped now.
    this.sweepWithdrawnCallbacks();
    Atomics.compareExchange(this.header, RSlot.CB_STATE, CallbackPhase.SHUT, CallbackPhase.OPEN);
  }

  /** The node's thread goes back to its event loop: shut the call-back slot (serving a last one). */
  private leave(): void {
    Atomics.store(this.header, RSlot.CALLER_PARKED, 0);
    this.shutCallbacks();
    this.sweepWithdrawnCallbacks();
    Atomics.store(this.header, RSlot.NODE_BLOCKED, 0);
    this.active = false;
  }

  /**
   * Drops the bodies of call-backs the agent withdrew unclaimed, up to the one CB_WITHDRAWN
   * names, if it moved since the last sweep (one load otherwise). A later call-back's body,
   * posted before a CAS still to come, is kept for its claim (`RequestInbox.dropWithdrawn`).
   * Called as the node enters and leaves each wait, so such a body does not outlive the
   * node's next blocking call into this agent.
   */
  private sweepWithdrawnCallbacks(): void {
    const withdrawn = Atomics.load(this.header, RSlot.CB_WITHDRAWN);
    if (withdrawn === this.callbacksSweptAt) return;
    this.callbacksSweptAt = withdrawn;
    this.callbackInbox.dropWithdrawn(withdrawn);
  }

  private park(done: () => boolean, deadline: number): boolean {
    const { header } = this;
    let sliceExpired = false;
    try {
      for (;;) {
        Atomics.store(header, RSlot.CALLER_PARKED, 1);
        // Read the bell before looking: news published after this read changes it (see reverse-mailbox.ts).
        const bell = Atomics.load(header, RSlot.DOORBELL);
        if (done()) return true;
        // Read the port only if the agent posted since it was last read (a drain costs ~0.5 µs).
        const posted = Atomics.load(header, RSlot.POSTED);
        let more = false;
        if (posted !== this.drainedAt) {
          this.drainedAt = posted;
          more = this.options.drain(DRAIN_BATCHES_PER_LOOK);
          // Batches left on the port: read on at the next look, without sleeping first.
          if (more) this.drainedAt = -1;
        }
        if (Atomics.load(header, RSlot.CB_STATE) === CallbackPhase.REQUEST) {
          this.serveCallback();
          continue;
        }
        // A blocking call the agent sent through its forward mailbox before this thread
        // parked (the call-back slot was shut then): the agent is parked in it, and it is
        // served here or not at all. (One published after this look rings DOORBELL: see
        // caller.ts.)
        if (this.options.serveForward()) continue;
        if (done()) return true;
        if (phaseOf(Atomics.load(header, RSlot.STATE)) === Phase.CLOSED) throw this.options.closedError();
        // The LIFE word each time; the thread probe (which takes a lock) after a silent slice.
        if ((Atomics.load(header, RSlot.LIFE) === Life.EXITED || sliceExpired) && this.throwIfExited(done)) return true;
        // No deadline (the default): no clock read, ~70 ns on these VMs, per wake-up.
        let sliceMs = Atomics.load(header, RSlot.LIFE) === Life.NOT_STARTED ? START_SLICE_MS : SLICE_MS;
        if (deadline !== Infinity) {
          const now = performance.now();
          if (now >= deadline) return false;
          sliceMs = Math.min(deadline - now, sliceMs);
        }
        if (more) continue;
        sliceExpired = Atomics.wait(header, RSlot.DOORBELL, bell, sliceMs) === 'timed-out';
      }
    } finally {
      Atomics.store(header, RSlot.CALLER_PARKED, 0);
    }
  }

  /**
   * Throws the exit error if the agent's thread has ended, unless the frames it posted
   * before ending (read now: posted after this wait's last look at the port) complete
   * the wait — true then. What the agent reported before exiting (a factory's failure,
   * the exit one turn later) wins over the exit.
   */
  private throwIfExited(done: () => boolean = () => false): boolean {
    const life = Atomics.load(this.header, RSlot.LIFE);
    if (life === Life.EXITED) {
      this.options.drain(); // its last frames may say why (a crash)
      if (done()) return true;
      throw this.options.exitedError(Atomics.load(this.header, RSlot.EXIT_CODE));
    }
    if (this.threadGone || this.options.threadStopped(life === Life.RUNNING)) {
      this.threadGone = true;
      this.options.drain();
      if (done()) return true;
      throw this.options.exitedError(null);
    }
    return false;
  }

  /** Shuts the call-back slot as the node leaves its wait, serving a call-back that just came. */
  private shutCallbacks(): void {
    const { header } = this;
    for (;;) {
      const phase = Atomics.load(header, RSlot.CB_STATE);
      if (phase === CallbackPhase.REQUEST) {
        this.serveCallback();
        continue;
      }
      if (Atomics.compareExchange(header, RSlot.CB_STATE, phase, CallbackPhase.SHUT) === phase) return;
    }
  }

  /**
   * Serves the agent's blocking call-back in the call-back slot (never throws): begun
   * once its request is read, ended once its answer is written, with the outcome the
   * agent sees (an answer too large or not encodable ends as that error).
   */
  private serveCallback(): void {
    const { header, options } = this;
    if (Atomics.compareExchange(header, RSlot.CB_STATE, CallbackPhase.REQUEST, CallbackPhase.CLAIMED) !== CallbackPhase.REQUEST) return;
    const seq = header[RSlot.CB_SEQ]!;
    let value: unknown;
    let isError = false;
    let begun = false;
    let token: unknown;
    try {
      const request = this.readCallback(seq);
      if (!Array.isArray(request) || request.length !== 2 || typeof request[0] !== 'string') throw new ProtocolError('malformed blocking call-back');
      const [command, payload] = request as [string, unknown];
      token = options.begin(command);
      begun = true;
      value = options.dispatch(command, payload, token);
    } catch (error) {
      value = error;
      isError = true;
    }
    const replaced = this.answerCallback(seq, value, isError);
    // An unreadable or malformed request was never begun: not reported.
    if (!begun) return;
    if (replaced !== undefined) options.end(token, 'error', replaced);
    else if (isError) options.end(token, 'error', value);
    else options.end(token, 'ok', undefined);
  }

  private readCallback(seq: number): unknown {
    const { header } = this;
    try {
      return readRequest(this.callbackArea, this.callbackInbox, seq, header[RSlot.CB_FLAGS]!, header[RSlot.CB_LENGTH]!, 'blocking call-back body');
    } catch (error) {
      throw cannotRebuild('a blocking call-back', error);
    }
  }

  /** Writes the call-back's answer; the error the agent gets instead, if it could not be sent as given. */
  private answerCallback(seq: number, value: unknown, isError: boolean): Error | undefined {
    const { header } = this;
    const { end, flags, replaced } = writeAnswer(this.callbackArea, this.callbackPort, seq, value, isError, this.options.maxMessageBytes);
    header[RSlot.CB_LENGTH] = end;
    header[RSlot.CB_FLAGS] = flags;
    Atomics.store(header, RSlot.CB_STATE, CallbackPhase.RESPONSE);
    Atomics.notify(header, RSlot.CB_STATE);
    return replaced;
  }
}
