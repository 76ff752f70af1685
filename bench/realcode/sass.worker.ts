/**
 * A plain worker compiling the Sass workload, for the real-code table's two baselines:
 *
 * - `direct`: the host's data is in this worker; the hooks are plain function calls
 *   (no IPC at all: what the compilation costs by itself).
 * - `sync-message-port`: each hook posts a request on a `SyncMessagePort` and blocks in
 *   `receiveMessage()`; the main thread answers from its `message` event.
 *
 * The main thread sends `'compile'` and gets a `SassRun` back, or `{ error }`.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import * as sass from 'sass';
import { SyncMessagePort } from 'sync-message-port';
import { directHost, runSassJob, type SassHost, type SassRun } from './sass-job.ts';

export type SassWorkerMode = 'direct' | 'sync-message-port';

export interface SassWorkerData {
  mode: SassWorkerMode;
  port?: MessagePort;
}

export type SassRequest = { op: 'token'; name: string } | { op: 'load'; url: string };

const data = workerData as SassWorkerData;

function smpHost(port: MessagePort): SassHost {
  const sync = new SyncMessagePort(port);
  const call = (r: SassRequest): string => {
    sync.postMessage(r);
    return sync.receiveMessage() as string;
  };
  return { token: (name) => call({ op: 'token', name }), load: (url) => call({ op: 'load', url }) };
}

const host = data.mode === 'direct' ? directHost : smpHost(data.port!);

parentPort?.on('message', () => {
  let reply: SassRun | { error: string };
  try {
    reply = runSassJob(sass, host);
  } catch (error) {
    reply = { error: error instanceof Error ? error.message : String(error) };
  }
  parentPort?.postMessage(reply);
});
