/**
 * How long to spin before sleeping, learned from how long the awaited event actually
 * took. Sleeping costs a thread wake-up (tens of µs); spinning costs CPU. During a
 * burst the answer (or the next request) comes within a few µs, so spinning pays;
 * when calls are spaced out, spinning is wasted, so the budget drops to a floor, and
 * an idle side costs no CPU at all (nobody spins outside a call).
 *
 * The budget follows the *observed* delay, whether it was caught spinning or after a
 * sleep: a budget that only shrank on misses could never grow back, because once it
 * is shorter than the delay every wait misses.
 */
export class SpinBudget {
  private budgetNs: number;
  private smoothedNs: number;

  /**
   * @param minNs floor of the budget (0: do not spin when events are far apart)
   * @param maxNs ceiling: delays longer than this are not worth spinning for
   * @param initialNs starting budget
   */
  constructor(
    private readonly minNs: number,
    private readonly maxNs: number,
    initialNs: number,
  ) {
    this.budgetNs = initialNs;
    this.smoothedNs = initialNs / 2;
  }

  /**
   * Records how long the awaited event took. The budget becomes twice the smoothed
   * delay plus slack, or the floor right after a delay beyond the ceiling.
   */
  observe(delayNs: number): void {
    if (delayNs > this.maxNs) {
      // Calls are far apart (or a pause): stop spinning now, and let the next short
      // delay bring spinning back at once instead of averaging a pause in.
      this.smoothedNs = this.maxNs;
      this.budgetNs = this.minNs;
      return;
    }
    this.smoothedNs = this.smoothedNs * 0.5 + delayNs * 0.5;
    this.budgetNs = Math.min(this.maxNs, Math.max(this.minNs, this.smoothedNs * 2 + 2_000));
  }

  /**
   * Spins until `done()` is true or the budget runs out; returns whether it came.
   * The clock is read every 32 checks: `performance.now()` costs more than a check.
   */
  spin(done: () => boolean, startMs: number): boolean {
    const limitMs = startMs + this.budgetNs / 1e6;
    for (;;) {
      for (let i = 0; i < 32; i++) if (done()) return true;
      if (performance.now() > limitMs) return done();
    }
  }
}
