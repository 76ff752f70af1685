/**
 * A fixture is a contender started once per suite and shared by the cases of several
 * tables (burst, spaced, each payload size). Starting a worker per table would work too,
 * but some contenders cannot be restarted in the same process (synckit caches its worker
 * per file path and offers no way to stop it), and fewer start-ups keep the run short.
 */

export interface Fixture {
  name: string;
  /** Start workers; may throw `SkipCase` when the contender is not available. */
  start(): Promise<void>;
  /** End every worker `start` created. Must be safe after a failed or partial start. */
  stop(): Promise<void>;
}

/**
 * Start every fixture, run `body`, then stop every fixture, even when `body` throws.
 * A fixture that fails to start is handed to `body` with its error (so its cases can be
 * listed as skipped) instead of aborting the suite.
 */
export async function withFixtures<F extends Fixture, T>(fixtures: readonly F[], body: (startErrors: Map<F, unknown>) => Promise<T>): Promise<T> {
  const startErrors = new Map<F, unknown>();
  try {
    for (const f of fixtures) {
      try {
        await f.start();
      } catch (error) {
        startErrors.set(f, error);
      }
    }
    return await body(startErrors);
  } finally {
    for (const f of fixtures) {
      try {
        await f.stop();
      } catch (error) {
        process.stderr.write(`warning: stopping ${f.name} failed: ${String(error)}\n`);
      }
    }
  }
}
