/**
 * Worker side of the raw-echo baseline: send every message straight back. No ids, no
 * dispatch, no promises — the cost of a `MessagePort` round trip and nothing else.
 */
import { workerData, type MessagePort } from 'node:worker_threads';

const { port } = workerData as { port: MessagePort };
port.on('message', (message: unknown) => port.postMessage(message));
