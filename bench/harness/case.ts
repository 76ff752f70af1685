/**
 * The unit the harness measures: a *case* is one contender (a library, a baseline, a
 * floor) doing one kind of work. The harness calls `setup` once, `run` once per round,
 * then `teardown` once, so a case keeps its worker alive across rounds and only the
 * steady state is timed.
 */

/** What one `run()` of a case measured. */
export interface Measurement {
  /** Operations completed in this run (calls, round trips). */
  ops: number;
  /**
   * Nanoseconds those operations took. Only the benchmarked part: a case that has to
   * sleep between calls (the "spaced" scenario) reports the sum of the call times.
   */
  ns: number;
  /** Payload bytes delivered to the caller, for throughput figures (GB/s). */
  bytes?: number;
}

export interface Case {
  /** Short, stable name: it is a table row and a key in the JSON results. */
  name: string;
  /** Start workers, warm caches. Not timed. May throw `SkipCase`. */
  setup?(): Promise<void> | void;
  /** Do the work once and report what it cost. */
  run(): Promise<Measurement>;
  /** Release everything `setup` started: workers must be terminated here. */
  teardown?(): Promise<void> | void;
}

/**
 * Thrown by `setup` when a case cannot run in this checkout (for example the library
 * under test is not built yet). The harness records the reason and runs the other cases,
 * so the baselines still produce figures.
 */
export class SkipCase extends Error {
  override name = 'SkipCase';
}
