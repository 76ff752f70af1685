/**
 * Entry point of a process agent's watchdog thread: it ends the agent when the node is
 * gone and the agent's main thread is too busy to notice. A main thread that is idle
 * sees its stream to the node end and exits; one parked in a blocking call sees the
 * blocking socket end; one running a long synchronous loop sees nothing, and only
 * another thread can stop it. The watchdog is on no data path: it only watches.
 *
 * It reads the lifeline, a socket (the child's fd 5) on which the node never writes:
 * its end is the node's death, however it dies, since the kernel closes the node's
 * sockets then. As a backstop it also checks that its parent is still the node (an
 * orphan is re-parented). The pid to compare with is the one the main thread saw at
 * start-up: this thread may take a while to load, and the node may be gone by then.
 */
import { Socket } from 'node:net';
import { workerData } from 'node:worker_threads';

/** What the main thread passes the watchdog. */
export interface WatchdogData {
  /** The node's pid, as the main thread saw it at start-up. */
  nodePid: number;
}

/** The descriptor of the lifeline in a process agent. */
export const LIFELINE_FD = 5;

/** How often the parent pid is checked. */
const PARENT_CHECK_MS = 500;

/** How long the main thread may take to exit once the node is gone, before SIGKILL. */
const BACKSTOP_MS = 500;

const { nodePid } = workerData as WatchdogData;
let gone = false;
const nodeGone = (): void => {
  if (gone) return;
  gone = true;
  clearInterval(check);
  setTimeout(() => process.kill(process.pid, 'SIGKILL'), BACKSTOP_MS);
};
const check = setInterval(() => {
  if (process.ppid !== nodePid) nodeGone();
}, PARENT_CHECK_MS);
if (process.ppid !== nodePid) nodeGone();

const lifeline = new Socket({ fd: LIFELINE_FD, readable: true, writable: false });
// Nothing is ever sent on it; anything that arrives is ignored.
lifeline.on('data', () => undefined);
lifeline.on('end', nodeGone);
lifeline.on('close', nodeGone);
lifeline.on('error', nodeGone);
