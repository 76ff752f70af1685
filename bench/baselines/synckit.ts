/**
 * Baseline: synckit's `createSyncFn`, the usual way to make an async function callable
 * synchronously in Node. As synckit is meant to be used, the *main* thread is the
 * blocked caller and the worker answers; in agent-ipc the roles are the other way round,
 * but the cost being compared, a blocked thread waiting for another to answer, is the
 * same. Each call is a `postMessage` to the worker, then `Atomics.wait` until the worker
 * notifies, then `receiveMessageOnPort` for the structured-cloned answer.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSyncFn } from 'synckit';
import type { Measurement } from '../harness/case.ts';
import { sleepBlocking } from '../harness/sleep.ts';
import { isPayload, type BlockingScenario, type BlockingTarget } from './blocking-target.ts';

export type SynckitRequest = { op: 'add'; a: number; b: number } | { op: 'bytes'; size: number } | { op: 'text'; size: number } | { op: 'exit' };

type SyncFn = (request: SynckitRequest) => number | Uint8Array;

/** Counts fixtures created in this process, see `start`. */
let instances = 0;

export function synckitTarget(): BlockingTarget {
  let call: SyncFn | undefined;

  const add = (fn: SyncFn, i: number): void => {
    if (fn({ op: 'add', a: i, b: 1 }) !== i + 1) throw new Error(`synckit: wrong answer for add(${i}, 1)`);
  };

  return {
    name: 'synckit',
    async start() {
      // createSyncFn caches one worker per path string for the life of the process, so a
      // second fixture would get the first one's (exited) worker. An extra `./` segment
      // makes the string unique per fixture while naming the same file.
      const dir = path.dirname(fileURLToPath(import.meta.url));
      const workerPath = `${dir}${'/.'.repeat(instances++)}/synckit.worker.mjs`;
      // Same flags as the bench's own workers (`--import=tsx`), not synckit's default.
      call = createSyncFn<SyncFn>(workerPath, { execArgv: process.execArgv });
      // The first call loads (and tsx compiles) the worker module; not timed.
      add(call, 0);
    },
    async measure(s: BlockingScenario): Promise<Measurement> {
      const fn = call;
      if (fn === undefined) throw new Error('synckit: not started');
      switch (s.kind) {
        case 'burst': {
          const start = process.hrtime.bigint();
          for (let i = 0; i < s.calls; i++) add(fn, i);
          return { ops: s.calls, ns: Number(process.hrtime.bigint() - start) };
        }
        case 'spaced': {
          let ns = 0n;
          for (let i = 0; i < s.calls; i++) {
            sleepBlocking(s.gapMs);
            const start = process.hrtime.bigint();
            add(fn, i);
            ns += process.hrtime.bigint() - start;
          }
          return { ops: s.calls, ns: Number(ns) };
        }
        case 'fetch': {
          const start = process.hrtime.bigint();
          for (let i = 0; i < s.calls; i++) {
            if (!isPayload(fn({ op: 'bytes', size: s.size }), s.size)) throw new Error(`synckit: bad payload of ${s.size} B`);
          }
          return { ops: s.calls, ns: Number(process.hrtime.bigint() - start), bytes: s.size * s.calls };
        }
      }
    },
    async stop() {
      call?.({ op: 'exit' });
      call = undefined;
    },
  };
}
