/**
 * How long to spin before sleeping, learned from recent calls. Sleeping costs two
 * thread wake-ups per call (tens of µs); spinning costs CPU. During a burst the answer
 * (or the next request) comes within a few µs, so spinning pays; when calls are
 * spaced out, spinning is wasted, so the budget shrinks toward a floor and an idle
 * side costs no CPU at all (nobody spins outside a call).
 */
export class SpinBudget {
  private budgetNs: number;

  constructor(
    private readonly minNs: number,
    private readonly maxNs: number,
    initialNs: number,
  ) {
    this.budgetNs = initialNs;
  }

  /** The current budget in nanoseconds. */
  get ns(): number {
    return this.budgetNs;
  }

  /** The awaited event came while spinning: spin a little longer next time. */
  hit(): void {
    this.budgetNs = Math.min(this.maxNs, this.budgetNs * 2);
  }

  /** Spinning ran out before the event: spin less next time. */
  miss(): void {
    this.budgetNs = Math.max(this.minNs, this.budgetNs / 2);
  }

  /**
   * Spins until `done()` is true or the budget runs out; returns whether it came.
   * The clock is read every 64 checks: `performance.now()` costs more than a check.
   */
  spin(done: () => boolean): boolean {
    const limitMs = this.budgetNs / 1e6;
    if (limitMs <= 0) return done();
    const start = performance.now();
    for (;;) {
      for (let i = 0; i < 64; i++) if (done()) return true;
      if (performance.now() - start > limitMs) return done();
    }
  }
}
