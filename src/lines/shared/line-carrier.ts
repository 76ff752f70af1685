/**
 * How one connection's lines are carried, and how it is to end. A carrier is either a
 * {@link LineSocket} (it owns the TCP socket, frames it into lines and hands them on one
 * batch at a time — in the node when lines are relayed, in a process agent when the
 * socket was handed off to it) or a `HandedOverSocket` (the node's stand-in for a socket
 * it gave to its agent). The ending rules live here once, for both:
 *
 * - the first reason given is kept; a later, harsher request (no drain) can still cut a
 *   drain short;
 * - a close asked for before the protocol is ready waits until {@link LineCarrier.start};
 * - the owner hears {@link CarrierEvents.ending} exactly once, when the close is due.
 */
import { isPromiseLike } from '../../promise-like.ts';

/** How a connection is to end. */
export interface Ending {
  reason: Error | undefined;
  /** Deliver the lines already received first (the peer closed, or broke framing). */
  drain: boolean;
}

/** What a carrier tells its owner. */
export interface CarrierEvents {
  /**
   * Hands one batch of lines, in order, to the protocol. The next batch waits until this
   * one settled; a throw or a rejection fails the connection with that error.
   */
  deliver(lines: string[]): Promise<void> | void;
  /** The way to the peer filled up (false) or drained (true). */
  writable(writable: boolean): void;
  /** Something failed and should be reported (once per connection, before the close). */
  failed(error: Error): void;
  /** The close is due (lines owed were delivered or dropped); called once. */
  ending(reason: Error | undefined): void;
  /**
   * A close was asked for while the protocol is not ready yet (before
   * {@link LineCarrier.start}): the owner, still getting the connection an agent, can
   * look at {@link LineCarrier.ending} and give the wait up.
   */
  closeRequestedEarly?(): void;
}

type State = 'held' | 'flowing' | 'ended';

/** The ending bookkeeping shared by every carrier. */
export abstract class LineCarrier {
  private state: State = 'held';
  private ending_: Ending | undefined;

  constructor(protected readonly events: CarrierEvents) {}

  /** How the connection is to end, once a close was asked for. */
  get ending(): Readonly<Ending> | undefined {
    return this.ending_;
  }

  /** True once the close is under way: nothing more is delivered, the reason is settled. */
  get ended(): boolean {
    return this.state === 'ended';
  }

  /** The protocol is ready: lines flow from now on (or the close that is due happens). */
  start(): void {
    if (this.state !== 'held') return;
    this.state = 'flowing';
    this.advance();
  }

  /** Stops at once: nothing more is delivered (the owner is closing). Idempotent. */
  halt(): void {
    this.state = 'ended';
    this.ending_ ??= { reason: undefined, drain: false };
    this.dropPending();
  }

  /** Reports `thrown` (unless a reason is already known) and closes with it, without draining. */
  fail(thrown: unknown): void {
    const error = thrown instanceof Error ? thrown : new Error(String(thrown));
    if (this.ended) return;
    if (this.ending_?.reason === undefined) this.events.failed(error);
    this.requestClose(error, false);
  }

  /** Records how the connection ends; the close happens once it is due. */
  requestClose(reason: Error | undefined, drain: boolean): void {
    // Once ended, the reason is settled: a socket's own 'close' must not replace it.
    if (this.ended) return;
    if (!this.ending_) this.ending_ = { reason, drain };
    else {
      this.ending_.reason ??= reason;
      if (!drain) this.ending_.drain = false;
    }
    if (this.state === 'held') this.events.closeRequestedEarly?.();
    this.advance();
  }

  /** Moves on: the close once it is due, else the next batch of lines. */
  protected advance(): void {
    if (this.state !== 'flowing') return;
    const ending = this.ending_;
    if (ending && (!ending.drain || this.nothingOwed())) {
      this.state = 'ended';
      this.dropPending();
      this.events.ending(ending.reason);
      return;
    }
    this.flow();
  }

  /**
   * Runs `deliver` for `batch`; `settled(true)` once it is done, or `settled(false)` and
   * then the connection fails. A synchronous protocol stays synchronous: no promise.
   */
  protected handOn(batch: string[], settled: (ok: boolean) => void): void {
    let result: Promise<void> | void;
    try {
      result = this.events.deliver(batch);
    } catch (error) {
      settled(false);
      this.fail(error);
      return;
    }
    if (!isPromiseLike(result)) {
      settled(true);
      return;
    }
    result.then(
      () => settled(true),
      (error: unknown) => {
        settled(false);
        this.fail(error);
      },
    );
  }

  /** True when no received line still waits to be delivered. */
  protected abstract nothingOwed(): boolean;
  /** Delivers the next batch if none is in progress. */
  protected abstract flow(): void;
  /** Forgets lines not yet delivered. */
  protected abstract dropPending(): void;
  /** Writes lines the protocol sent. */
  abstract write(lines: readonly string[]): void;
  /** Ends our side once what was written left. */
  abstract closeGracefully(): void;
  /** Closes the socket now. */
  abstract destroy(): void;
  /** Resolves once the socket is closed (or no longer ours). */
  abstract readonly closed: Promise<void>;
}
