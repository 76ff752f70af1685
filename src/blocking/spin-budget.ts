/**
 * Whether a thread about to wait for the other side of a mailbox should spin first, and
 * for how long. One {@link SpinPolicy} per wait site per mailbox: the agent's wait for an
 * answer, and the node's wait, after answering, for the agent's next request.
 *
 * Spinning saves a thread wake-up (tens of µs) when the awaited event comes within a few
 * µs, which it does in a burst when both threads have a core. When they do not — more
 * busy threads than cores, a CPU-bound neighbour, both pinned to one core — the spinner
 * holds the very core the awaited thread needs, and every spin is lost time on top of
 * the wake-up. So spinning has to pay for itself, call by call:
 *
 * - A spin that catches the event lowers the back-off level and trains the budget
 *   (about twice the recent delay, never more than `maxNs`). There is no floor: a site
 *   whose events come late stops spinning.
 * - A spin that misses is a *miss*. A few misses in a row, or one miss with evidence
 *   that the awaited thread has no core (its progress did not advance during the spin,
 *   the spinner itself was descheduled, or the event came far later than the spin
 *   lasted), raise the back-off level: the next 2^level waits park at once.
 * - After those, one wait *probes* with a short spin. If it catches the event, spinning
 *   resumes within a few calls; if not, the level rises (up to {@link MAX_LEVEL}). A
 *   machine whose cores free up is noticed within a bounded number of calls, and a busy
 *   one pays one short spin per 2^level calls.
 *
 * Nothing here runs while idle: a policy is consulted only inside a call.
 *
 * One case needs no learning: a thread confined to one CPU ({@link confinedToOneCpu})
 * never spins, since the thread it waits for cannot run until the spinner gives up.
 */
import { availableParallelism } from 'node:os';

/** What a policy needs to know about its wait site. */
export interface SpinLimits {
  /** Budget before anything was learned (ns). */
  initialNs: number;
  /** Longest spin ever (ns): events further apart are not worth spinning for. */
  maxNs: number;
  /** Spin of a probe during back-off (ns): long enough to catch a burst's event. */
  probeNs: number;
  /** Plain misses in a row that start a back-off. */
  missesBeforeBackOff: number;
}

/** Highest back-off level: at most 2^8 = 256 waits park between probes. */
export const MAX_LEVEL = 8;

/**
 * A parked wait that took this many times its spin budget (and at least
 * {@link LATE_FLOOR_NS}) shows that spinning could not have caught it.
 */
const LATE_FACTOR = 8;
const LATE_FLOOR_NS = 200_000;

/** The learning half: decides budgets, learns from outcomes. Pure (no clock), so it can be tested alone. */
export class SpinPolicy {
  private budgetNs: number;
  private smoothedNs: number;
  /** 0: spin on every wait; n > 0: backing off, probes every 2^n waits. */
  private levelValue = 0;
  private skipLeft = 0;
  private misses = 0;

  constructor(private readonly limits: SpinLimits) {
    this.budgetNs = limits.initialNs;
    this.smoothedNs = limits.initialNs / 2;
  }

  /** Current back-off level (0 = spinning). */
  get level(): number {
    return this.levelValue;
  }

  /**
   * The spin for the next wait in ns; 0 means park at once. Call once per wait: during
   * a back-off each call counts one of the waits that park.
   */
  nextBudget(): number {
    if (this.skipLeft > 0) {
      this.skipLeft--;
      return 0;
    }
    // A probe spins for its own budget, not the learned one: that was learned in a fast
    // regime (a few µs) and would miss the first event of a recovering one, which comes
    // a little later (the other side was parked or just woken), keeping the back-off at
    // its top level for good (measured: every probe of an agent's burst missed).
    return this.levelValue > 0 ? this.limits.probeNs : this.budgetNs;
  }

  /** The spin caught the event, `delayNs` after the wait began. */
  caught(delayNs: number): void {
    this.misses = 0;
    // Two levels per success: after the first successful probe, spinning is back within a few waits.
    this.levelValue = Math.max(0, this.levelValue - 2);
    this.skipLeft = 0;
    this.train(delayNs);
  }

  /**
   * The spin of `budgetNs` missed; the thread parked and the event came `delayNs` after
   * the wait began. `stalled`: there is evidence that the awaited thread had no core.
   */
  missed(budgetNs: number, delayNs: number, stalled: boolean): void {
    // A probe that misses, or any miss with evidence, backs off further at once.
    if (this.levelValue > 0 || stalled || delayNs > Math.max(LATE_FLOOR_NS, budgetNs * LATE_FACTOR)) {
      this.backOff();
      return;
    }
    // Late but not far off: a longer spin may catch the next one.
    this.train(delayNs);
    if (++this.misses >= this.limits.missesBeforeBackOff) this.backOff();
  }

  private backOff(): void {
    this.misses = 0;
    this.levelValue = Math.min(MAX_LEVEL, this.levelValue + 1);
    this.skipLeft = 2 ** this.levelValue;
  }

  private train(delayNs: number): void {
    if (delayNs > this.limits.maxNs) return;
    this.smoothedNs = this.smoothedNs * 0.5 + delayNs * 0.5;
    this.budgetNs = Math.min(this.limits.maxNs, this.smoothedNs * 2 + 2_000);
  }
}

/** How a spin ended. */
export const SpinEnd = {
  /** `done()` became true. */
  CAUGHT: 0,
  /** The budget ran out. */
  TIMED_OUT: 1,
  /** `giveUp()` became true (e.g. the other side stopped watching). */
  GAVE_UP: 2,
  /**
   * The spinning thread itself lost its core for a while (whether or not the event came
   * meanwhile): the machine is oversubscribed, and parking would have served better.
   */
  PREEMPTED: 3,
} as const;

/** Time source (ms), `performance` in production; tests pass a fake one. */
export interface SpinClock {
  now(): number;
}

/**
 * A gap this long (ms) between two of the spin loop's clock reads means the spinner was
 * descheduled: 32 checks take 1–3 µs on a thread that keeps its core.
 */
const PREEMPTED_MS = 0.02;

/**
 * `Atomics.pause` (Node.js ≥ 24) tells the CPU this is a spin-wait: it saves power and
 * frees the core's shared resources for a hyper-threaded sibling, which may be the very
 * thread being waited for. Looked up once; Node.js 20 and 22 have none, and then a spin
 * check is simply not paced.
 */
const atomicsPause: (() => void) | undefined = (Atomics as unknown as { pause?: () => void }).pause;
const pause: () => void = typeof atomicsPause === 'function' ? atomicsPause : () => {};

/** Whether this runtime paces spin loops with `Atomics.pause`. */
export const HAS_ATOMICS_PAUSE = typeof atomicsPause === 'function';

/**
 * The clock reading at which the last {@link spinUntil} on this thread ended (ms), for
 * its caller's delay: a clock read costs 30–70 ns on these VMs, as much as a tenth of a
 * whole blocking call in a burst, so the spin's last one is reused.
 */
export const lastSpin = { endedAt: 0 };

/**
 * What a catch within the first {@link CHECKS_PER_READ} checks is taken to have lasted
 * (ns) when it is not timed: 32 checks take ~0.3–0.5 µs on a thread that keeps its core.
 */
export const FIRST_CHECKS_NS = 500;

/** Checks of `done()` between two clock reads. */
const CHECKS_PER_READ = 32;

/**
 * Spins until `done()`, or `giveUp()`, or `budgetNs` from `startMs` have passed, or the
 * spinner was descheduled. The clock is read (and `giveUp` asked) every
 * {@link CHECKS_PER_READ} checks: both cost more than a check. When it ends,
 * {@link lastSpin} holds the time.
 *
 * `untimedFirstChecks`: a catch within the first checks returns at once, with no clock
 * read (`lastSpin.endedAt` is then `startMs` plus {@link FIRST_CHECKS_NS}). In a burst
 * that is most catches, and the read (~70 ns here) would sit on the round trip's
 * critical path, between seeing the other side's word and acting on it. The price: a
 * spinner descheduled within those first checks counts as a catch. Only for a spin that
 * woke nobody: a wake-up is what most often takes the spinner's core at once.
 */
export function spinUntil(
  done: () => boolean,
  giveUp: () => boolean,
  startMs: number,
  budgetNs: number,
  clock: SpinClock = performance,
  untimedFirstChecks = false,
): number {
  // A loop of its own, not a flag in the loop below: folded into it, a burst call measured
  // 3–21% slower in interleaved A/Bs (three runs of 25 rounds), at parity kept apart.
  if (untimedFirstChecks) {
    for (let i = 0; i < CHECKS_PER_READ; i++) {
      if (done()) {
        lastSpin.endedAt = startMs + FIRST_CHECKS_NS / 1e6;
        return SpinEnd.CAUGHT;
      }
      pause();
    }
  }
  const limitMs = startMs + budgetNs / 1e6;
  let lastMs = startMs;
  for (;;) {
    for (let i = 0; i < CHECKS_PER_READ; i++) {
      if (done()) {
        // Caught — unless only because this thread was descheduled and the other one got its core.
        const now = (lastSpin.endedAt = clock.now());
        return now - lastMs > PREEMPTED_MS ? SpinEnd.PREEMPTED : SpinEnd.CAUGHT;
      }
      pause();
    }
    const now = (lastSpin.endedAt = clock.now());
    if (now - lastMs > PREEMPTED_MS) return SpinEnd.PREEMPTED;
    if (done()) return SpinEnd.CAUGHT;
    if (now > limitMs) return SpinEnd.TIMED_OUT;
    if (giveUp()) return SpinEnd.GAVE_UP;
    lastMs = now;
  }
}

/**
 * How often (ms) {@link confinedToOneCpu} asks the OS again: affinity can change while a
 * process runs (`taskset -p`), and asking costs a system call (~1 µs).
 */
const CPU_CHECK_MS = 100;
let cpusCheckedAt = -Infinity;
let oneCpu = false;

/**
 * Whether this thread may only run on one CPU (`taskset -c 0`, a one-CPU cpuset): then
 * the thread a spinner waits for can run only once the spinner stops, so every spin is
 * lost time and no wait should spin. `now`: the caller's `performance.now()` reading.
 */
export function confinedToOneCpu(now: number): boolean {
  if (now - cpusCheckedAt > CPU_CHECK_MS) {
    cpusCheckedAt = now;
    oneCpu = availableParallelism() <= 1;
  }
  return oneCpu;
}
