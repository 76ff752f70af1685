/**
 * The contract shared by everything the blocking suite compares: agent-ipc, synckit and
 * the two Atomics floors. Each is a fixture that can run three scenarios and report the
 * time spent in calls only, measured on the calling thread.
 */
import type { Case, Measurement } from '../harness/case.ts';
import type { Fixture } from '../harness/fixture.ts';

export type BlockingScenario =
  /** `calls` back-to-back calls of `add(i, 1)`: the storage-read burst of a sync loop. */
  | { kind: 'burst'; calls: number }
  /** `calls` calls of `add(i, 1)` with a `gapMs` sleep before each: an idle peer. */
  | { kind: 'spaced'; calls: number; gapMs: number }
  /** `calls` calls of `bytes(size)`, each answered with a fresh `size`-byte Uint8Array. */
  | { kind: 'fetch'; size: number; calls: number };

export interface BlockingTarget extends Fixture {
  measure(scenario: BlockingScenario): Promise<Measurement>;
}

/** Something that measures scenarios of type `S` (a blocking target, a load target). */
interface ScenarioTarget<S> {
  name: string;
  measure(scenario: S): Promise<Measurement>;
}

/**
 * One table row: `target` running `scenario`. `startError` is why the target's fixture
 * failed to start, if it did; the row is then skipped (or failed) with that reason.
 */
export function blockingCase<S = BlockingScenario>(target: ScenarioTarget<S>, scenario: S, startError?: unknown): Case {
  return {
    name: target.name,
    setup() {
      // Rethrowing a SkipCase marks the row skipped; any other error marks it failed.
      if (startError === undefined) return;
      throw startError instanceof Error ? startError : new Error(String(startError));
    },
    run: () => target.measure(scenario),
  };
}

/**
 * The payload `bytes(size)` answers with. Every contender serves the same content and
 * every caller spot-checks it, so a contender that returned the wrong bytes, or none,
 * could not look fast.
 */
const payloads = new Map<number, Uint8Array>();

/** {@link makePayload}, built once per size (outside any timed region) and then served as it is. */
export function cachedPayload(size: number): Uint8Array {
  let payload = payloads.get(size);
  if (payload === undefined) {
    payload = makePayload(size);
    payloads.set(size, payload);
  }
  return payload;
}

export function makePayload(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31) & 0xff;
  return bytes;
}

/** Cheap check of a received payload: its length and two of its bytes. */
export function isPayload(value: unknown, size: number): boolean {
  if (!(value instanceof Uint8Array) || value.length !== size) return false;
  const mid = size >> 1;
  return value[mid] === ((mid * 31) & 0xff) && value[size - 1] === (((size - 1) * 31) & 0xff);
}
