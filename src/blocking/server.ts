/**
 * The serving side of a mailbox, in either direction: the node serving an agent's
 * blocking calls (`main.blocking.x()`, the forward mailbox of `mailbox.ts`), and an agent
 * serving the node's (`agent.blocking.x()`, the reverse mailbox of `reverse-mailbox.ts`).
 * Woken by `Atomics.waitAsync` (never blocking its thread), it runs the same handler an
 * async call would run — sync or async — and writes the answer. After answering it spins
 * for the caller's next request while spinning pays (a burst then costs no thread
 * wake-up per call); it yields to its event loop at least every {@link TURN_BUDGET_MS}
 * so timers and I/O keep going.
 */
import type { MessagePort } from 'node:worker_threads';
import { ProtocolError, TooManyCallsError } from '../errors.ts';
import { isPromiseLike } from '../promise-like.ts';
import { MAX_REQUEST_ID, isRequestId } from '../wire.ts';
import { Flag, Phase, Slot, phaseOf, seqOf, stateWord } from './mailbox.ts';
import { RequestInbox, readRequest, writeAnswer, type BodyArea } from './mailbox-body.ts';
import { FenceWait } from './fence-wait.ts';
import { SpinEnd, SpinPolicy, confinedToOneCpu, lastSpin, spinUntil } from './spin-budget.ts';
import { decodeBudget } from '../decoded-size.ts';

/**
 * A mailbox as its server sees it. Both mailboxes share the header slots STATE to
 * CALLER_PARKED ({@link Slot}) and the phase machine of `mailbox.ts`; they differ in
 * their byte area and in how a parked caller is woken.
 */
export interface ServedMailbox {
  /** The int32 header; slots as {@link Slot}. */
  readonly header: Int32Array;
  /** Where requests and answers are written. */
  readonly area: BodyArea;
  /** Called after the answer's RESPONSE store: wakes the caller if it sleeps; true if it did. */
  wakeCaller(): boolean;
  /** Who makes the requests ('the agent', 'the node'), for error messages. */
  readonly callerName: string;
}

/** Longest stretch a server serves one caller's burst before letting its event loop run. */
export const TURN_BUDGET_MS = 1;

/**
 * The node's spin, after an answer, for the agent's next request, when the agent was
 * spinning for that answer (it is on a core: in a burst its next request comes in µs).
 */
const REQUEST_SPIN = { initialNs: 20_000, maxNs: 300_000, probeNs: 20_000, missesBeforeBackOff: 3 };
/**
 * The same when the agent was parked and had to be woken: the request comes only after
 * a thread wake-up (~10–50 µs with a free core). Spinning for it is what lets a node and
 * an agent that both park find their way back to spinning once cores are free (the
 * agent never spins for a node that is not watching), so it has its own back-off: any
 * miss backs off, and an agent still parked when the spin ends is the evidence that it
 * had no core. Capped at 60 µs: a wake-up slower than that means a busy machine, where
 * a thread that spins also loses the scheduler's preference for threads that sleep.
 */
const REQUEST_SPIN_AFTER_WAKE = { initialNs: 60_000, maxNs: 60_000, probeNs: 60_000, missesBeforeBackOff: 1 };

/**
 * The servers on this thread that are serving (not closed). The node's thread is shared
 * by all its agents' mailboxes: while it spins for one agent's next request, it stops
 * as soon as another mailbox has a request waiting, and does not spin at all then. (An
 * agent's thread has one server, for the node's calls.)
 */
const servers = new Set<MailboxServer>();

function anotherRequestPending(self: MailboxServer): boolean {
  // One agent (the common case, and every agent's own thread): no iterator per call.
  if (servers.size === 1) return false;
  for (const server of servers) if (server !== self && server.requestPending()) return true;
  return false;
}

/**
 * How a served call ended, as its server reports it once the answer is written: `'ok'`,
 * `'error'` (the handler threw or rejected, or its answer was replaced by the error the
 * caller got instead: too large, not encodable), or `'closed'` (the answer was dropped
 * because the mailbox had closed: the caller is gone or going).
 */
export type ServedOutcome = 'ok' | 'error' | 'closed';

/**
 * A blocking call's lifecycle, told by the server that serves it: `begin` as its handler
 * is about to run, `end` once its answer is written (or dropped), with the outcome the
 * caller sees, so an answer the server replaces (too large, not encodable) ends as the
 * error it became. The token `begin` returns belongs to that one call (calls of one
 * caller may overlap: a handler still running after its caller gave up on it); the
 * server hands it to `dispatch` and to `end`, and keeps it nowhere else.
 */
export interface ServedCallHooks {
  /** A call of `command` is about to be dispatched: its token. */
  begin(command: string): unknown;
  /** Runs the handler of `command` (throws or returns a value or a promise); `token` is what `begin` returned. */
  dispatch(command: string, payload: unknown, token: unknown): unknown;
  /**
   * The call's answer was written (`error`: what the caller got, if not `'ok'`), or
   * dropped: because the caller gave up on it (a timeout), in which case the handler's
   * own outcome is reported, or because the mailbox closed (`'closed'`). Called once.
   */
  end(token: unknown, outcome: ServedOutcome, error: unknown): void;
}

/**
 * The token of an answer no handler ran for (an unreadable or malformed request, a fence
 * that failed): such a request was never begun, so its end is not reported either.
 */
const NOT_BEGUN: unique symbol = Symbol('not begun');

/**
 * The hooks a server is given: `dispatch`, and `begin` and `end` where someone observes
 * the calls (the node; an agent serving the node's calls has nobody to tell).
 */
export type ServedCallOptions = Pick<ServedCallHooks, 'dispatch'> &
  Partial<Pick<ServedCallHooks, 'begin' | 'end'>> & {
    /**
     * Most handlers running at once (default: no limit). Blocking calls overlap only when
     * a caller gave up on one (a timeout) while its async handler runs on; a caller doing
     * that again and again would start handlers without end, so beyond this many a
     * request is answered `TooManyCallsError` without running, as async calls beyond
     * `maxInFlight` are.
     */
    maxRunning?: number;
  };

/**
 * The cap of {@link ServedCallOptions.maxRunning}, shared by both servers: counts the
 * async handlers running, and says when a new call must be refused.
 */
export class RunningHandlers {
  private running = 0;

  constructor(private readonly limit = Infinity) {}

  /** The error to answer a new call with instead of running it, or `undefined` to run it. */
  refusal(): TooManyCallsError | undefined {
    return this.running >= this.limit ? new TooManyCallsError('incoming', this.limit) : undefined;
  }

  /**
   * An async handler started; returns the callback to call once it settled. Once only,
   * whatever calls it: a handler may return any thenable, and one that calls both of its
   * callbacks (or one twice) must not count a call off twice.
   */
  started(): () => void {
    this.running++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.running--;
    };
  }
}

/** The hooks of a server given none: kept in fields, so a call tests nothing for them. */
export const noBegin = (): undefined => undefined;
export const noEnd = (): void => undefined;

/** What the server needs from the side it serves for. */
export interface MailboxServerOptions extends ServedCallOptions {
  /**
   * The ordering fence: a promise that settles once the agent's async request `fence`
   * has been started, or `undefined` if it already has (see IpcConnection.whenIncomingStarted).
   * A wait of `owner` (the server) replaces its earlier one, which never settles: a
   * server keeps at most one wait, however many far fences a hostile caller writes.
   */
  asyncCallsStarted(fence: number, owner: object): Promise<void> | undefined;
  /** Largest answer body the caller accepts. */
  maxMessageBytes: number;
}

/** Serves the blocking calls of one mailbox. */
export class MailboxServer {
  private readonly header: Int32Array;
  private readonly area: BodyArea;
  private readonly policy = new SpinPolicy(REQUEST_SPIN);
  private readonly policyAfterWake = new SpinPolicy(REQUEST_SPIN_AFTER_WAKE);
  /** The policy of the last spin that missed (recorded when the request comes). */
  private missPolicy: SpinPolicy = this.policy;
  /**
   * A spin for the next request that missed: its budget, when the answer before it was
   * written, and whether it had evidence of a thread without a core. It is recorded in
   * the policy when the request comes, with the delay it actually had.
   */
  private missBudgetNs = 0;
  private missAnsweredAt = 0;
  private missStalled = false;
  /** Whether the caller was parked (so had to be woken) when the last answer was written. */
  private callerWasParked = false;
  /** The spin's give-up test, one function for all calls. */
  private readonly othersWaiting = (): boolean => anotherRequestPending(this);
  private closed = false;
  /** The state word a pending `Atomics.waitAsync` waits on, if any. */
  private parkedOn: number | undefined;
  /**
   * The request waiting for its ordering fence (its async calls not all started yet), by
   * seq: one at most, forgotten when its caller gives up (see fence-wait.ts).
   */
  private readonly fenceWait: FenceWait<number>;
  /** Reads request bodies off the side port, and drops those of requests withdrawn unclaimed. */
  private readonly inbox: RequestInbox;
  /** Blocking calls served so far (for metrics). */
  served = 0;
  /** The call lifecycle's hooks (no-ops where nobody observes: an agent serving the node). */
  private readonly begin: (command: string) => unknown;
  private readonly end: (token: unknown, outcome: ServedOutcome, error: unknown) => void;
  /** Handlers still running (see {@link ServedCallOptions.maxRunning}). */
  private readonly running: RunningHandlers;

  constructor(
    private readonly mailbox: ServedMailbox,
    private readonly sidePort: MessagePort,
    private readonly options: MailboxServerOptions,
  ) {
    this.header = mailbox.header;
    this.area = mailbox.area;
    this.inbox = new RequestInbox(sidePort, decodeBudget(options.maxMessageBytes));
    this.running = new RunningHandlers(options.maxRunning);
    this.begin = options.begin ?? noBegin;
    this.end = options.end ?? noEnd;
    this.fenceWait = new FenceWait<number>(
      (fence, owner) => options.asyncCallsStarted(fence, owner),
      this,
      (seq, command, payload) => {
        if (this.run(seq, command, payload)) this.poll();
      },
      (seq, error) => this.answer(seq, error, true, NOT_BEGUN),
    );
  }

  /** Starts serving. */
  start(): void {
    servers.add(this);
    this.poll();
  }

  /** Closes the mailbox: a parked caller wakes with an error, later calls fail at once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    servers.delete(this);
    this.fenceWait.forget();
    Atomics.store(this.header, Slot.STATE, stateWord(0, Phase.CLOSED));
    Atomics.notify(this.header, Slot.STATE);
  }

  private readonly poll = (): void => {
    if (this.closed) return;
    const { header } = this;
    // SERVER_PARKED = 0 tells the caller that this mailbox is watched right now, so a
    // request is seen within µs: only then is spinning for the answer worth it.
    Atomics.store(header, Slot.SERVER_PARKED, 0);
    const turnEnd = performance.now() + TURN_BUDGET_MS;
    for (;;) {
      const word = Atomics.load(header, Slot.STATE);
      const phase = phaseOf(word);
      if (phase === Phase.CLOSED) return;
      if (phase !== Phase.REQUEST) {
        // The caller withdrew request `seq` unclaimed and has published nothing since: the
        // body it may have left on the side port is dropped now, not at a next request
        // that may never come (see "Withdrawn bodies on the side port" in mailbox.ts).
        if (phase === Phase.IDLE) this.inbox.dropWithdrawn(seqOf(word));
        // A request waiting for its fence that its caller gave up on (SERVING → ABANDONED,
        // which wakes this server) is dropped: never begun, as one withdrawn unclaimed.
        const waiting = this.fenceWait.key;
        if (waiting !== undefined && word !== stateWord(waiting, Phase.SERVING)) this.fenceWait.forget();
        if (this.park(word)) return;
        continue; // the state moved while parking: look again
      }
      if (this.missBudgetNs > 0) {
        this.missPolicy.missed(this.missBudgetNs, (performance.now() - this.missAnsweredAt) * 1e6, this.missStalled);
        this.missBudgetNs = 0;
      }
      if (!this.serve(word)) {
        // An async handler is running. Keep watching: if the agent gives up on this
        // call (timeout) it may send the next request before the handler is done.
        const now = Atomics.load(header, Slot.STATE);
        if (this.park(now)) return;
        continue;
      }
      // Answered synchronously: one clock read serves the turn budget and the spin.
      const answeredAt = performance.now();
      if (answeredAt > turnEnd) {
        // The event loop's turn: not watching until it is back (the agent should not spin meanwhile).
        Atomics.store(header, Slot.SERVER_PARKED, 1);
        setImmediate(this.poll);
        return;
      }
      // Spin for the agent's next request only if spinning has paid lately (each policy
      // knows, for an agent that was spinning or one that had to be woken), and never
      // while another agent's request waits for this thread.
      const woken = this.callerWasParked;
      // A woken caller whose next request is already here took this thread's core when
      // it was woken (or never fell asleep): nothing to spin for, and nothing to learn.
      // Counted as catches, such requests kept the back-off from holding beside a
      // CPU-bound neighbour (bursts there 1.01× → 1.12× synckit without them; the A/B is
      // in docs/blocking-calls.md, "When the agent and the node spin").
      if (woken && this.requestPending()) continue;
      const policy = woken ? this.policyAfterWake : this.policy;
      // Confined to one CPU, the caller can only run once this thread stops: if waking it
      // handed it the core (the usual case), its next request is already here and the
      // loop's next look serves it; if not, spinning would only delay it.
      const budgetNs = anotherRequestPending(this) || confinedToOneCpu(answeredAt) ? 0 : policy.nextBudget();
      if (budgetNs === 0) continue; // parks (or serves a request that just came)
      // A caller that was not woken (it spun for this answer) is on a core: its next
      // request in the first checks is taken untimed.
      const end = spinUntil(this.requestPending, this.othersWaiting, answeredAt, budgetNs, performance, !woken);
      if (end === SpinEnd.CAUGHT) {
        policy.caught((lastSpin.endedAt - answeredAt) * 1e6);
      } else if (end === SpinEnd.PREEMPTED && this.requestPending()) {
        policy.missed(budgetNs, (lastSpin.endedAt - answeredAt) * 1e6, true);
      } else if (end !== SpinEnd.GAVE_UP) {
        this.missPolicy = policy;
        this.missBudgetNs = budgetNs;
        this.missAnsweredAt = answeredAt;
        // Evidence of a machine without a free core is this thread losing its own core
        // while it spun. A woken agent still parked when the spin ended is not: a thread
        // wake-up on these VMs takes 5 to 65 µs, free cores or not, and counting it as
        // evidence kept both sides parked on a quiet machine (a burst cost ~18 µs a call;
        // with this, ~3-4 µs, the same on one core).
        this.missStalled = end === SpinEnd.PREEMPTED;
      }
    }
  };

  /**
   * Serves the request waiting now, if any, on a thread that cannot run its event loop
   * before it answers (the node parked in `agent.blocking.x()` on this very agent, whose
   * own blocking call into the node went out just before): `dispatchNow` answers
   * synchronously or throws (it refuses a handler's promise); the call is begun and ended
   * with the server's hooks, as any other. True if it answered one. A request whose
   * earlier async calls have not been started yet is left for later.
   */
  serveNow(dispatchNow: ServedCallHooks['dispatch']): boolean {
    if (this.closed) return false;
    const word = Atomics.load(this.header, Slot.STATE);
    if (phaseOf(word) !== Phase.REQUEST) return false;
    const fence = this.header[Slot.FENCE]!;
    // A fence that is no request id is answered (ProtocolError) by serve, not waited for.
    if (isRequestId(fence)) {
      const started = this.options.asyncCallsStarted(fence, this);
      if (started !== undefined) {
        // Left for later (a later look, or the event loop). The wait is this server's one
        // (it replaces any other: a request is here, so the caller gave up on the one that
        // waited), its outcome handled: a rejection at close must not go unhandled.
        this.fenceWait.forget();
        this.fenceWait.watch(started);
        return false;
      }
    }
    this.serve(word, dispatchNow);
    return true;
  }

  /**
   * Whether a request waits for its ordering fence (for tests).
   *
   * @internal
   */
  get waitingForFence(): boolean {
    return this.fenceWait.key !== undefined;
  }

  /**
   * Whether a request of the caller is being served asynchronously (a handler's promise,
   * or the wait for earlier async calls): the caller is blocked until this thread's event
   * loop finishes it.
   */
  get serving(): boolean {
    const phase = phaseOf(Atomics.load(this.header, Slot.STATE));
    return !this.closed && (phase === Phase.SERVING || phase === Phase.CLAIMED);
  }

  /** Whether the agent has a request waiting (read by every server on this thread). */
  readonly requestPending = (): boolean => phaseOf(Atomics.load(this.header, Slot.STATE)) === Phase.REQUEST;

  /**
   * Sleeps on the event loop (never the thread) until the state word leaves `word`.
   * Returns false if it already has: the caller looks again instead. The PARKED flag is
   * raised before the last look at the state, so the agent either sees the flag and
   * notifies, or we see its new state (see "Waking" in mailbox.ts). At most one wait is
   * pending per word: polls that an answer triggers do not stack up waiters.
   */
  private park(word: number): boolean {
    Atomics.store(this.header, Slot.SERVER_PARKED, 1);
    if (Atomics.load(this.header, Slot.STATE) !== word) {
      Atomics.store(this.header, Slot.SERVER_PARKED, 0);
      return false;
    }
    if (this.parkedOn === word) return true;
    const result = Atomics.waitAsync(this.header, Slot.STATE, word);
    if (!result.async) {
      Atomics.store(this.header, Slot.SERVER_PARKED, 0);
      return false;
    }
    this.parkedOn = word;
    void result.value.then(() => {
      if (this.parkedOn === word) this.parkedOn = undefined;
      this.poll();
    });
    return true;
  }

  /** Serves the request in `word`. True if answered synchronously. `dispatchNow`: see {@link serveNow}. */
  private serve(word: number, dispatchNow?: ServedCallHooks['dispatch']): boolean {
    const seq = seqOf(word);
    const { header } = this;
    // A request here means its caller gave up on the one waiting for its fence, if any.
    if (this.fenceWait.key !== undefined) this.fenceWait.forget();
    const flags = header[Slot.FLAGS]!;
    const fence = header[Slot.FENCE]!;
    // A body on the side port is claimed before it is read (reading takes it off the port),
    // and so is a request marked STALE_BEFORE: the stale bodies before it are dropped under
    // the claim, when no live body can be on the port (see mailbox.ts). The same one test
    // of FLAGS as for a body on the port alone: the hot path pays nothing for the mark.
    const onPort = (flags & (Flag.VIA_PORT | Flag.STALE_BEFORE)) !== 0;
    if (onPort && Atomics.compareExchange(header, Slot.STATE, word, stateWord(seq, Phase.CLAIMED)) !== word) return true;
    let request: unknown;
    let unreadable: ProtocolError | undefined;
    try {
      request = readRequest(this.area, this.inbox, seq, flags, header[Slot.LENGTH]!);
    } catch (error) {
      unreadable = new ProtocolError(`unreadable blocking request from ${this.mailbox.callerName}`, { cause: error });
    }
    // A body in the area is read first and claimed after, in one CAS straight to SERVING:
    // the caller writes the area only once it has moved STATE off this request (a timeout
    // withdraws it: REQUEST → IDLE), so if STATE still holds `word` the bytes read were
    // the request's, whole; if not, what was read is dropped and the next look serves
    // whatever came instead. One fenced store per call fewer than claiming first
    // (CLAIMED, then SERVING), each of which pulls the state's cache line away from a
    // spinning caller: see docs/blocking-calls.md, "Per-call CPU, and what was tried".
    const serving = stateWord(seq, Phase.SERVING);
    if (onPort) Atomics.store(header, Slot.STATE, serving);
    else if (Atomics.compareExchange(header, Slot.STATE, word, serving) !== word) return true;
    if (unreadable) {
      this.answer(seq, unreadable, true, NOT_BEGUN);
      return true;
    }
    if (!Array.isArray(request) || request.length !== 2 || typeof request[0] !== 'string') {
      this.answer(seq, new ProtocolError(`malformed blocking request from ${this.mailbox.callerName}`), true, NOT_BEGUN);
      return true;
    }
    // The caller wrote the fence (the id of its last async request): one AND and a compare.
    if (!isRequestId(fence)) {
      this.answer(seq, badFence(this.mailbox.callerName, fence), true, NOT_BEGUN);
      return true;
    }
    const [command, payload] = request as [string, unknown];
    // The fence was checked by serveNow.
    if (dispatchNow) return this.run(seq, command, payload, dispatchNow);
    const started = this.options.asyncCallsStarted(fence, this);
    if (started) {
      // Async calls sent before this one are still in the port: start them first. The
      // request waits in fenceWait, and this wait replaces any earlier one.
      this.fenceWait.hold(seq, fence, command, payload, started);
      return false;
    }
    return this.run(seq, command, payload);
  }

  /**
   * Begins the call, runs its handler (through `dispatch`) and answers it; true if it
   * answered synchronously. The call's token lives here and in the closures of an async
   * answer, nowhere else: calls may overlap (a handler still running after its caller
   * gave up, beside the caller's next call).
   */
  private run(seq: number, command: string, payload: unknown, dispatch = this.options.dispatch): boolean {
    const refused = this.running.refusal();
    if (refused) {
      this.answer(seq, refused, true, NOT_BEGUN);
      return true;
    }
    const token = this.begin(command);
    let result: unknown;
    try {
      result = dispatch(command, payload, token);
    } catch (error) {
      this.answer(seq, error, true, token);
      return true;
    }
    if (isPromiseLike(result)) {
      const settled = this.running.started();
      result.then(
        (value) => {
          settled();
          this.answer(seq, value, false, token);
          this.poll();
        },
        (error: unknown) => {
          settled();
          this.answer(seq, error, true, token);
          this.poll();
        },
      );
      return false;
    }
    this.answer(seq, result, false, token);
    return true;
  }

  /**
   * Writes the answer unless the caller gave up on `seq` (then it is dropped), and ends
   * the call begun with `token` with the outcome the caller sees: an answer that
   * `writeAnswer` replaced ends as the error it became.
   */
  private answer(seq: number, value: unknown, isError: boolean, token: unknown): void {
    const { header } = this;
    const serving = stateWord(seq, Phase.SERVING);
    if (Atomics.compareExchange(header, Slot.STATE, serving, stateWord(seq, Phase.WRITING)) !== serving) {
      if (token !== NOT_BEGUN) this.dropped(token, value, isError);
      return;
    }
    this.served++;
    const { end, flags, replaced } = writeAnswer(this.area, this.sidePort, seq, value, isError, this.options.maxMessageBytes);
    // Plain writes: the STATE store below publishes them (see "Memory order" in mailbox.ts).
    header[Slot.LENGTH] = end;
    header[Slot.FLAGS] = flags;
    Atomics.store(header, Slot.STATE, stateWord(seq, Phase.RESPONSE));
    this.callerWasParked = this.mailbox.wakeCaller();
    // After the caller has its answer: the hook's clock read and histogram record are not in its wait.
    if (token === NOT_BEGUN) return;
    if (replaced !== undefined) this.end(token, 'error', replaced);
    else if (isError) this.end(token, 'error', value);
    else this.end(token, 'ok', undefined);
  }

  /** The answer of a begun call reaches nobody: the caller gave up on it (the handler's outcome stands) or the mailbox closed. */
  private dropped(token: unknown, value: unknown, isError: boolean): void {
    this.end(token, this.closed ? 'closed' : isError ? 'error' : 'ok', isError ? value : undefined);
  }
}

/**
 * The answer to a blocking request whose ordering fence is no request id (only a hostile
 * or broken caller writes one): compared modulo the id space it would stand for some
 * other request, and wait for it. Shared by the mailbox and process servers.
 */
export function badFence(callerName: string, fence: number): ProtocolError {
  return new ProtocolError(`blocking request from ${callerName} with ordering fence ${fence}: not a request id (an integer from 0 to ${MAX_REQUEST_ID})`);
}
