/**
 * A process agent that sends requests and never reads the answers must not grow the
 * node's memory without bound: the node stops reading that agent while more than 1 MiB
 * of its answers wait in the stream (src/transports/read-while-drained.ts). Found by an
 * outside review (2026-12-07): the node ran out of heap in ~40 s, through either stream.
 * Measured as memory, never as time.
 */
import test from 'ava';
import { spawnAgent } from '../src/index.ts';
import type FloodAgent from './fixtures/process-backpressure/agent.ts';

const ANSWER = 'x'.repeat(1000);

/** The most the node's resident memory grew over `ms`, sampled every 50 ms. */
async function peakGrowth(ms: number): Promise<number> {
  const before = process.memoryUsage().rss;
  let peak = 0;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss - before)), 50);
  await new Promise((resolve) => setTimeout(resolve, ms));
  clearInterval(timer);
  return Math.max(peak, process.memoryUsage().rss - before);
}

for (const stream of ['async', 'blocking'] as const) {
  test.serial(`${stream}: an agent that floods requests without reading the answers is no longer read; the node's memory stays bounded`, async (t) => {
    t.timeout(120_000);
    const agent = await spawnAgent<typeof FloodAgent>(new URL('./fixtures/process-backpressure/agent.ts', import.meta.url), {
      isolation: 'process',
      expose: { ping: () => ANSWER },
    });
    try {
      // The flood runs 4 s; the node is watched for 5. (On the blocking socket the agent
      // writes with blocking writes: once the node stops reading, it stays stuck there,
      // which is its own business; close() ends it.)
      const flood = (stream === 'async' ? agent.remote.floodAsync(4000) : agent.remote.floodBlocking(4000)).then(
        (sent) => sent,
        (error: unknown) => error,
      );
      const grown = await peakGrowth(5000);
      // Before, every request was read and answered into the stream: 4 s of this grew the
      // node by 0.2–2.5 GB here. Now the agent's writes stall once the node stops reading.
      t.log(`the node grew ${(grown / 2 ** 20).toFixed(0)} MiB`);
      t.true(grown < 128 * 1024 * 1024, `the node grew ${(grown / 2 ** 20).toFixed(0)} MiB`);
      await agent.close({ timeoutMs: 1000 });
      // The flood's call settles: its answer came, or a typed error (a frame the agent
      // cut short spoils its stream; a stuck agent was stopped by close()).
      const outcome = await flood;
      t.true(typeof outcome === 'number' || (outcome instanceof Error && /ProtocolError|AgentExitedError|ConnectionClosedError/.test(outcome.name)), String(outcome));
    } finally {
      await agent.close({ timeoutMs: 2000 });
    }
  });
}
