/**
 * Worker side of the birpc baseline: expose `add(a, b)` over the port it was given,
 * configured the way birpc's README shows for a MessageChannel (structured clone, no
 * custom serializer).
 */
import { createBirpc } from 'birpc';
import { workerData, type MessagePort } from 'node:worker_threads';
import type { BirpcMainApi, BirpcWorkerApi } from './birpc-port.ts';

const { port } = workerData as { port: MessagePort };

const api: BirpcWorkerApi = {
  add: (a, b) => a + b,
};

createBirpc<BirpcMainApi, BirpcWorkerApi>(api, {
  post: (data) => port.postMessage(data),
  on: (fn) => port.on('message', fn),
});
