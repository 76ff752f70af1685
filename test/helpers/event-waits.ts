/**
 * Waiting on events without sleeping: a test records what happens (hooks, channel
 * messages, server events) and calls `changed()` after each; `until(done)` resolves as
 * soon as `done()` holds, checked now and after every change. No timer, so no timing.
 */
export interface EventWaits {
  /** Something the waits may depend on happened: checks every pending wait again. */
  changed(): void;
  /** Resolves once `done()` holds. */
  until(done: () => boolean): Promise<void>;
}

/** A set of waits of one test file. */
export function eventWaits(): EventWaits {
  const waiters = new Set<() => void>();
  return {
    changed(): void {
      for (const check of [...waiters]) check();
    },
    until(done: () => boolean): Promise<void> {
      return new Promise((resolve) => {
        const check = (): void => {
          if (!done()) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
      });
    },
  };
}
