/**
 * "Real CPU work" between spaced calls. A caller that sleeps between calls lets every
 * core idle, which is not what real code does: between two host calls it computes, so
 * the thread stays on its core and any thread spinning for it competes for the CPU.
 * The work is a fixed number of iterations (the same for every contender and every
 * condition), calibrated once on the bench's own process before any load is started.
 */

/**
 * `iterations` rounds of integer mixing over a small table (a hash-like inner loop,
 * the shape of parsing or checksum code). Returns a value the caller must use, so the
 * loop cannot be optimised away.
 */
export function cpuWork(iterations: number, seed = 1): number {
  let h = seed | 0;
  for (let i = 0; i < iterations; i++) {
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
    h = (h + i) | 0;
  }
  return h;
}

/**
 * Iterations of `cpuWork` per microsecond on this thread: the best of several short
 * timed runs, so a run disturbed by another process does not shrink the gaps.
 */
export function calibrateWork(): number {
  let best = 0;
  let sink = 0;
  // Warm up so the loop is optimised before it is timed.
  for (let k = 0; k < 20; k++) sink ^= cpuWork(100_000, k);
  for (let k = 0; k < 15; k++) {
    const iterations = 200_000;
    const start = process.hrtime.bigint();
    sink ^= cpuWork(iterations, k);
    const us = Number(process.hrtime.bigint() - start) / 1e3;
    best = Math.max(best, iterations / us);
  }
  if (sink === 0.5) throw new Error('unreachable: keeps the work alive');
  return best;
}
