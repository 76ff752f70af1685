/**
 * Baseline: the bare transport under every thread-based RPC. The main thread posts one
 * `MessagePort` message per call to a worker that echoes it, keeping `inFlight` messages
 * outstanding. An RPC layer that posts one message per call cannot beat this; one that
 * batches several calls per message can.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { Case, Measurement } from '../harness/case.ts';
import { BenchWorker } from '../harness/worker.ts';

export interface RawEchoOptions {
  calls: number;
  inFlight: number;
}

export function rawEchoCase(o: RawEchoOptions): Case {
  let worker: BenchWorker | undefined;
  let port: MessagePort | undefined;

  /** Post `first..calls-1` keeping `inFlight` outstanding; resolve when all echoed. */
  const echoAll = (p: MessagePort): Promise<Measurement> =>
    new Promise<Measurement>((resolve, reject) => {
      let sent = 0;
      let received = 0;
      const start = process.hrtime.bigint();
      const onMessage = (echo: number): void => {
        // The port preserves order, so the echoes come back as 0, 1, 2, ...
        if (echo !== received) {
          p.off('message', onMessage);
          reject(new Error(`raw-echo: expected ${received}, got ${echo}`));
          return;
        }
        received++;
        if (sent < o.calls) p.postMessage(sent++);
        if (received === o.calls) {
          const ns = Number(process.hrtime.bigint() - start);
          p.off('message', onMessage);
          resolve({ ops: o.calls, ns });
        }
      };
      p.on('message', onMessage);
      while (sent < Math.min(o.inFlight, o.calls)) p.postMessage(sent++);
    });

  return {
    name: 'raw-echo',
    async setup() {
      const channel = new MessageChannel();
      port = channel.port1;
      worker = new BenchWorker(new URL('./raw-echo.worker.ts', import.meta.url), {
        workerData: { port: channel.port2 },
        transferList: [channel.port2],
      });
      // One echo before timing, so that module loading is not measured.
      const p = port;
      await worker.guard(
        new Promise<void>((resolve) => {
          p.once('message', () => resolve());
          p.postMessage(-1);
        }),
      );
    },
    run() {
      if (port === undefined || worker === undefined) throw new Error('raw-echo: not set up');
      return worker.guard(echoAll(port));
    },
    async teardown() {
      port?.close();
      await worker?.terminate();
      worker = undefined;
      port = undefined;
    },
  };
}
