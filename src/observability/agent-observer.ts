/**
 * What the node observes of one agent's calls, built on the call observer seam
 * ({@link ConnectionObserver}) and the blocking servers' equivalent hooks: the counters
 * behind `agent.stats`, the latency histograms behind `agent.metrics()`, and the
 * `agent-ipc:call` tracing channel.
 *
 * Cost when nobody traces: a counter or two per call, no object allocated, and clock
 * reads and histogram records for the first call of each direction and kind in an
 * event-loop turn and about one in 64 of the others (see {@link turnNow} and
 * {@link CallCounters.sample}). The tracing context is built only while the channel has
 * subscribers (two loads per call start, none for a blocking call in a burst; see
 * tracing-switch.ts); traced calls are all timed.
 */
import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';
import { AgentExitedError, ConnectionClosedError, TimeoutError } from '../errors.ts';
import type { CallOutcome, ConnectionObserver } from './call-observer.ts';
import { callChannel, type CallDirection, type CallKind, type CallTraceContext } from './channels.ts';
import { onTracingChange, recheck as recheckTracing } from './tracing-switch.ts';

/*
 * The event-loop turn (up to its next microtask checkpoint) and its clock. A clock read
 * costs more than everything else the observer does for a call (measured: ~0.06–0.2 µs
 * each on these machines, a `histogram.record` ~0.03–0.1 µs, against ~0.07 µs for a
 * whole blocking call of an inline agent), so reads are shared and spared:
 *
 * - The node's calls into an agent leave in batches and are answered in batches, so
 *   within one turn they all start, or all settle, at the same moment anyway: their start
 *   and settle use the turn's clock, read once (resolution: one turn of the event loop).
 *   The start of every call the node serves (its receipt) uses it too: an async call's
 *   latency includes the wait behind the calls before it in the batch.
 * - A call the node serves settles on a fresh read (its handler's time is what is
 *   measured), and a blocking call also starts on one (a spinning server or an inline
 *   agent's loop answers many in one turn). Those reads are what costs, so not every such
 *   call is timed: see {@link CallCounters.sample}.
 */
let turnClock = -1;
let turn = 0;
let turnEnding = false;
const endOfTurn = (): void => {
  turn++;
  turnEnding = false;
  turnClock = -1;
  recheckTracing();
};
/** The current turn's number (a microtask marks its end). */
function currentTurn(): number {
  if (!turnEnding) {
    turnEnding = true;
    queueMicrotask(endOfTurn);
  }
  return turn;
}
function turnNow(): number {
  if (turnClock < 0) {
    turnClock = performance.now();
    currentTurn();
  }
  return turnClock;
}

/*
 * Whether anyone traces: set when a subscription changes (tracing-switch.ts says how; it
 * is also asked again once per turn, at the turn's end, as a backstop). A change also
 * starts a new turn for the counters, so every agent's next blocking call leaves the
 * burst's fast path ({@link CallCounters.untimedInTurn}) and looks at it.
 */
let tracingOn = false;
onTracingChange((on) => {
  tracingOn = on;
  turn++;
});

/**
 * Of the calls of one direction and kind after the first in a turn, about one in
 * `SAMPLE_EVERY` is timed (at a pseudo-random interval, so a periodic pattern of calls
 * cannot alias with it). 64: the clock pair and histogram record (~0.3 µs) cost a
 * back-to-back blocking call ~5 ns on average, and a burst of 10 000 calls still
 * yields ~150 timings.
 */
const SAMPLE_EVERY = 64;
/** xorshift32 state for the sampling intervals (quality is not needed, only no period). */
let sampleSeed = 0x2545f491;
/** An interval uniform in [1, 2·SAMPLE_EVERY − 1]: mean SAMPLE_EVERY. */
function sampleInterval(): number {
  let x = sampleSeed;
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  sampleSeed = x;
  return 1 + ((x >>> 0) % (2 * SAMPLE_EVERY - 1));
}

/*
 * The token of a call nobody traces is a number, so no object is allocated per call:
 * its start time (ms, >= 0) if it is timed with weight 1, `-start - 1` (<= -1) if it is
 * timed as a sample (weight SAMPLE_EVERY), or UNTIMED (counted, not timed).
 */
const UNTIMED = -0.5;
const sampledToken = (start: number): number => -start - 1;

/**
 * Whether a call's token is its traced context: the only tokens that are objects (the
 * others are numbers, or `undefined` for calls not observed). A `typeof` test, not
 * `instanceof TracedCall`, which is asked on every served call: in a tight loop of a
 * served blocking call's hooks with nobody subscribed (Node.js 20) the hooks took ~34 ns
 * a call with `instanceof`, ~22 ns with this (~14 ns with tracing compiled out).
 */
function isTraced(token: unknown): token is TracedCall {
  return typeof token === 'object' && token !== null;
}

/** {@link AgentCallObserver.run} for a traced call: its handler inside the stores bound to `start`. */
function runTraced<A, B, C, R>(token: TracedCall, fn: (a: A, b: B, c: C) => R, a: A, b: B, c: C): R {
  if (!TracedCall.markStarted(token)) return fn(a, b, c);
  return callChannel.start.runStores(token, fn, undefined, a, b, c);
}

/**
 * Counters and latency of one direction and kind of call.
 *
 * Counts are exact. Latency: every call is timed that is the first of its direction and
 * kind in its event-loop turn, and every traced call; of the others, one in about
 * {@link SAMPLE_EVERY} (see {@link sample}). The histogram holds the timed calls;
 * `totalMs` weighs each sampled one by SAMPLE_EVERY (an unbiased estimate of the sum
 * over all calls, exact while no call was sampled). The node's calls into an agent are
 * all timed for free (the turn's clock) and only their histogram record is sampled, so
 * their `totalMs` is exact.
 */
export class CallCounters {
  /** Calls started. */
  started = 0;
  /** Calls settled, by outcome. */
  ok = 0;
  errors = 0;
  timeouts = 0;
  aborted = 0;
  closed = 0;
  /** Sum of start-to-settle latencies, in ms (estimated, see the class). */
  totalMs = 0;
  /** Start-to-settle latency of the timed calls, in nanoseconds. */
  readonly latency: RecordableHistogram = createHistogram();
  /** The turn of the last call that was timed as the first of its turn. */
  private turn = -1;
  private countdown = 1;
  constructor(
    readonly direction: CallDirection,
    readonly kind: CallKind,
  ) {}

  /** Calls settled. */
  get settledCalls(): number {
    return this.ok + this.errors + this.timeouts + this.aborted + this.closed;
  }

  /** Calls started and not settled yet. */
  get inFlight(): number {
    return this.started - this.settledCalls;
  }

  /**
   * Whether to time the call that starts (or settles) now: its weight, 0 if not. The
   * first call of a turn always (a call alone in its turn costs a turn of the event loop
   * anyway, and nothing is estimated while calls come one at a time); of the calls after
   * it in the same turn, one in about SAMPLE_EVERY.
   */
  sample(): number {
    return this.untimedInTurn() ? 0 : this.sampleAtTurnOrCountdown();
  }

  private sampleAtTurnOrCountdown(): number {
    if (this.turn !== currentTurn()) {
      this.turn = turn;
      return 1;
    }
    this.countdown = sampleInterval();
    return SAMPLE_EVERY;
  }

  /**
   * The usual case of a burst, in a few loads, the rest out of line ("Hot paths" in
   * docs/blocking-calls.md): a call in the turn of the last timed one that is not the
   * sampled one. `turn` is the current turn's number whenever it equals the one recorded
   * here (a turn ends, and tracing changes, by incrementing it). For the blocking hooks it
   * also means untraced: a traced call never records its turn here.
   */
  untimedInTurn(): boolean {
    return this.turn === turn && --this.countdown > 0;
  }

  /** The token of an untraced call that is not {@link untimedInTurn} (the first of its turn, or the sampled one): timed on a fresh clock read. */
  timedStartToken(): number {
    return this.sampleAtTurnOrCountdown() === 1 ? performance.now() : sampledToken(performance.now());
  }

  /** A call settled that was not timed. */
  count(outcome: CallOutcome): void {
    if (outcome === 'ok') this.ok++;
    else this.countFailure(outcome);
  }

  private countFailure(outcome: Exclude<CallOutcome, 'ok'>): void {
    switch (outcome) {
      case 'error':
        this.errors++;
        break;
      case 'timeout':
        this.timeouts++;
        break;
      case 'aborted':
        this.aborted++;
        break;
      case 'closed':
        this.closed++;
        break;
    }
  }

  /** A timed call settled after `ms`; `weight`: 1, or SAMPLE_EVERY for a sampled one. */
  settled(outcome: CallOutcome, ms: number, weight: number): void {
    this.count(outcome);
    this.totalMs += ms * weight;
    this.record(ms);
  }

  /** A call settled after `ms`, timed for free: in the total, in the histogram if sampled. */
  settledTimed(outcome: CallOutcome, ms: number): void {
    this.count(outcome);
    this.totalMs += ms;
    if (this.sample() !== 0) this.record(ms);
  }

  private record(ms: number): void {
    // The histogram takes integers >= 1: nanoseconds, at least 1.
    const ns = Math.round(ms * 1e6);
    this.latency.record(ns >= 1 ? ns : 1);
  }
}

/**
 * A call's tracing context, with what the observer needs besides the public fields. That
 * state is kept in private fields: the context is the subscribers' object (they may keep
 * their own state on it, under any name), so it carries the documented fields as its own
 * properties and nothing else, and what a subscriber sets on it cannot change which
 * events are published. The fields set at settle (`outcome`, `durationMs`, `error`) are
 * declared, not initialised: they exist from the moment they are set, as documented.
 */
class TracedCall implements CallTraceContext {
  declare outcome?: CallOutcome;
  declare durationMs?: number;
  declare error?: unknown;
  /** Whether `end` was published already (the synchronous part returned a promise). */
  #pending = false;
  /** Whether it settled: a served call ended by its agent's exit settles once, not again when its handler answers later. */
  #settled = false;
  /**
   * Whether `start` was published. A call the node serves publishes it when its handler
   * is run ({@link AgentCallObserver.run}: inside the stores bound to `start`), or when
   * it settles if no handler ran (refused).
   */
  #started = false;
  constructor(
    readonly agent: string,
    readonly direction: CallDirection,
    readonly kind: CallKind,
    readonly method: string,
    readonly callId: number,
    readonly parentCallId: number | undefined,
    readonly startedAt: number,
  ) {}

  // Static, so that no name on the object or its prototype can be shadowed by a subscriber's state.

  /** Notes that `start` of `call` is being published: false if it was already. */
  static markStarted(call: TracedCall): boolean {
    if (call.#started) return false;
    call.#started = true;
    return true;
  }

  /** Notes that `call` settles now: false if it already had. */
  static markSettled(call: TracedCall): boolean {
    if (call.#settled) return false;
    call.#settled = true;
    return true;
  }

  /** Notes that `end` of `call` is being published before it settles. */
  static markPending(call: TracedCall): void {
    call.#pending = true;
  }

  /** Whether `end` of `call` was published before it settled (it ends with `asyncStart`, `asyncEnd`). */
  static isPending(call: TracedCall): boolean {
    return call.#pending;
  }
}

/** Publishes `start` of a served call whose handler did not run inside {@link AgentCallObserver.run}. */
function publishStart(call: TracedCall): void {
  if (TracedCall.markStarted(call)) callChannel.start.publish(call);
}

/**
 * How a node → agent blocking call that threw ended, for the observer: the caller's
 * timeout, the agent gone or closing, or an error the agent answered with (or that its
 * answer became on the way back).
 */
function nodeBlockingOutcome(error: unknown): CallOutcome {
  if (error instanceof TimeoutError) return 'timeout';
  if (error instanceof AgentExitedError || error instanceof ConnectionClosedError) return 'closed';
  return 'error';
}

/**
 * The request an agent sends, while the node traces, to say which node call it is
 * serving when it makes the calls that follow (see {@link AgentCallObserver.servingParent}).
 * A request, not a NOTIFY, so that the ordering fence of a blocking call (the id of the
 * last request the agent sent) covers it too.
 * @internal
 */
export const SERVING_COMMAND = 'agent-ipc:serving';

/**
 * The node's liveness probe of an agent (`src/lines/line-agent.ts`): a call of a method
 * no agent serves, which an agent whose event loop turns answers at once with
 * `UnknownMethodError`. It is the library's own look at the agent, not a call of the
 * user's: neither counted in metrics nor traced, so a periodic probe does not show up
 * as a steady trickle of failed calls.
 * @internal
 */
export const LIVENESS_PROBE_COMMAND = 'agent-ipc:lines:probe';

/** Observes one agent's calls for the node. @internal */
export class AgentCallObserver implements ConnectionObserver {
  readonly nodeToAgent = new CallCounters('node-to-agent', 'async');
  readonly agentToNode = new CallCounters('agent-to-node', 'async');
  readonly blocking = new CallCounters('agent-to-node', 'blocking');
  /** The node's blocking calls into the agent (`agent.blocking`, `callBlocking`). */
  readonly nodeBlocking = new CallCounters('node-to-agent', 'blocking');
  /**
   * The node call the agent said it is serving (its last {@link SERVING_COMMAND}); the
   * parent of the calls it makes next. Only kept up to date while the node traces.
   */
  servingParent: number | undefined;
  /** Whether the agent was told to announce the node call it serves. */
  private announcing = false;
  /**
   * The counters the hooks of the calls the node serves write to: {@link agentToNode}
   * and {@link blocking} until the agent is gone, throwaway ones after (see
   * {@link agentGone}). Read by the hooks instead of those, at the same cost: nothing
   * is tested per call for the exit.
   */
  private servedAsync: CallCounters = this.agentToNode;
  private servedBlocking: CallCounters = this.blocking;
  /** The agent exited ({@link agentGone}): nothing more is observed. */
  private gone = false;
  /**
   * The traced calls the node serves that have not settled, so that the agent's exit
   * can end them. Only traced calls enter it (their context is allocated anyway); an
   * untraced call is a count.
   */
  private readonly tracedServing = new Set<TracedCall>();

  constructor(
    private readonly agent: string,
    /** Tells the agent to start or stop announcing the call it serves. */
    private readonly announce: (on: boolean) => void,
  ) {}

  /**
   * The agent's {@link SERVING_COMMAND}: `[callId]` of the node call it serves now, or
   * `[0]` for none. Untrusted: anything else means none.
   */
  noteServing(args: unknown): void {
    const id = Array.isArray(args) ? (args[0] as unknown) : undefined;
    this.servingParent = typeof id === 'number' && Number.isSafeInteger(id) && id > 0 ? id : undefined;
  }

  /**
   * Whether anyone traces calls; tells the agent when that changed. The usual answer —
   * nobody traces, and the agent was not told to announce — in two loads; the rest out
   * of line. (A blocking call in a burst does not even ask: see {@link blockingStarted}.)
   */
  traced(): boolean {
    if (!tracingOn && !this.announcing) return false;
    return this.tracedNow();
  }

  private tracedNow(): boolean {
    // Gone: its connection is closed, and a call still made (an inline agent's code
    // running on after its exit) is neither counted nor traced.
    if (this.gone) return false;
    const on = tracingOn;
    if (on !== this.announcing) {
      this.announcing = on;
      if (!on) this.servingParent = undefined;
      this.announce(on);
    }
    return on;
  }

  outgoingStarted(id: number, command: string): unknown {
    if (command === LIVENESS_PROBE_COMMAND) return undefined;
    this.nodeToAgent.started++;
    const now = turnNow();
    if (!this.traced()) return now;
    const call = new TracedCall(this.agent, 'node-to-agent', 'async', command, id, undefined, now);
    TracedCall.markPending(call);
    TracedCall.markStarted(call);
    callChannel.start.publish(call);
    // The call's synchronous part (queueing its request) is over: it goes on later.
    callChannel.end.publish(call);
    return call;
  }

  outgoingSettled(token: unknown, outcome: CallOutcome, error: unknown): void {
    if (typeof token === 'number') this.nodeToAgent.settledTimed(outcome, turnNow() - token);
    else if (token !== undefined) this.settledTraced(this.nodeToAgent, token as TracedCall, outcome, error, turnNow());
  }

  incomingStarted(id: number, command: string): unknown {
    if (command === SERVING_COMMAND) return undefined;
    const counters = this.servedAsync;
    counters.started++;
    if (this.traced()) return this.trace('async', id, command, turnNow());
    const weight = counters.sample();
    if (weight === 0) return UNTIMED;
    return weight === 1 ? turnNow() : sampledToken(turnNow());
  }

  incomingPending(token: unknown): void {
    this.pending(token);
  }

  incomingSettled(token: unknown, outcome: CallOutcome, error: unknown): void {
    if (token !== undefined) this.settled(this.servedAsync, token, outcome, error);
  }

  /** A blocking call of the agent is about to be served. */
  blockingStarted(command: string): unknown {
    const counters = this.servedBlocking;
    // Its id is the count of the agent's blocking calls (2⁵³ of them will not be made).
    const id = ++counters.started;
    // Neither timed nor traced (a change of tracing starts a new turn): nothing else to ask.
    if (counters.untimedInTurn()) return UNTIMED;
    return this.traced() ? this.blockingTraced(command, id) : counters.timedStartToken();
  }

  private blockingTraced(command: string, id: number): TracedCall {
    // A fresh read: the blocking server may answer many calls in one turn (while it
    // spins, or an inline agent's loop), so the turn's clock could be far behind.
    return this.trace('blocking', id, command, performance.now());
  }

  /** Its handler returned a promise. */
  blockingPending(token: unknown): void {
    this.pending(token);
  }

  /** It was answered (or not: `'closed'`). */
  blockingSettled(token: unknown, outcome: CallOutcome, error: unknown): void {
    this.settled(this.servedBlocking, token, outcome, error);
  }

  /**
   * The node's blocking call into the agent has reached it (its request was handed over:
   * a call refused before that, at its call site, is not reported), and the node's
   * thread is about to wait for the answer. Its own sequence of ids; no parent (the
   * node's calls have none).
   */
  nodeBlockingStarted(command: string): unknown {
    const counters = this.nodeBlocking;
    const id = ++counters.started;
    if (counters.untimedInTurn()) return UNTIMED;
    // A fresh read: the parked thread's event-loop turn does not end while it waits.
    return this.traced() ? this.nodeBlockingTraced(command, id) : counters.timedStartToken();
  }

  private nodeBlockingTraced(command: string, id: number): TracedCall {
    const call = new TracedCall(this.agent, 'node-to-agent', 'blocking', command, id, undefined, performance.now());
    TracedCall.markStarted(call);
    callChannel.start.publish(call);
    return call;
  }

  /** The node's blocking call returned or threw (synchronously: `end` follows at once). */
  nodeBlockingSettled(token: unknown, outcome: CallOutcome, error: unknown): void {
    this.settled(this.nodeBlocking, token, outcome, error);
  }

  /** The node's blocking call threw `error`: settled as its timeout, the agent gone, or an error. */
  nodeBlockingFailed(token: unknown, error: unknown): void {
    this.settled(this.nodeBlocking, token, nodeBlockingOutcome(error), error);
  }

  /**
   * Runs the handler of a call the node serves: `fn(a, b, c)`. When the call is traced,
   * inside `start.runStores` — which publishes `start` with the stores bound to the
   * `agent-ipc:call` start channel (`bindStore`) entered, so they are in effect in the
   * handler and follow it across `await`s, as with Node's `traceSync`/`tracePromise`.
   * Untraced: a plain call (fixed arity, nothing allocated).
   */
  run<A, B, C, R>(token: unknown, fn: (a: A, b: B, c: C) => R, a: A, b: B, c: C): R {
    return isTraced(token) ? runTraced(token, fn, a, b, c) : fn(a, b, c);
  }

  /** The traced context of a call the node serves; `start` is published when its handler runs (see {@link run}). */
  private trace(kind: CallKind, id: number, command: string, now: number): TracedCall {
    const call = new TracedCall(this.agent, 'agent-to-node', kind, command, id, this.servingParent, now);
    this.tracedServing.add(call);
    return call;
  }

  /**
   * The agent is gone: it exited, and its connection, mailbox and blocking socket are
   * closed (the node's own calls into it have settled). The calls it made that the
   * node still serves — a handler that has not answered, or one that goes on after its
   * caller gave up — end now as `'closed'` with `error` (traced ones publish their last
   * events; untraced ones are counted, not timed, since their start was not kept), and
   * whatever their handlers do later reaches nobody and changes nothing: the hooks
   * count into throwaway counters from here. So once the agent's `exit` is published,
   * nothing of it is in flight and its counters are final. Called once, before `exit`
   * is published (the agent host's exit sequence).
   */
  agentGone(error: unknown): void {
    if (this.gone) return;
    this.gone = true;
    const now = performance.now();
    for (const call of [...this.tracedServing]) this.settledTraced(call.kind === 'async' ? this.agentToNode : this.blocking, call, 'closed', error, now);
    for (const counters of [this.agentToNode, this.blocking]) counters.closed += counters.inFlight;
    this.servedAsync = new CallCounters('agent-to-node', 'async');
    this.servedBlocking = new CallCounters('agent-to-node', 'blocking');
  }

  private pending(token: unknown): void {
    if (!isTraced(token)) return;
    publishStart(token);
    TracedCall.markPending(token);
    callChannel.end.publish(token);
  }

  /** A call that started with a fresh or turn clock read (or none) settled: read the clock if it was timed. */
  private settled(counters: CallCounters, token: unknown, outcome: CallOutcome, error: unknown): void {
    // Untimed first, and alone: the usual case of a burst, small enough to be inlined.
    if (token === UNTIMED) counters.count(outcome);
    else this.settledTimed(counters, token, outcome, error);
  }

  private settledTimed(counters: CallCounters, token: unknown, outcome: CallOutcome, error: unknown): void {
    if (typeof token !== 'number') this.settledTraced(counters, token as TracedCall, outcome, error, performance.now());
    else if (token >= 0) counters.settled(outcome, performance.now() - token, 1);
    else counters.settled(outcome, performance.now() + token + 1, SAMPLE_EVERY);
  }

  private settledTraced(counters: CallCounters, call: TracedCall, outcome: CallOutcome, error: unknown, now: number): void {
    // Ended already by the agent's exit: its handler answered since, to nobody.
    if (!TracedCall.markSettled(call)) return;
    if (call.direction === 'agent-to-node') this.tracedServing.delete(call);
    publishStart(call);
    const ms = now - call.startedAt;
    counters.settled(outcome, ms, 1);
    call.outcome = outcome;
    call.durationMs = ms;
    if (outcome !== 'ok') {
      call.error = error;
      callChannel.error.publish(call);
    }
    if (TracedCall.isPending(call)) {
      callChannel.asyncStart.publish(call);
      callChannel.asyncEnd.publish(call);
    } else {
      callChannel.end.publish(call);
    }
  }
}
