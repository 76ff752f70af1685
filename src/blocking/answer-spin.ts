/**
 * A caller's spin for its answer before it parks, the same in both directions: an agent
 * waiting for the node (`main.blocking.x()`) and the node waiting for an agent
 * (`agent.blocking.x()`). The caller spins only while the server watches the mailbox
 * (SERVER_PARKED = 0: in its poll loop, serving, or spinning for this request) and its
 * {@link SpinPolicy} says spinning has paid lately. A server that must first be woken on
 * its event loop takes longer than a spin worth doing, and on a busy machine the spinner
 * would hold the core that server needs to wake up (measured: spinning then cost ~2.5×
 * the CPU per call and was slower under load).
 */
import { Phase, Slot, phaseOf } from './mailbox.ts';
import { SpinEnd, SpinPolicy, confinedToOneCpu, spinUntil, type SpinLimits } from './spin-budget.ts';

/**
 * In a burst the answer comes in a few µs when the server has a core; 200 µs covers a
 * quick handler. See spin-budget.ts for how the budget is learned.
 */
export const ANSWER_SPIN: SpinLimits = { initialNs: 20_000, maxNs: 200_000, probeNs: 20_000, missesBeforeBackOff: 3 };

/** One caller's spin for its answers (one per mailbox side). */
export class AnswerSpin {
  private readonly policy = new SpinPolicy(ANSWER_SPIN);
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
   */
  spin(done: () => boolean): boolean {
    const { header, policy } = this;
    // Asked on every call, so that a back-off counts calls, not only those the server watched.
    const planned = policy.nextBudget();
    const sent = (this.sentAt = performance.now());
    const budgetNs = Atomics.load(header, Slot.SERVER_PARKED) === 0 && !confinedToOneCpu(sent) ? planned : 0;
    this.budgetNs = budgetNs;
    if (budgetNs === 0) return false;
    const end = spinUntil(done, this.serverNotWatching, sent, budgetNs);
    if (end === SpinEnd.CAUGHT) {
      policy.caught((performance.now() - sent) * 1e6);
      return true;
    }
    if (end === SpinEnd.PREEMPTED && done()) {
      // Came, but only because this thread lost its core to the server: a miss all the same.
      policy.missed(budgetNs, (performance.now() - sent) * 1e6, true);
      return true;
    }
    // No progress while we spun — the server never claimed the request — means it had no
    // core (or was busy elsewhere): spinning cannot pay now.
    this.stalled = end === SpinEnd.PREEMPTED || (end === SpinEnd.TIMED_OUT && phaseOf(Atomics.load(header, Slot.STATE)) === Phase.REQUEST);
    return false;
  }

  /** The caller parked after {@link spin} returned false, and its wait is over: learns how late the answer was. */
  parked(): void {
    if (this.budgetNs > 0) this.policy.missed(this.budgetNs, (performance.now() - this.sentAt) * 1e6, this.stalled);
  }
}
