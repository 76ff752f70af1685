/**
 * Keep a fixed number of promise-returning calls in flight: the "pipelined" load of the
 * async suite. A node talking to many peers never waits for one answer before asking
 * the next question, so calls/s with a deep window is the figure that matters, and it
 * is what batching in a transport can improve.
 */
import type { Measurement } from './case.ts';

export interface PipelineOptions {
  /** Calls to make in total. */
  calls: number;
  /** Calls outstanding at any moment (until the last ones drain). */
  inFlight: number;
  /** Issue call number `i`. */
  call(i: number): Promise<unknown>;
  /** Check call `i`'s answer, so a broken contender cannot look fast. */
  check(i: number, result: unknown): boolean;
}

export async function pipeline(o: PipelineOptions): Promise<Measurement> {
  let next = 0;
  // Each lane issues its next call as soon as its previous one settles; `inFlight`
  // lanes therefore keep `inFlight` calls outstanding.
  const lane = async (): Promise<void> => {
    while (next < o.calls) {
      const i = next++;
      const result = await o.call(i);
      if (!o.check(i, result)) throw new Error(`call ${i} answered ${String(result)}`);
    }
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: Math.min(o.inFlight, o.calls) }, lane));
  const ns = Number(process.hrtime.bigint() - start);
  return { ops: o.calls, ns };
}
