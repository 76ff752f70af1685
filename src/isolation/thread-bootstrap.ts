/**
 * Entry point of a thread agent: the worker starts here, not in the user's module.
 * It wires the worker's port and the blocking mailbox into the agent runtime, and the
 * reverse mailbox through which the node's thread may block on this agent (see
 * `src/blocking/reverse-mailbox.ts`).
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { MailboxServer } from '../blocking/server.ts';
import { ParkedNodeLink } from '../blocking/agent-callback.ts';
import { Life, RSlot, reverseHeader, ringDoorbell, servedReverseMailbox } from '../blocking/reverse-mailbox.ts';
import { UnknownMethodError } from '../errors.ts';
import type { IncomingCall } from '../connection.ts';
import { PortTransport } from '../transports/port-transport.ts';
import type { Batch } from '../wire.ts';
import { runAgent } from './agent-runtime.ts';
import type { AgentInit } from './control.ts';
import { flushOnExit } from './exit-flush.ts';
import { mailboxBlocking } from '../blocking/agent-mailbox-path.ts';

/** What a thread agent receives as `workerData`. */
export interface ThreadInit extends AgentInit {
  mailbox: SharedArrayBuffer;
  sidePort: MessagePort;
  /** The agent's end of the connection's own channel. */
  port: MessagePort;
  /** The reverse mailbox: the node's blocking calls into this agent, and call-backs while it waits. */
  reverse: { memory: SharedArrayBuffer; sidePort: MessagePort; callbackPort: MessagePort };
}

const init = workerData as ThreadInit;
if (!parentPort) throw new Error('[agent-ipc] thread-bootstrap must run in a worker thread');
// The worker's built-in port is not used; do not let it hold the thread open.
parentPort.unref();

const reverse = reverseHeader(init.reverse.memory);
Atomics.store(reverse, RSlot.LIFE, Life.RUNNING);
const parkedNode = new ParkedNodeLink(init.reverse.memory, init.reverse.callbackPort, init.maxMessageBytes);

/** The connection's port; while the node is parked on us, each batch posted also rings it. */
class RingingPortTransport extends PortTransport {
  override send(batch: Batch): void {
    super.send(batch);
    parkedNode.posted();
  }
}

const forwardBlocking = mailboxBlocking(init, init.mailbox, init.sidePort, init.reverse.memory);
const running = runAgent(init, {
  transport: new RingingPortTransport(init.port),
  blocking: (connection) => {
    const forward = forwardBlocking(connection);
    return {
      call(command, payload, timeoutMs) {
        // A node parked on this agent serves call-backs from its wait, not from its event loop.
        if (parkedNode.nodeBlocked()) {
          connection.flush(); // async calls made before this one arrive first
          const outcome = parkedNode.tryCall(command, payload, timeoutMs ?? init.timeoutMs);
          if (outcome) return outcome.value;
        }
        return forward.call(command, payload, timeoutMs);
      },
    };
  },
  exit: (code) => process.exit(code),
  load: (entry) => import(entry) as Promise<Record<string, unknown>>,
  started(methods, connection) {
    new MailboxServer(servedReverseMailbox(init.reverse.memory), init.reverse.sidePort, {
      dispatch(command, payload) {
        const handler = methods.get(command);
        if (!handler) throw new UnknownMethodError(command);
        return handler(payload, undefined as unknown as IncomingCall);
      },
      asyncCallsStarted: (fence, owner) => connection.whenIncomingStarted(fence, owner),
      maxMessageBytes: init.maxMessageBytes,
    }).start();
  },
});
// Frames flushed here reach the node before it reports the exit: its exit handler reads
// the port first (thread.ts).
flushOnExit(running.connection);
// Tell a node parked on this agent when the thread ends through JavaScript (process.exit,
// an uncaught error, a close). Registered after the exit flush, so the last frames (a
// crash report) are on the port when the node wakes.
process.on('exit', (code) => {
  Atomics.store(reverse, RSlot.EXIT_CODE, typeof code === 'number' ? code : 0);
  Atomics.store(reverse, RSlot.LIFE, Life.EXITED);
  ringDoorbell(reverse);
});
