/**
 * Churn: agents spawned and closed by the hundred leave nothing behind — no handles,
 * no timers, no listeners on the process.
 */
import test from 'ava';
import { spawnAgent } from '../src/index.ts';

const entry = new URL('./fixtures/minimal-agent.ts', import.meta.url);

function resourceCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

function processListeners(): number {
  return process.eventNames().reduce((sum, name) => sum + process.listenerCount(name), 0);
}

async function settle(): Promise<void> {
  // Let exit events and closes run to completion.
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 20));
}

test('100 thread agents spawned, used and closed leave no handles, timers or listeners behind', async (t) => {
  // One agent first, so lazily created singletons (loaders, pools) exist before the baseline.
  const warm = await spawnAgent(entry, { expose: { inc: (n: number) => n + 1 } });
  await warm.close();
  await settle();
  const before = resourceCounts();
  const listenersBefore = processListeners();

  for (let round = 0; round < 10; round++) {
    const agents = await Promise.all(
      Array.from({ length: 10 }, (_, i) => spawnAgent<{ twice(n: number): number }>(entry, { name: `churn-${round}-${i}`, expose: { inc: (n: number) => n + 1 }, timeoutMs: 30_000 })),
    );
    const answers = await Promise.all(agents.map((agent, i) => agent.remote.twice(i)));
    t.deepEqual(answers, agents.map((_, i) => 2 * i + 1));
    await Promise.all(agents.map((agent) => agent.close()));
    for (const agent of agents) t.is((await agent.exited).code, 0);
  }
  await settle();
  t.deepEqual(resourceCounts(), before);
  t.is(processListeners(), listenersBefore);
});
