/**
 * An agent that gives up on its blocking calls (a timeout) and calls again at once must
 * not start node handlers without end: the ones still running count toward `maxInFlight`,
 * and beyond it a call is answered `TooManyCallsError` without running (found by an
 * outside review, 2026-12-07: 5,000 handlers running with `maxInFlight: 4`).
 */
import test from 'ava';
import { spawnAgent } from '../src/index.ts';
import type HammerAgent from './fixtures/running-handlers/agent.ts';
import type { SlowNodeApi } from './fixtures/running-handlers/agent.ts';

for (const isolation of ['thread', 'process'] as const) {
  test(`${isolation}: handlers of calls the agent gave up on count toward maxInFlight; beyond it calls are refused without running`, async (t) => {
    t.timeout(60_000);
    const release: Array<() => void> = [];
    let running = 0;
    let peak = 0;
    const slow = (): Promise<Uint8Array> => {
      running++;
      peak = Math.max(peak, running);
      return new Promise((resolve) =>
        release.push(() => {
          running--;
          resolve(new Uint8Array(0));
        }),
      );
    };
    const agent = await spawnAgent<typeof HammerAgent, SlowNodeApi>(new URL('./fixtures/running-handlers/agent.ts', import.meta.url), {
      isolation,
      maxInFlight: 4,
      expose: { slow },
    });
    try {
      const counts = await agent.remote.hammer(40);
      t.true(peak <= 4, `${peak} node handlers ran at once with maxInFlight 4`);
      // None has settled: every handler that ever started is still running.
      t.true(release.length >= 1 && release.length <= 4, `${release.length} node handlers started with maxInFlight 4`);
      // Each call either timed out (its handler started, or the call was withdrawn before
      // the node took it: on a loaded machine 20 ms can pass first) or was refused unrun.
      t.is((counts.TimeoutError ?? 0) + (counts.TooManyCallsError ?? 0), 40, JSON.stringify(counts));
      t.true((counts.TooManyCallsError ?? 0) >= 30, JSON.stringify(counts));
      // Once they settle, calls run again.
      for (const done of release.splice(0)) done();
      const after = await agent.remote.hammer(1);
      t.deepEqual(after, { TimeoutError: 1 });
    } finally {
      for (const done of release.splice(0)) done();
      await agent.close({ timeoutMs: 2000 });
    }
  });
}
