// Start-up time and memory of thread agents from the built package (dist/), in a plain
// `node` process: no tsx, so nothing compiles TypeScript on the way, as in production.
// Forked by bench/subjects/built-package.ts with an empty execArgv; it answers one IPC
// message per request so that the parent can interleave these cases with its others.
import process from 'node:process';
import { setTimeout as pause } from 'node:timers/promises';
import { URL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { spawnAgent } from 'agent-ipc';

const peer = new URL('./peer-agent.mjs', import.meta.url);
const bare = new URL('./bare-worker.mjs', import.meta.url);

async function startAgent() {
  const agent = await spawnAgent(peer, { name: 'built-peer' });
  if ((await agent.remote.add(1, 2)) !== 3) throw new Error('add(1, 2) !== 3');
  return { stop: () => agent.close() };
}

async function startWorker() {
  const worker = new Worker(bare);
  await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return { stop: () => worker.terminate() };
}

const starters = { agent: startAgent, worker: startWorker };

/** Nanoseconds until the agent (or bare worker) answered; stopping is not timed. */
async function spawnTime(kind) {
  const t0 = process.hrtime.bigint();
  const started = await starters[kind]();
  const ns = Number(process.hrtime.bigint() - t0);
  await started.stop();
  return ns;
}

/** Growth of this process's RSS per live agent, `count` started at once. */
async function residentPerAgent(kind, count) {
  globalThis.gc?.();
  await pause(100);
  const before = process.memoryUsage().rss;
  const started = await Promise.all(Array.from({ length: count }, () => starters[kind]()));
  await pause(200);
  const bytes = (process.memoryUsage().rss - before) / count;
  await Promise.all(started.map((s) => s.stop()));
  return bytes;
}

process.on('message', async (request) => {
  try {
    const value = request.op === 'spawn' ? await spawnTime(request.kind) : await residentPerAgent(request.kind, request.count);
    process.send({ id: request.id, value });
  } catch (error) {
    process.send({ id: request.id, error: String(error?.stack ?? error) });
  }
});
process.send({ ready: true });
