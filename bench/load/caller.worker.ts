/**
 * A caller thread for the message-based baselines of the load suites. It blocks the
 * way each library is meant to be used and runs the shared scenarios:
 *
 * - `sync-message-port`: `postMessage` the request on a `SyncMessagePort`, then
 *   `receiveMessage()`; the main thread answers from its `message` event (as in
 *   agent-ipc, the worker blocks and the node's event loop answers).
 * - `synckit`: `createSyncFn` started from this worker, so its answering worker is
 *   this thread's own; a caller per worker lets several synckit callers block at once
 *   (the 8-callers condition), which synckit's usual caller, the main thread, cannot.
 *
 * The main thread sends `{ scenario }` and gets `{ ns }` back, or `{ error }`.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { createSyncFn } from 'synckit';
import { SyncMessagePort } from 'sync-message-port';
import type { SynckitRequest } from '../baselines/synckit.ts';
import type { HostRequest } from './host.ts';
import { runScenario, type LoadScenario, type SyncClient } from './scenario.ts';

export type CallerTransport = 'sync-message-port' | 'synckit';

export interface CallerWorkerData {
  transport: CallerTransport;
  /** The worker's end of `SyncMessagePort.createChannel()`, for sync-message-port. */
  port?: MessagePort;
}

export type CallerCommand = { scenario: LoadScenario } | { exit: true };
export interface CallerReply {
  ns: number;
  error?: string;
}

const data = workerData as CallerWorkerData;
let close = (): void => {};

function smpClient(port: MessagePort): SyncClient {
  const sync = new SyncMessagePort(port);
  close = () => sync.close();
  const call = (request: HostRequest): unknown => {
    sync.postMessage(request);
    return sync.receiveMessage();
  };
  return {
    add: (a, b) => call({ op: 'add', a, b }) as number,
    bytes: (size) => call({ op: 'bytes', size }) as Uint8Array,
    text: (size) => call({ op: 'text', size }) as string,
  };
}

function synckitClient(): SyncClient {
  const file = path.join(path.dirname(fileURLToPath(import.meta.url)), '../baselines/synckit.worker.mjs');
  const fn = createSyncFn<(r: SynckitRequest) => number | Uint8Array | string>(file, { execArgv: process.execArgv });
  close = () => {
    fn({ op: 'exit' });
  };
  return {
    add: (a, b) => fn({ op: 'add', a, b }) as number,
    bytes: (size) => fn({ op: 'bytes', size }) as Uint8Array,
    text: (size) => fn({ op: 'text', size }) as string,
  };
}

const client = data.transport === 'synckit' ? synckitClient() : smpClient(data.port!);

parentPort?.on('message', (c: CallerCommand) => {
  let reply: CallerReply;
  try {
    if ('exit' in c) {
      close();
      reply = { ns: 0 };
    } else {
      reply = { ns: runScenario(client, c.scenario) };
    }
  } catch (error) {
    reply = { ns: 0, error: error instanceof Error ? error.message : String(error) };
  }
  parentPort?.postMessage(reply);
});
