/**
 * Caller side of the Atomics floor, in a worker as in agent-ipc: write the request into
 * the mailbox, bump REQUEST, then block until RESPONSE matches. The main thread tells
 * it what scenario to run over `parentPort` and gets back the time spent in calls.
 */
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { sleepBlocking } from '../harness/sleep.ts';
import { isPayload } from './blocking-target.ts';
import {
  A,
  B,
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

const { sab, spin } = workerData as FloorWorkerData;
const header = new Int32Array(sab, 0, HEADER_BYTES / 4);
const data = new Uint8Array(sab, HEADER_BYTES);
let seq = 0;

/** One blocking round trip. Returns when main has answered request `seq`. */
function roundTrip(op: number, a: number, b: number): void {
  header[OP] = op;
  header[A] = a;
  header[B] = b;
  seq++;
  // The seq-cst store publishes the plain writes above along with the new sequence.
  Atomics.store(header, REQUEST, seq);
  const mainParked = Atomics.load(header, MAIN_PARKED) === 1;
  if (mainParked) Atomics.notify(header, REQUEST);
  // Spin only for a main thread that is awake and spinning itself: it answers in well
  // under a microsecond. One that was parked needs tens of µs to wake anyway.
  if (spin && !mainParked) {
    // Check the clock only every 64 loads: reading it costs more than a load.
    const deadline = performance.now() + SPIN_MS;
    for (let k = 1; Atomics.load(header, RESPONSE) !== seq; k++) {
      if ((k & 63) === 0 && performance.now() > deadline) break;
    }
  }
  if (Atomics.load(header, RESPONSE) === seq) return;
  // Park until main stores `seq`; a wake-up with nothing new just waits again.
  Atomics.store(header, WORKER_PARKED, 1);
  while (Atomics.load(header, RESPONSE) !== seq) Atomics.wait(header, RESPONSE, seq - 1);
  Atomics.store(header, WORKER_PARKED, 0);
}

function add(a: number, b: number): number {
  roundTrip(OP_ADD, a, b);
  return header[RESULT];
}

function bytes(size: number): Uint8Array {
  roundTrip(OP_BYTES, size, 0);
  // Copy into a fresh, unshared buffer: the caller owns what it got, as with any call
  // that returns a Uint8Array. allocUnsafeSlow skips zero-filling memory that is about
  // to be overwritten (the fastest way seen here: ~8 GB/s for 8 MiB against ~4 GB/s for
  // `slice`), and is a Buffer, i.e. a Uint8Array.
  const length = header[LENGTH];
  const out = Buffer.allocUnsafeSlow(length);
  out.set(data.subarray(0, length));
  return out;
}

function run(c: FloorCommand): number {
  switch (c.kind) {
    case 'burst': {
      const start = process.hrtime.bigint();
      for (let i = 0; i < c.calls; i++) {
        if (add(i, 1) !== i + 1) throw new Error(`wrong answer for add(${i}, 1)`);
      }
      return Number(process.hrtime.bigint() - start);
    }
    case 'spaced': {
      let ns = 0n;
      for (let i = 0; i < c.calls; i++) {
        sleepBlocking(c.gapMs);
        const start = process.hrtime.bigint();
        if (add(i, 1) !== i + 1) throw new Error(`wrong answer for add(${i}, 1)`);
        ns += process.hrtime.bigint() - start;
      }
      return Number(ns);
    }
    case 'fetch': {
      const start = process.hrtime.bigint();
      for (let i = 0; i < c.calls; i++) {
        if (!isPayload(bytes(c.size), c.size)) throw new Error(`bad payload of ${c.size} B`);
      }
      return Number(process.hrtime.bigint() - start);
    }
  }
}

parentPort?.on('message', (c: FloorCommand) => {
  let reply: FloorReply;
  try {
    reply = { ns: run(c) };
  } catch (error) {
    reply = { ns: 0, error: error instanceof Error ? error.message : String(error) };
  }
  parentPort?.postMessage(reply);
});
