/**
 * Whether a worker's thread still runs, asked synchronously — from a node thread that is
 * parked in a blocking call and so receives no 'exit' event. A thread that ends through
 * JavaScript says so itself (the reverse mailbox's LIFE word); this covers the rest, such
 * as a thread stopped at its heap limit, which runs no JavaScript on its way out.
 *
 * Node.js has no public synchronous probe. The worker's native handle answers
 * `loopIdleTime()` with -1 once the thread has stopped, and also before its environment
 * exists: "stopped" needs to know the thread ran. Either the caller knows (the LIFE word
 * says the bootstrap ran), or an earlier look saw the thread running — which is how a
 * thread that dies in Node.js's own start-up (at a tiny heap limit), before agent-ipc's
 * bootstrap could set LIFE, is noticed: a caller waiting for a start looks often (see
 * `node-caller.ts`). The handle sits behind an internal symbol; if a Node.js version
 * moves it, the probe reports "running" and the node still wakes at the call's timeout
 * or the start-up timeout.
 *
 * A thread that dies before Node.js has set it up at all (a heap cap of 3 MB or less on
 * Node.js 20) is never seen running that way. Where it matters — `spawnAgentSync`, whose
 * caller cannot get the worker's 'exit' event — the launcher identifies the worker's OS
 * thread when it creates it (the one new entry of Linux's `/proc/self/task`), and that
 * entry's disappearance says the thread ended, whatever stage it reached.
 */
import { existsSync } from 'node:fs';
import type { Worker } from 'node:worker_threads';
import { threadIdsOfThisProcess } from './proc-stat.ts';

interface WorkerHandle {
  loopIdleTime(): number;
}

/**
 * Runs `create` (which starts one thread: `new Worker`) and returns its result with the
 * new thread's OS id, or no id if that is not one new entry of `/proc/self/task` (not
 * Linux, or another thread started at the same moment).
 */
export function withNewThread<T>(create: () => T): { value: T; tid: number | undefined } {
  const listed = threadIdsOfThisProcess();
  const value = create();
  const after = threadIdsOfThisProcess();
  if (!listed || !after) return { value, tid: undefined };
  const before = new Set(listed);
  const fresh = after.filter((id) => !before.has(id));
  return { value, tid: fresh.length === 1 ? fresh[0] : undefined };
}

/**
 * A function telling whether `worker`'s thread has stopped. `started`: the caller knows
 * the thread ran; otherwise only a thread seen running by an earlier call counts as
 * stopped when it is not running now. `tid`: the worker's OS thread (see
 * {@link withNewThread}); once it is gone the thread has stopped, whatever else says.
 */
export function threadStoppedProbe(worker: Worker, tid?: number): (started: boolean) => boolean {
  const symbol = Object.getOwnPropertySymbols(worker).find((s) => s.description === 'kHandle');
  const handle = symbol ? ((worker as unknown as Record<symbol, unknown>)[symbol] as WorkerHandle | null | undefined) : undefined;
  const gone = tid === undefined ? () => false : () => !existsSync(`/proc/self/task/${tid}`);
  if (!handle || typeof handle.loopIdleTime !== 'function') return gone;
  let seenRunning = false;
  return (started) => {
    if (gone()) return true;
    let idle: number;
    try {
      idle = handle.loopIdleTime();
    } catch {
      return false;
    }
    if (idle >= 0) {
      seenRunning = true;
      return false;
    }
    return started || seenRunning;
  };
}
