/**
 * The CPU-heavy part of the proof of concept: a fixed amount of arithmetic, standing
 * in for sync-v2 verifying a batch of vertices. The amount is calibrated once on the
 * node, so every handler does the same work whichever thread runs it.
 */

/** Spins through `iterations` rounds of integer mixing; returns a checksum so none of it is optimised away. */
export function burn(iterations: number): number {
  let x = 0x9e3779b9;
  for (let i = 0; i < iterations; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x = (x + i) | 0;
  }
  return x >>> 0;
}

/** How many iterations of {@link burn} take about `targetMs` on this thread. */
export function calibrate(targetMs: number): number {
  burn(1_000_000); // warm up the JIT
  let iterations = 1_000_000;
  for (;;) {
    const start = performance.now();
    burn(iterations);
    const elapsed = performance.now() - start;
    if (elapsed >= 100) return Math.round((iterations * targetMs) / elapsed);
    iterations *= 2;
  }
}
