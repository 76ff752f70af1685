/**
 * What the node observes of one agent's calls, built on the call observer seam
 * ({@link ConnectionObserver}) and the blocking servers' equivalent hooks: the counters
 * behind `agent.stats`, the latency histograms behind `agent.metrics()`, and the
 * `agent-ipc:call` tracing channel.
 *
 * Cost when nobody traces: a few counter increments and one histogram record per call,
 * no object allocated, and few clock reads (see {@link turnNow}). The tracing context
 * is built only while the channel has subscribers (`hasSubscribers` is read once per
 * call start).
 */
import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';
import type { CallOutcome, ConnectionObserver } from './call-observer.ts';
import { callChannel, type CallDirection, type CallKind, type CallTraceContext } from './channels.ts';

/*
 * The clock of one event-loop turn (up to its microtask checkpoint): read once, then
 * reused. A clock read costs as much as the rest of the observer together (measured:
 * ~0.7 µs per async call with two reads, most of it the reads), and the node's calls
 * into an agent leave in batches and are answered in batches, so within one turn they
 * all start, or all settle, at the same moment anyway. Used for the start of every call
 * (its receipt, for an async call the node serves: the latency includes the wait behind
 * the calls before it in the batch) and the settle of the node's calls; a call the node
 * serves settles on a fresh read, since its handler's time is what is measured, and a
 * blocking call also starts on one. Resolution: one turn of the node's event loop.
 */
let turnClock = -1;
const endOfTurn = (): void => {
  turnClock = -1;
};
function turnNow(): number {
  if (turnClock < 0) {
    turnClock = performance.now();
    queueMicrotask(endOfTurn);
  }
  return turnClock;
}

/** Counters and latency of one direction and kind of call. */
export class CallCounters {
  /** Calls started. */
  started = 0;
  /** Calls settled, by outcome. */
  ok = 0;
  errors = 0;
  timeouts = 0;
  aborted = 0;
  closed = 0;
  /** Sum of start-to-settle latencies, in ms. */
  totalMs = 0;
  /** Start-to-settle latency in nanoseconds. */
  readonly latency: RecordableHistogram = createHistogram();
  constructor(
    readonly direction: CallDirection,
    readonly kind: CallKind,
  ) {}

  /** Calls started and not settled yet. */
  get inFlight(): number {
    return this.started - this.ok - this.errors - this.timeouts - this.aborted - this.closed;
  }

  settled(outcome: CallOutcome, ms: number): void {
    switch (outcome) {
      case 'ok':
        this.ok++;
        break;
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
    this.totalMs += ms;
    // The histogram takes integers >= 1: nanoseconds, at least 1.
    const ns = Math.round(ms * 1e6);
    this.latency.record(ns >= 1 ? ns : 1);
  }
}

/** A call's tracing context, with what the observer needs besides the public fields. */
class TracedCall implements CallTraceContext {
  outcome?: CallOutcome;
  durationMs?: number;
  error?: unknown;
  /** Whether `end` was published already (the synchronous part returned a promise). */
  pending = false;
  constructor(
    readonly agent: string,
    readonly direction: CallDirection,
    readonly kind: CallKind,
    readonly method: string,
    readonly callId: number,
    readonly parentCallId: number | undefined,
    readonly startedAt: number,
  ) {}
}

/**
 * The request an agent sends, while the node traces, to say which node call it is
 * serving when it makes the calls that follow (see {@link AgentCallObserver.servingParent}).
 * A request, not a NOTIFY, so that the ordering fence of a blocking call (the id of the
 * last request the agent sent) covers it too.
 * @internal
 */
export const SERVING_COMMAND = 'agent-ipc:serving';

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
  private blockingIds = 0;
  private nodeBlockingIds = 0;
  /** Whether the agent was told to announce the node call it serves. */
  private announcing = false;

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

  /** Whether anyone traces calls; tells the agent when that changed. */
  traced(): boolean {
    const on = callChannel.hasSubscribers;
    if (on !== this.announcing) {
      this.announcing = on;
      if (!on) this.servingParent = undefined;
      this.announce(on);
    }
    return on;
  }

  outgoingStarted(id: number, command: string): unknown {
    this.nodeToAgent.started++;
    const now = turnNow();
    if (!this.traced()) return now;
    const call = new TracedCall(this.agent, 'node-to-agent', 'async', command, id, undefined, now);
    call.pending = true;
    callChannel.start.publish(call);
    // The call's synchronous part (queueing its request) is over: it goes on later.
    callChannel.end.publish(call);
    return call;
  }

  outgoingSettled(token: unknown, outcome: CallOutcome, error: unknown): void {
    this.settled(this.nodeToAgent, token, outcome, error, turnNow());
  }

  incomingStarted(id: number, command: string): unknown {
    if (command === SERVING_COMMAND) return undefined;
    return this.started(this.agentToNode, 'async', id, command, turnNow());
  }

  incomingPending(token: unknown): void {
    this.pending(token);
  }

  incomingSettled(token: unknown, outcome: CallOutcome, error: unknown): void {
    if (token !== undefined) this.settled(this.agentToNode, token, outcome, error, performance.now());
  }

  /** A blocking call of the agent is about to be served. */
  blockingStarted(command: string): unknown {
    this.blockingIds = this.blockingIds >= Number.MAX_SAFE_INTEGER ? 1 : this.blockingIds + 1;
    // A fresh read: the blocking server may answer many calls in one turn (while it
    // spins, or an inline agent's loop), so the turn's clock could be far behind.
    return this.started(this.blocking, 'blocking', this.blockingIds, command, performance.now());
  }

  /** Its handler returned a promise. */
  blockingPending(token: unknown): void {
    this.pending(token);
  }

  /** It was answered (or not: `'closed'`). */
  blockingSettled(token: unknown, outcome: CallOutcome, error: unknown): void {
    this.settled(this.blocking, token, outcome, error, performance.now());
  }

  /**
   * The node's thread is about to park in a blocking call into the agent. Its own
   * sequence of ids; no parent (the node's calls have none).
   */
  nodeBlockingStarted(command: string): unknown {
    this.nodeBlockingIds = this.nodeBlockingIds >= Number.MAX_SAFE_INTEGER ? 1 : this.nodeBlockingIds + 1;
    // A fresh read: the parked thread's event-loop turn does not end while it waits.
    const now = performance.now();
    this.nodeBlocking.started++;
    if (!this.traced()) return now;
    const call = new TracedCall(this.agent, 'node-to-agent', 'blocking', command, this.nodeBlockingIds, undefined, now);
    callChannel.start.publish(call);
    return call;
  }

  /** The node's blocking call returned or threw (synchronously: `end` follows at once). */
  nodeBlockingSettled(token: unknown, outcome: CallOutcome, error: unknown): void {
    this.settled(this.nodeBlocking, token, outcome, error, performance.now());
  }

  private started(counters: CallCounters, kind: CallKind, id: number, command: string, now: number): unknown {
    counters.started++;
    if (!this.traced()) return now;
    const call = new TracedCall(this.agent, 'agent-to-node', kind, command, id, this.servingParent, now);
    callChannel.start.publish(call);
    return call;
  }

  private pending(token: unknown): void {
    if (!(token instanceof TracedCall)) return;
    token.pending = true;
    callChannel.end.publish(token);
  }

  private settled(counters: CallCounters, token: unknown, outcome: CallOutcome, error: unknown, now: number): void {
    if (typeof token === 'number') {
      counters.settled(outcome, now - token);
      return;
    }
    const call = token as TracedCall;
    const ms = now - call.startedAt;
    counters.settled(outcome, ms);
    call.outcome = outcome;
    call.durationMs = ms;
    if (outcome !== 'ok') {
      call.error = error;
      callChannel.error.publish(call);
    }
    if (call.pending) {
      callChannel.asyncStart.publish(call);
      callChannel.asyncEnd.publish(call);
    } else {
      callChannel.end.publish(call);
    }
  }
}
