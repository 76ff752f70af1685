/**
 * Whether a worker's thread still runs, asked synchronously — from a node thread that is
 * parked in a blocking call and so receives no 'exit' event. A thread that ends through
 * JavaScript says so itself (the reverse mailbox's LIFE word); this covers the rest, such
 * as a thread stopped at its heap limit, which runs no JavaScript on its way out.
 *
 * Node.js has no public synchronous probe. The worker's native handle answers
 * `loopIdleTime()` with -1 once the thread has stopped (and before it has started, which
 * the LIFE word tells apart). The handle sits behind an internal symbol; if a Node.js
 * version moves it, the probe reports "running" and the node still wakes at the call's
 * timeout or the start-up timeout.
 */
import type { Worker } from 'node:worker_threads';

interface WorkerHandle {
  loopIdleTime(): number;
}

/** A function telling whether `worker`'s thread has stopped. */
export function threadStoppedProbe(worker: Worker): () => boolean {
  const symbol = Object.getOwnPropertySymbols(worker).find((s) => s.description === 'kHandle');
  const handle = symbol ? ((worker as unknown as Record<symbol, unknown>)[symbol] as WorkerHandle | null | undefined) : undefined;
  if (!handle || typeof handle.loopIdleTime !== 'function') return () => false;
  return () => {
    try {
      return handle.loopIdleTime() < 0;
    } catch {
      return false;
    }
  };
}
