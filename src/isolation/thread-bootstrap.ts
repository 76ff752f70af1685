/**
 * Entry point of a thread agent: the worker starts here, not in the user's module.
 * It wires the worker's port and the blocking mailbox into the agent runtime.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { PortTransport } from '../transports/port-transport.ts';
import { runAgent } from './agent-runtime.ts';
import type { AgentInit } from './control.ts';
import { flushOnExit } from './exit-flush.ts';
import { mailboxBlocking } from './mailbox-blocking.ts';

/** What a thread agent receives as `workerData`. */
export interface ThreadInit extends AgentInit {
  mailbox: SharedArrayBuffer;
  sidePort: MessagePort;
  /** The agent's end of the connection's own channel. */
  port: MessagePort;
}

const init = workerData as ThreadInit;
if (!parentPort) throw new Error('[agent-ipc] thread-bootstrap must run in a worker thread');
// The worker's built-in port is not used; do not let it hold the thread open.
parentPort.unref();

const running = runAgent(init, {
  transport: new PortTransport(init.port),
  blocking: mailboxBlocking(init, init.mailbox, init.sidePort),
  exit: (code) => process.exit(code),
  load: (entry) => import(entry) as Promise<Record<string, unknown>>,
});
// Messages a dying worker posted are still delivered to the node before its exit event.
flushOnExit(running.connection);
