/**
 * The calls of a line server pool's `acquire` (a new connection asking for an agent), as
 * seen by a hook on `AgentPool.prototype`: a test waits on them ("the connection has
 * asked the pool") instead of sleeping. The hook wraps an internal of this process (ava
 * runs each test file in a process of its own), so a file installs it once, at load.
 */
import { AgentPool } from '../../src/lines/agent-pool.ts';
import type { LineAgent } from '../../src/lines/line-agent.ts';

/** What {@link countAcquires} counts. */
export interface AcquireCount {
  /** Calls of `acquire` since the hook was installed or last {@link AcquireCount.reset}. */
  readonly count: number;
  /** Starts the count over (a test's `beforeEach`). */
  reset(): void;
}

/**
 * Wraps `AgentPool.prototype.acquire` so that every call is counted; `onCall` runs after
 * each (the count already includes it) with the pool and the call's promise, e.g. an
 * event-wait's `changed()`.
 */
export function countAcquires(onCall: (pool: AgentPool, acquiring: Promise<LineAgent>) => void = () => undefined): AcquireCount {
  let count = 0;
  const acquire = Object.getOwnPropertyDescriptor(AgentPool.prototype, 'acquire')!.value as AgentPool['acquire'];
  AgentPool.prototype.acquire = function (this: AgentPool, ...args: Parameters<AgentPool['acquire']>): Promise<LineAgent> {
    const acquiring = acquire.apply(this, args);
    count++;
    onCall(this, acquiring);
    return acquiring;
  };
  return {
    get count() {
      return count;
    },
    reset() {
      count = 0;
    },
  };
}
