/**
 * Entry point of a process agent's I/O thread (see `blocking-forwarder.ts`): opens the
 * blocking stream to the node, which the node passed as file descriptor 4, and serves
 * the main thread's mailbox through it.
 */
import { Socket } from 'node:net';
import { workerData, type MessagePort } from 'node:worker_threads';
import { BlockingForwarder } from './blocking-forwarder.ts';

/** The descriptor of the blocking stream in a process agent. */
export const BLOCKING_FD = 4;

/** What the I/O thread receives as `workerData` from the agent's main thread. */
export interface IoThreadData {
  mailbox: SharedArrayBuffer;
  sidePort: MessagePort;
  maxMessageBytes: number;
}

const data = workerData as IoThreadData;
new BlockingForwarder({
  stream: new Socket({ fd: BLOCKING_FD, readable: true, writable: true }),
  mailbox: data.mailbox,
  sidePort: data.sidePort,
  maxMessageBytes: data.maxMessageBytes,
});
