/**
 * The blocking path of thread agents: the agent's thread parks on the mailbox (see
 * src/blocking/), which the node's thread serves. (A process agent's blocking calls go
 * over a socket instead: `process-caller.ts`.)
 */
import type { MessagePort } from 'node:worker_threads';
import { BlockingCaller } from './caller.ts';
import { reverseHeader } from './reverse-mailbox.ts';
import type { IpcConnection } from '../connection.ts';
import { ConnectionClosedError } from '../errors.ts';
import type { BlockingPath } from '../isolation/agent-runtime.ts';
import type { AgentInit } from '../isolation/control.ts';

/**
 * Builds an agent's blocking path over `memory`, once its connection exists. `reverse`:
 * the agent's reverse mailbox, whose parked node the path rings (see `caller.ts`).
 */
export function mailboxBlocking(init: AgentInit, memory: SharedArrayBuffer, sidePort: MessagePort, reverse: SharedArrayBuffer): (connection: IpcConnection) => BlockingPath {
  const header = reverseHeader(reverse);
  return (connection) =>
    new BlockingCaller(memory, sidePort, {
      timeoutMs: init.timeoutMs,
      maxMessageBytes: init.maxMessageBytes,
      // Async calls queued before a blocking call leave first, and the node starts them first.
      beforeBlock: (command) => connection.blockingFence(command),
      closedError: () => new ConnectionClosedError(`agent '${init.name}' is closing: the node no longer answers blocking calls`),
      peerName: 'the node',
      reverseHeader: header,
    });
}
