/**
 * Baseline: birpc, a small and popular promise RPC, over a worker's `MessagePort`, with
 * one method `add(a, b)` and `inFlight` calls kept outstanding. birpc posts one message
 * per call and per answer, so it sits below raw-echo; it is the "typical library" an
 * async agent-ipc call is compared with.
 */
import { createBirpc, type BirpcReturn } from 'birpc';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { Case } from '../harness/case.ts';
import { pipeline } from '../harness/pipeline.ts';
import { BenchWorker } from '../harness/worker.ts';

/** What the worker exposes. */
export interface BirpcWorkerApi {
  add(a: number, b: number): number;
}

/** The main side exposes nothing; the type exists for birpc's generics. */
export type BirpcMainApi = Record<string, never>;

export interface BirpcOptions {
  calls: number;
  inFlight: number;
}

export function birpcCase(o: BirpcOptions): Case {
  let worker: BenchWorker | undefined;
  let port: MessagePort | undefined;
  let rpc: BirpcReturn<BirpcWorkerApi, BirpcMainApi> | undefined;

  return {
    name: 'birpc',
    async setup() {
      const channel = new MessageChannel();
      port = channel.port1;
      worker = new BenchWorker(new URL('./birpc-port.worker.ts', import.meta.url), {
        workerData: { port: channel.port2 },
        transferList: [channel.port2],
      });
      const p = port;
      rpc = createBirpc<BirpcWorkerApi, BirpcMainApi>(
        {},
        {
          post: (data) => p.postMessage(data),
          on: (fn) => p.on('message', fn),
        },
      );
      // First call waits for the worker to load its module; not timed.
      await worker.guard(rpc.add(1, 2));
    },
    run() {
      const r = rpc;
      if (r === undefined || worker === undefined) throw new Error('birpc: not set up');
      return worker.guard(
        pipeline({
          calls: o.calls,
          inFlight: o.inFlight,
          call: (i) => r.add(i, 1),
          check: (i, result) => result === i + 1,
        }),
      );
    },
    async teardown() {
      rpc?.$close();
      port?.close();
      await worker?.terminate();
      rpc = undefined;
      worker = undefined;
      port = undefined;
    },
  };
}
