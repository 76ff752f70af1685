/**
 * The agent's CPU priority (`priority` option): applied by the agent itself, first thing
 * in its start-up, so that nothing it runs — its module's top level included — competes
 * with the node at the node's priority.
 *
 * Why agents may want it: an agent does a connection's heavy work, the node's thread
 * serves everything else (storage, the API, every other agent's calls). When busy
 * threads outnumber cores, the kernel shares them out evenly, and the node's event loop
 * waits behind agents. A lower priority (a higher nice value) for agents puts the node
 * first. Measured on the reference node syncing from four peers on 2 cores: HTTP p99
 * 0.107× inline's with agents at the node's priority, 0.061× at nice 5 and 0.050× at
 * nice 10, with the same sync time (docs/isolation.md, "CPU priority").
 *
 * Only ever lowered: an unprivileged thread cannot raise its priority, and an agent
 * above the node would defeat the point. A value below the node's own is taken as the
 * node's.
 */
import { getPriority, setPriority } from 'node:os';
import { threadIdsOfThisProcess } from './proc-stat.ts';

/**
 * Lowers the priority of the calling thread (a thread agent) or of the whole process (a
 * process agent) to `priority` (a nice value, as `os.setPriority` takes), unless it is
 * already that low. `threads` lists a process's threads (a parameter for the tests).
 */
export function lowerPriority(priority: number, scope: 'thread' | 'process', threads: () => number[] = processThreads): void {
  if (scope === 'thread') {
    // On Linux, 0 is the calling thread: the agent's, not the node's.
    setPriority(0, Math.max(priority, getPriority(0)));
    return;
  }
  // On Linux a priority belongs to one thread, and threads inherit their creator's: the
  // threads the process has started already (V8's and libuv's) are set one by one, those
  // it starts later inherit their creator's. Elsewhere (macOS, Windows) the pid names
  // the whole process. A sandboxed agent may not read /proc: then its main thread only.
  //
  // A thread started while this runs, by a thread not lowered yet, is not in the list and
  // keeps the old priority (seen once in ~10 full test runs under a load average of 30).
  // So the list is read again until a pass finds nothing left to lower: from then on
  // every thread, so every creator of a later one, is at the priority.
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    if (!lowerListed(priority, threads())) return;
  }
}

/** Passes over the thread list at most: each one that lowers something is followed by another. */
const MAX_PASSES = 8;

/** Lowers each thread of `ids` to `priority` unless it already is that low; true if any was lowered. */
function lowerListed(priority: number, ids: number[]): boolean {
  let lowered = false;
  for (const id of ids) {
    try {
      const current = getPriority(id);
      if (current >= priority) continue;
      setPriority(id, priority);
      lowered = true;
    } catch (error) {
      // A thread that ended since it was listed (ESRCH) has nothing left to lower; any
      // other failure is the start-up's (the agent does not start, with this error).
      if ((error as { info?: { code?: string } }).info?.code !== 'ESRCH') throw error;
    }
  }
  return lowered;
}

function processThreads(): number[] {
  return threadIdsOfThisProcess() ?? [process.pid];
}
