/**
 * Floor: the least a blocking call from a worker to the main thread can cost, with no
 * library at all. The worker (the caller, as an agent is) writes into a shared mailbox
 * and blocks in `Atomics.wait`; the main thread answers from its event loop, woken by
 * `Atomics.waitAsync`, so — as in agent-ipc — the main thread never blocks waiting.
 *
 * - `spin: false` (sleeping): every call costs two thread wake-ups, one each way.
 * - `spin: true` (spinning): after answering, main keeps checking for the next request
 *   for up to SPIN_MS before going back to `waitAsync`, and the worker, if main is
 *   awake, checks for the answer for up to SPIN_MS before `Atomics.wait`. In a burst
 *   nobody sleeps; main's loop is held for at most SPIN_MS after the last call.
 *
 * Both variants notify only a side that is parked (see MAIN_PARKED in the layout).
 *
 * Arguments and answers are raw Int32 cells and raw bytes: there is no codec, so the
 * gap between this floor and a real library is its codec plus its bookkeeping.
 */
import { performance } from 'node:perf_hooks';
import type { Measurement } from '../harness/case.ts';
import { BenchWorker } from '../harness/worker.ts';
import { makePayload, type BlockingScenario, type BlockingTarget } from './blocking-target.ts';
import {
  A,
  B,
  DATA_BYTES,
  HEADER_BYTES,
  LENGTH,
  MAIN_PARKED,
  OP,
  OP_ADD,
  OP_BYTES,
  REQUEST,
  RESPONSE,
  RESULT,
  SPIN_MS,
  WORKER_PARKED,
  type FloorCommand,
  type FloorReply,
  type FloorWorkerData,
} from './atomics-floor.layout.ts';

/** `Atomics.waitAsync` exists in Node 20 but TypeScript types it only in lib es2024. */
type WaitAsync = (
  array: Int32Array,
  index: number,
  value: number,
  timeout?: number,
) => { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

export function atomicsFloorTarget(options: { spin: boolean }): BlockingTarget {
  const { spin } = options;
  const sab = new SharedArrayBuffer(HEADER_BYTES + DATA_BYTES);
  const header = new Int32Array(sab, 0, HEADER_BYTES / 4);
  const data = new Uint8Array(sab, HEADER_BYTES);
  const payloads = new Map<number, Uint8Array>();
  let worker: BenchWorker | undefined;
  let stopping = false;
  let serving: Promise<void> | undefined;

  function answer(): void {
    if (header[OP] === OP_ADD) {
      header[RESULT] = header[A] + header[B];
    } else if (header[OP] === OP_BYTES) {
      const size = header[A];
      let payload = payloads.get(size);
      if (payload === undefined) {
        payload = makePayload(size);
        payloads.set(size, payload);
      }
      data.set(payload);
      header[LENGTH] = size;
    }
  }

  /** Main thread's side: answer requests until `stop`, never blocking the loop. */
  async function serve(): Promise<void> {
    let seen = 0;
    while (!stopping) {
      Atomics.store(header, MAIN_PARKED, 1);
      const wait = waitAsync(header, REQUEST, seen);
      if (wait.async) await wait.value;
      Atomics.store(header, MAIN_PARKED, 0);
      if (stopping) return;
      let deadline = performance.now() + SPIN_MS;
      for (let k = 1; ; k++) {
        const request = Atomics.load(header, REQUEST);
        if (request !== seen) {
          seen = request;
          answer();
          Atomics.store(header, RESPONSE, seen);
          if (Atomics.load(header, WORKER_PARKED) === 1) Atomics.notify(header, RESPONSE);
          if (spin) deadline = performance.now() + SPIN_MS;
          continue;
        }
        if (!spin) break;
        // Check the clock only every 64 loads: reading it costs more than a load.
        if ((k & 63) === 0 && performance.now() > deadline) break;
      }
    }
  }

  /** Have the worker run one scenario; it reports the time spent in calls. */
  function command(c: FloorCommand): Promise<number> {
    const w = worker;
    if (w === undefined) throw new Error('atomics-floor: not started');
    return w.guard(
      new Promise<number>((resolve, reject) => {
        w.worker.once('message', (reply: FloorReply) => (reply.error === undefined ? resolve(reply.ns) : reject(new Error(reply.error))));
        w.worker.postMessage(c);
      }),
    );
  }

  return {
    name: spin ? 'atomics-floor-spin' : 'atomics-floor-sleep',
    async start() {
      const workerData: FloorWorkerData = { sab, spin };
      worker = new BenchWorker(new URL('./atomics-floor.worker.ts', import.meta.url), { workerData });
      serving = serve();
      // One call so the worker module is loaded before anything is timed.
      await command({ kind: 'burst', calls: 1 });
    },
    async measure(s: BlockingScenario): Promise<Measurement> {
      const ns = await command(s);
      return { ops: s.calls, ns, ...(s.kind === 'fetch' ? { bytes: s.size * s.calls } : {}) };
    },
    async stop() {
      stopping = true;
      // Wake the pending waitAsync so `serve` sees `stopping` and returns.
      Atomics.notify(header, REQUEST);
      await serving;
      await worker?.terminate();
      worker = undefined;
    },
  };
}
