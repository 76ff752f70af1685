/**
 * A caller's spin for its answer before it parks, the same in both directions: an agent
 * waiting for the node (`main.blocking.x()`) and the node waiting for an agent
 * (`agent.blocking.x()`). Two wait sites, each with its own {@link SpinPolicy}:
 *
 * - the server watches the mailbox (SERVER_PARKED = 0: in its poll loop, serving, or
 *   spinning for this request): in a burst the answer comes within µs;
 * - the server sleeps on its event loop and must first be woken (an event-loop wake-up,
 *   ~10–50 µs on a quiet machine): spinning through that saves the caller's own wake-up
 *   after it, but only while the server gets a core of its own. On a busy machine the
 *   spinner holds the core the waking server needs (measured: ~2.5× the CPU per call,
 *   and slower), so this site backs off after any miss, and a server that never claimed
 *   the request is *not* evidence against spinning here (its wake-up takes that long):
 *   only a spinner that lost its own core is.
 *
 * A caller confined to one CPU never spins (see `confinedToOneCpu`).
 */
import { Phase, Slot, phaseOf } from './mailbox.ts';
import { SpinEnd, SpinPolicy, confinedToOneCpu, lastSpin, spinUntil, type SpinLimits } from './spin-budget.ts';

/**
 * The server watches: in a burst the answer comes in a few µs when the server has a
 * core; 200 µs covers a quick handler. See spin-budget.ts for how the budget is learned.
 */
export const ANSWER_SPIN: SpinLimits = { initialNs: 20_000, maxNs: 200_000, probeNs: 20_000, missesBeforeBackOff: 3 };

/**
 * The server must be woken: long enough for an event-loop wake-up on a quiet machine
 * (the budget follows the wake-ups caught), no longer; any miss backs off.
 */
export const ANSWER_SPIN_AFTER_WAKE: SpinLimits = { initialNs: 60_000, maxNs: 100_000, probeNs: 60_000, missesBeforeBackOff: 1 };

const never = (): boolean => false;

/** One caller's spin for its answers (one per mailbox side). */
export class AnswerSpin {
  private readonly watched = new SpinPolicy(ANSWER_SPIN);
  private readonly afterWake = new SpinPolicy(ANSWER_SPIN_AFTER_WAKE);
  /** The last spin that missed: its policy, its budget, and whether it had evidence of a server without a core. */
  private missPolicy: SpinPolicy = this.watched;
  private budgetNs = 0;
  private stalled = false;
  /** When the last call's wait began (`performance.now()`). */
  sentAt = 0;

  private readonly serverNotWatching = (): boolean => Atomics.load(this.header, Slot.SERVER_PARKED) === 1;

  /** `header`: the mailbox's int32 header (slots STATE to CALLER_PARKED as in mailbox.ts). */
  constructor(private readonly header: Int32Array) {}

  /**
   * Spins until `done()` if that is worth it; true if `done()` became true meanwhile (and
   * the policy learned from it). False: the caller parks, then calls {@link parked}.
   * Call right after publishing the request (and waking a parked server).
   */
  spin(done: () => boolean): boolean {
    const { header } = this;
    const sent = (this.sentAt = performance.now());
    const serverWatching = Atomics.load(header, Slot.SERVER_PARKED) === 0;
    const policy = serverWatching ? this.watched : this.afterWake;
    // Asked on every call, so that a back-off counts calls, not only those that spin.
    const planned = policy.nextBudget();
    const budgetNs = confinedToOneCpu(sent) ? 0 : planned;
    this.budgetNs = budgetNs;
    this.missPolicy = policy;
    if (budgetNs === 0) return false;
    // Watching: stop when the server stops watching (it went to sleep: a wake-up away).
    // A server that watches was not woken: its answer in the first checks is taken untimed.
    const end = spinUntil(done, serverWatching ? this.serverNotWatching : never, sent, budgetNs, performance, serverWatching);
    if (end === SpinEnd.CAUGHT) {
      policy.caught((lastSpin.endedAt - sent) * 1e6);
      return true;
    }
    if (end === SpinEnd.PREEMPTED && done()) {
      // Came, but only because this thread lost its core to the server: a miss all the same.
      policy.missed(budgetNs, (lastSpin.endedAt - sent) * 1e6, true);
      return true;
    }
    // Evidence that the server has no core: this thread lost its own; or a watching server
    // never claimed the request while we spun (a sleeping one needs longer to wake).
    this.stalled = end === SpinEnd.PREEMPTED || (serverWatching && end === SpinEnd.TIMED_OUT && phaseOf(Atomics.load(header, Slot.STATE)) === Phase.REQUEST);
    return false;
  }

  /** The caller parked after {@link spin} returned false, and its wait is over: learns how late the answer was. */
  parked(): void {
    if (this.budgetNs > 0) this.missPolicy.missed(this.budgetNs, (performance.now() - this.sentAt) * 1e6, this.stalled);
  }
}
