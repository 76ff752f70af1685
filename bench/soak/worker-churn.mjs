/**
 * Worker churn without agent-ipc: a hunt for the SIGSEGV that CI once saw (see "The
 * SIGSEGV" in docs/reliability.md) under the conditions of nodejs/node#56312 (a
 * segfault while workers are terminated and others start). Six lanes start plain worker
 * threads that allocate strings and hash them, and terminate each after 0–8 ms, awaiting
 * the termination half the time; each 20-second batch runs in a child process of its
 * own, so a crash shows as the child's signal. Not part of CI.
 *
 *   node bench/soak/worker-churn.mjs [seconds, default 600]
 *
 * Prints every abnormal exit of a batch with its last output, then the totals.
 */
import { fork } from 'node:child_process';
import process from 'node:process';
import { setTimeout } from 'node:timers';
import { URL } from 'node:url';
import { Worker } from 'node:worker_threads';

const BATCH_MS = 20_000;
const LANES = 6;

const WORKER_BODY = `
  const { parentPort } = require('node:worker_threads');
  const parts = [];
  for (let i = 0; i < 2000; i++) parts.push('k' + i + Math.random());
  const sizes = new Map(parts.map((p) => [p, p.length]));
  require('node:crypto').createHash('sha256').update(parts.join()).digest('hex');
  parentPort.postMessage(sizes.size);
  setTimeout(() => {}, 1000);`;

async function batch() {
  const until = Date.now() + BATCH_MS;
  let started = 0;
  const lane = async () => {
    while (Date.now() < until) {
      const worker = new Worker(WORKER_BODY, { eval: true });
      started++;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 8));
      const terminated = worker.terminate();
      if (Math.random() < 0.5) await terminated;
    }
  };
  await Promise.all(Array.from({ length: LANES }, lane));
  process.stdout.write(`started ${started}\n`);
  process.exit(0);
}

async function main(seconds) {
  const end = Date.now() + seconds * 1000;
  let batches = 0;
  let abnormal = 0;
  let total = 0;
  while (Date.now() < end) {
    const result = await new Promise((resolve) => {
      const child = fork(new URL(import.meta.url), ['batch'], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
      let text = '';
      child.stdout.on('data', (chunk) => (text += chunk));
      child.stderr.on('data', (chunk) => (text += chunk));
      child.on('exit', (code, signal) => resolve({ code, signal, text }));
    });
    batches++;
    const counted = /started (\d+)/.exec(result.text);
    if (counted) total += Number(counted[1]);
    if (result.signal || result.code !== 0) {
      abnormal++;
      process.stdout.write(`abnormal exit: code ${result.code}, signal ${result.signal}\n${result.text.slice(-2000)}\n`);
    }
  }
  process.stdout.write(`${process.version}: ${batches} batches, ${total} workers started, ${abnormal} abnormal exits\n`);
}

if (process.argv[2] === 'batch') await batch();
else await main(Number(process.argv[2] ?? 600));
