/**
 * What a thread agent's oversized messages cost the node. Between threads a message is a
 * structured clone that Node deserializes into the node's heap before agent-ipc sees it,
 * so `maxMessageBytes` cannot be enforced on arrival (see docs/threat-model.md, "What is
 * not bounded"): the agent's own library refuses to *send* an oversized message, but a
 * hostile agent can post on its port directly. These tests pin what does hold — the
 * honest sending side refuses, the node survives a flood of oversized messages and keeps
 * serving — and measure what the flood costs, for the threat model's figures.
 */
import test from 'ava';
import { MessageTooLargeError, spawnAgent } from '../src/index.ts';
import { settledHeap } from './fixtures/hostile/footprint.ts';
import type ValuesAgent from './fixtures/hostile/values-agent.ts';

const valuesAgent = new URL('./fixtures/hostile/values-agent.ts', import.meta.url);
const LIMIT = 1 << 20;
const nodeSide = { throwIt: (): never => { throw new Error('unused'); }, returnIt: (): unknown => undefined, ping: () => 'pong' };

test.serial('thread: the honest sending side refuses a message over maxMessageBytes, for that call alone', async (t) => {
  const agent = await spawnAgent<typeof ValuesAgent>(valuesAgent, { isolation: 'thread', expose: nodeSide, maxMessageBytes: LIMIT });
  try {
    // An answer larger than the limit: refused by the agent's library before it is posted.
    const error = await t.throwsAsync(agent.remote.bytes(LIMIT + 1));
    t.true(error instanceof MessageTooLargeError, String(error));
    t.regex(String(error), /the result of call/);
    t.is(await agent.remote.ping(), 'pong');
  } finally {
    await agent.close();
  }
});

test.serial('thread: a flood of oversized messages posted past the library is deserialized by the node, which survives and keeps serving', async (t) => {
  const agent = await spawnAgent<typeof ValuesAgent>(valuesAgent, { isolation: 'thread', expose: nodeSide, maxMessageBytes: LIMIT, resourceLimits: { maxOldGenerationSizeMb: 256 } });
  try {
    const before = await settledHeap();
    let peakHeap = before.heapUsed;
    let peakRss = before.rss;
    const sampler = setInterval(() => {
      const { heapUsed, rss } = process.memoryUsage();
      peakHeap = Math.max(peakHeap, heapUsed);
      peakRss = Math.max(peakRss, rss);
    }, 1);
    const COUNT = 1_000_000;
    const TIMES = 8;
    try {
      await agent.remote.postNoise(COUNT, TIMES);
      // The batches are queued on the port ahead of the answer to this ping, so they have all been delivered.
      t.is(await agent.remote.ping(), 'pong', 'the node still serves the agent');
    } finally {
      clearInterval(sampler);
    }
    const after = await settledHeap();
    const mib = (n: number): string => (n / 2 ** 20).toFixed(1);
    t.log(
      `${TIMES} NOTIFY batches of ${COUNT.toLocaleString('en')} empty objects (each ≥ ${mib(COUNT * 2)} MiB serialized) under maxMessageBytes ${mib(LIMIT)} MiB: ` +
        `node heap peak +${mib(peakHeap - before.heapUsed)} MiB, RSS peak +${mib(peakRss - before.rss)} MiB, heap after GC +${mib(after.heapUsed - before.heapUsed)} MiB`,
    );
    // The gap the threat model documents: the node allocated more than maxMessageBytes for one message.
    // If this fails, arrival is bounded now: update docs/threat-model.md.
    t.true(peakHeap - before.heapUsed > LIMIT, 'the node deserialized a message larger than maxMessageBytes');
    // Nothing is kept: the batches were garbage as soon as they were read.
    t.true(after.heapUsed - before.heapUsed < 16 * LIMIT, `heap after GC +${mib(after.heapUsed - before.heapUsed)} MiB`);
  } finally {
    await agent.close();
  }
});
