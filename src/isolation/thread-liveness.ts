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
 */
import type { Worker } from 'node:worker_threads';

interface WorkerHandle {
  loopIdleTime(): number;
}

/**
 * A function telling whether `worker`'s thread has stopped. `started`: the caller knows
 * the thread ran; otherwise only a thread seen running by an earlier call counts as
 * stopped when it is not running now.
 */
export function threadStoppedProbe(worker: Worker): (started: boolean) => boolean {
  const symbol = Object.getOwnPropertySymbols(worker).find((s) => s.description === 'kHandle');
  const handle = symbol ? ((worker as unknown as Record<symbol, unknown>)[symbol] as WorkerHandle | null | undefined) : undefined;
  if (!handle || typeof handle.loopIdleTime !== 'function') return () => false;
  let seenRunning = false;
  return (started) => {
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
