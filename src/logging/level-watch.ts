/**
 * Follows level changes of the node's logger for every agent that logs through it.
 * pino emits `level-change` on an emitter its whole logger tree shares, so one
 * listener per logger is enough (and many agents do not trip the emitter's
 * max-listeners warning); each agent hears the logger's current level.
 */
import type { Logger } from 'pino';

interface Watch {
  listeners: Set<(level: string) => void>;
  onChange: () => void;
}

const watches = new WeakMap<Logger, Watch>();

/** Calls `listener` with `logger.level` after any level change in its tree; returns the unsubscribe. */
export function watchLevel(logger: Logger, listener: (level: string) => void): () => void {
  let watch = watches.get(logger);
  if (!watch) {
    const listeners = new Set<(level: string) => void>();
    const onChange = (): void => {
      const level = logger.level;
      for (const each of listeners) each(level);
    };
    watch = { listeners, onChange };
    watches.set(logger, watch);
    logger.on('level-change', onChange);
  }
  const current = watch;
  current.listeners.add(listener);
  return () => {
    current.listeners.delete(listener);
    if (current.listeners.size === 0 && watches.get(logger) === current) {
      watches.delete(logger);
      logger.off('level-change', current.onChange);
    }
  };
}
