/**
 * The work every caller in the load suites does, written once against a minimal
 * synchronous client so that agent-ipc (`main.blocking`), sync-message-port and synckit
 * run literally the same loop. Each scenario returns the nanoseconds spent inside the
 * calls, timed on the calling thread.
 */
import { isPayload } from '../baselines/blocking-target.ts';
import { isText } from './payloads.ts';
import { cpuWork } from './work.ts';

export type LoadScenario =
  /** `calls` back-to-back `add(i, 1)` calls. */
  | { kind: 'burst'; calls: number }
  /**
   * `calls` calls of `add(i, 1)`, each after `workIterations` of `cpuWork` (the gap);
   * only the calls are timed. `gapUs` is what the work takes on a calm machine.
   */
  | { kind: 'spaced'; calls: number; workIterations: number; gapUs: number }
  /** `calls` calls of `bytes(size)`: a fresh `size`-byte Uint8Array each. */
  | { kind: 'bytes'; size: number; calls: number }
  /** `calls` calls of `text(size)`: a `size`-character string each. */
  | { kind: 'text'; size: number; calls: number };

/** What a caller can ask its host, synchronously. */
export interface SyncClient {
  add(a: number, b: number): number;
  bytes(size: number): Uint8Array;
  text(size: number): string;
}

/** Bytes a scenario moves to the caller, for GB/s. */
export function scenarioBytes(s: LoadScenario): number | undefined {
  return s.kind === 'bytes' || s.kind === 'text' ? s.size * s.calls : undefined;
}

export function runScenario(client: SyncClient, s: LoadScenario): number {
  switch (s.kind) {
    case 'burst': {
      const start = process.hrtime.bigint();
      for (let i = 0; i < s.calls; i++) {
        if (client.add(i, 1) !== i + 1) throw new Error(`wrong answer for add(${i}, 1)`);
      }
      return Number(process.hrtime.bigint() - start);
    }
    case 'spaced': {
      let ns = 0n;
      let sink = 0;
      for (let i = 0; i < s.calls; i++) {
        sink ^= cpuWork(s.workIterations, i);
        const start = process.hrtime.bigint();
        const sum = client.add(i, 1);
        ns += process.hrtime.bigint() - start;
        if (sum !== i + 1) throw new Error(`wrong answer for add(${i}, 1)`);
      }
      if (sink === 0.5) throw new Error('unreachable: keeps the work alive');
      return Number(ns);
    }
    case 'bytes': {
      const start = process.hrtime.bigint();
      for (let i = 0; i < s.calls; i++) {
        if (!isPayload(client.bytes(s.size), s.size)) throw new Error(`bad payload of ${s.size} B`);
      }
      return Number(process.hrtime.bigint() - start);
    }
    case 'text': {
      const start = process.hrtime.bigint();
      for (let i = 0; i < s.calls; i++) {
        if (!isText(client.text(s.size), s.size)) throw new Error(`bad text of ${s.size} chars`);
      }
      return Number(process.hrtime.bigint() - start);
    }
  }
}
