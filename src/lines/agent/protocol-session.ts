/**
 * One connection inside a line-protocol agent: the `conn` its protocol gets, and the
 * sequencing of the protocol's events (made → lines, one at a time → lost).
 */
import { ConnectionClosedError } from '../../errors.ts';
import { invalidArgument } from '../../invalid-option.ts';
import type { AgentContext, MainHandle } from '../../types.ts';
import { LineBudget } from '../shared/line-budget.ts';
import { lineRefusal } from '../shared/line-check.ts';
import type { LineDirection, OpenRequest, PeerAddress } from '../shared/line-methods.ts';
import type { LineOutlet, LineSender, NodeLink } from './node-link.ts';
import { isPromiseLike } from '../../promise-like.ts';
import type { LineConnection, LineProtocol, LineProtocolFactory } from './protocol-types.ts';

const ignore = (): void => undefined;

/**
 * How much a connection may have sent that the node has not yet acknowledged (in UTF-16
 * units plus delimiters), before `writable` turns false. It bounds what piles up between
 * the protocol and the socket — in the IPC path and the node — whatever the isolation,
 * and it updates at each `sendLine`, so even a synchronous `while (conn.writable)` loop
 * stops.
 */
export const MAX_UNACKNOWLEDGED = 1024 * 1024;

/** A connection as its agent sees it. */
export class ProtocolSession implements LineConnection, LineSender {
  readonly id: number;
  readonly peer: PeerAddress;
  readonly direction: LineDirection;
  private readonly delimiter: string;
  private readonly maxLineLength: number;
  private protocol: LineProtocol | undefined;
  /** Set when no more lines may be delivered: closing, failed or lost. */
  private stopped = false;
  /** `connectionLost` has started. */
  private gone = false;
  /**
   * Set once the connection is closing or gone, by {@link endWrites}: what every waiter
   * on `whenWritable` rejected with, and what a later call rejects with at once.
   */
  private closed: ConnectionClosedError | undefined;
  /** The node's socket can take more (the node says when it cannot). */
  private socketWritable = true;
  /** Sent but not yet acknowledged by the node. */
  private unacknowledged = 0;
  /** `connectionMade` or a batch of lines in progress; `connectionLost` waits for it. */
  private work: Promise<void> | undefined;
  /** What the protocol itself threw, reported to its `connectionLost` as is. */
  private failure: Error | undefined;
  /** Lines could not be sent: the connection fails with this (the first such error). */
  private sendFailure: Error | undefined;
  /** The node was told of {@link sendFailure}. */
  private sendFailureReported = false;
  /** Writes of lines not yet answered by the outlet. */
  private writesInFlight = 0;
  private localReason: Error | undefined;
  private readonly drainListeners = new Set<() => void>();
  private writableWaiters: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];

  /**
   * `outlet` is where lines and the close go: the node by default (relayed lines).
   * `budget` bounds what one write to it may carry (a call to the node: its message size).
   */
  constructor(
    request: OpenRequest,
    private readonly link: NodeLink,
    private readonly outlet: LineOutlet = link.relay,
    private readonly budget: LineBudget = LineBudget.UNLIMITED,
  ) {
    this.id = request.id;
    this.peer = Object.freeze({ ...request.peer });
    this.direction = request.direction;
    this.delimiter = request.delimiter;
    this.maxLineLength = request.maxLineLength;
  }

  get connected(): boolean {
    return this.closed === undefined;
  }

  get writable(): boolean {
    return this.connected && this.socketWritable && this.unacknowledged <= MAX_UNACKNOWLEDGED;
  }

  sendLine(line: string): void {
    if (typeof line !== 'string') throw invalidArgument(`sendLine expects a string, got ${line === null ? 'null' : typeof line}`);
    const refused = lineRefusal(line, this.delimiter, this.maxLineLength, 'sendLine got');
    if (refused) throw refused;
    // Like a write to a closed transport in Twisted: dropped, not an error.
    if (!this.connected) return;
    this.unacknowledged += line.length + this.delimiter.length;
    this.link.send(this, line);
  }

  loseConnection(reason?: Error): void {
    if (reason !== undefined && !(reason instanceof Error)) throw invalidArgument('loseConnection(reason) expects an Error or nothing');
    if (!this.connected) return;
    this.stopped = true;
    this.localReason = reason;
    this.endWrites(reason);
    // The lines queued before the close leave before it.
    this.link.flush();
    this.outlet.lose(this.id, reason);
  }

  whenWritable(): Promise<void> {
    if (this.closed) return Promise.reject(this.closed);
    if (this.writable) return Promise.resolve();
    return new Promise((resolve, reject) => this.writableWaiters.push({ resolve, reject }));
  }

  onDrain(listener: () => void): () => void {
    if (typeof listener !== 'function') throw invalidArgument('onDrain expects a function');
    this.drainListeners.add(listener);
    return () => this.drainListeners.delete(listener);
  }

  /** Builds the protocol and runs `connectionMade`. */
  open<Main>(factory: LineProtocolFactory<Main>, main: MainHandle<Main>, ctx: AgentContext): Promise<void> {
    const work = (async () => {
      const protocol = await factory(main, this, ctx);
      if (protocol === null || typeof protocol !== 'object' || typeof protocol.lineReceived !== 'function') {
        throw invalidArgument('a line protocol factory must return an object with a lineReceived(line) method');
      }
      this.protocol = protocol;
      if (typeof protocol.connectionMade === 'function') await protocol.connectionMade();
    })().catch((error: unknown) => {
      throw this.fail(error);
    });
    return this.track(work);
  }

  /** Delivers lines in order, one at a time; settles when all were processed. */
  deliver(lines: string[]): Promise<void> | void {
    // The server never overlaps deliveries of one connection; stay correct if it did.
    if (this.work) return this.work.then(() => this.deliver(lines));
    const protocol = this.protocol;
    if (!protocol) return;
    for (let i = 0; i < lines.length; i++) {
      if (this.stopped) return;
      let result: unknown;
      try {
        result = protocol.lineReceived(lines[i]!);
      } catch (error) {
        throw this.fail(error);
      }
      // Synchronous handlers stay synchronous: no promise, no microtask per line.
      if (isPromiseLike(result)) return this.track(this.deliverAsync(protocol, result, lines, i + 1));
    }
  }

  /** The node says the socket's write buffer filled up or drained. */
  setWritable(writable: boolean): void {
    const was = this.writable;
    this.socketWritable = writable;
    if (!was && this.writable) this.wake();
  }

  transmit(lines: string[]): void {
    // As many writes as the lines need: one call over the agent's maxMessageBytes would be
    // refused whole, and every line in it lost. In order, each within the budget.
    for (let start = 0; start < lines.length; ) {
      const count = this.budget.fits(lines, start);
      this.write(count === lines.length ? lines : lines.slice(start, start + count));
      start += count;
    }
  }

  /** Writes one batch of lines; one that fails fails the connection. */
  private write(lines: string[]): void {
    let written: Promise<unknown> | void;
    try {
      written = this.outlet.write(this.id, lines);
    } catch (error) {
      this.acknowledged(lines);
      return this.failSend(error);
    }
    if (!isPromiseLike(written)) return this.acknowledged(lines);
    this.writesInFlight++;
    const settled = (error: unknown): void => {
      this.writesInFlight--;
      // Acknowledged whatever the outcome: a failed write will never be.
      this.acknowledged(lines);
      if (error !== undefined) this.failSend(error);
      else this.reportSendFailure();
    };
    written.then(() => settled(undefined), (error: unknown) => settled(error ?? new Error('a write of lines failed')));
  }

  /**
   * Lines the protocol sent were refused on their way (too large, too many calls in
   * flight, …): the peer will never get them, so the connection must not go on as if it
   * had. It closes with `error`, which the node reports and `connectionLost` gets, as if
   * the protocol had thrown it. A way to the node that closed (the agent is closing) is
   * no failure of this connection: nothing is reported then.
   */
  private failSend(error: unknown): void {
    if (error instanceof ConnectionClosedError || this.gone || this.sendFailure) return;
    this.sendFailure = this.fail(error);
    this.endWrites(this.sendFailure);
    this.reportSendFailure();
  }

  /**
   * Tells the outlet of the failure once this connection's other writes settled: had they
   * been refused for the calls in flight (`TooManyCallsError`), the report would be too.
   */
  private reportSendFailure(): void {
    const failure = this.sendFailure;
    if (!failure || this.sendFailureReported || this.writesInFlight > 0) return;
    this.sendFailureReported = true;
    this.link.failed(this.id, failure);
    this.outlet.lose(this.id, failure);
  }

  /** These lines (sent earlier, in this order) reached the socket. */
  acknowledged(lines: readonly string[]): void {
    const was = this.writable;
    for (const line of lines) this.unacknowledged -= line.length + this.delimiter.length;
    if (!was && this.writable) this.wake();
  }

  /** Writable again: waiters resume, drain listeners run. */
  private wake(): void {
    for (const waiter of this.writableWaiters.splice(0)) waiter.resolve();
    for (const listener of [...this.drainListeners]) {
      try {
        listener();
      } catch (error) {
        this.loseConnection(error instanceof Error ? error : new Error(String(error)));
        return;
      }
    }
  }

  /**
   * The connection is closing or gone, for whatever reason; nothing will make it writable
   * again. Every waiter on `whenWritable` rejects now with `ConnectionClosedError`, whose
   * `cause` is the reason `connectionLost` gets, and any later call at once; `connected`
   * and `writable` turn false. Every way a connection ends comes through here (the
   * protocol closing it, its lines refused, the node or its socket ending it, the agent
   * closing), and before anything waits for the line in progress: a `lineReceived` that
   * awaits `whenWritable` is that line, so `connectionLost` would otherwise wait for it
   * forever (and the server's `close()` for the grace period, then a forced close).
   * Idempotent: the first reason stays.
   */
  endWrites(reason: Error | undefined): void {
    if (this.closed) return;
    const cause = this.failure ?? this.localReason ?? reason;
    this.closed = new ConnectionClosedError(`[agent-ipc] connection ${this.id} is closed`, cause === undefined ? undefined : { cause });
    for (const waiter of this.writableWaiters.splice(0)) waiter.reject(this.closed);
  }

  /** The connection is gone: waits for the event in progress, then runs `connectionLost`. */
  async lost(reason: Error | undefined): Promise<void> {
    this.stopped = true;
    this.endWrites(reason);
    if (this.work) await this.work.then(ignore, ignore);
    if (this.gone) return;
    this.gone = true;
    this.drainListeners.clear();
    const protocol = this.protocol;
    if (protocol && typeof protocol.connectionLost === 'function') await protocol.connectionLost(this.failure ?? this.localReason ?? reason);
  }

  private async deliverAsync(protocol: LineProtocol, pending: PromiseLike<unknown>, lines: string[], next: number): Promise<void> {
    try {
      await pending;
      for (let i = next; i < lines.length && !this.stopped; i++) await protocol.lineReceived(lines[i]!);
    } catch (error) {
      throw this.fail(error);
    }
  }

  /** Keeps `work` as the event in progress until it settles. */
  private track(work: Promise<void>): Promise<void> {
    this.work = work;
    const clear = (): void => {
      if (this.work === work) this.work = undefined;
    };
    work.then(clear, clear);
    return work;
  }

  /** The protocol threw: no more lines; its `connectionLost` gets this very error. */
  private fail(error: unknown): Error {
    const failure = error instanceof Error ? error : new Error(`a line protocol threw a non-error value: ${String(error)}`);
    // A protocol that lets `whenWritable`'s rejection escape did not fail: the connection
    // had ended already, and `connectionLost` gets the reason it ended with.
    if (failure === this.closed) return failure;
    this.failure ??= failure;
    this.stopped = true;
    return failure;
  }
}
