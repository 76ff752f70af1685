/**
 * What the host (the node's main thread, or synckit's answering worker) serves to the
 * callers of the load suites. One implementation for every contender, with payloads
 * built once and served as they are, so no contender pays for building them.
 */
import { cachedPayload } from '../baselines/blocking-target.ts';
import { makeText } from './payloads.ts';

export interface LoadHostApi {
  add(a: number, b: number): number;
  bytes(size: number): Uint8Array;
  text(size: number): string;
}

export const loadHost: LoadHostApi = {
  add: (a, b) => a + b,
  bytes: (size) => cachedPayload(size),
  text: (size) => makeText(size),
};

/** A request as the message-based baselines (sync-message-port, synckit) send it. */
export type HostRequest = { op: 'add'; a: number; b: number } | { op: 'bytes'; size: number } | { op: 'text'; size: number };

export function answerRequest(r: HostRequest): number | Uint8Array | string {
  switch (r.op) {
    case 'add':
      return loadHost.add(r.a, r.b);
    case 'bytes':
      return loadHost.bytes(r.size);
    case 'text':
      return loadHost.text(r.size);
  }
}
