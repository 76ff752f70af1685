/**
 * What an agent is told about the node's logger. Only the levels: records are
 * formatted by the node's own logger (see `agent-log-writer.ts`), so bindings,
 * serializers, redaction, formatters, timestamps and the destination are the node's
 * by construction and never need to be copied — most of them could not be (they are
 * functions).
 */
import pino, { type Logger } from 'pino';

/** The levels an agent's logger needs to filter records as the node's logger would. */
export interface AgentLogConfig {
  /** The node logger's level label at spawn time (later changes arrive as control messages). */
  level: string;
  /** Levels of the node's logger that pino does not define by default, label → value. */
  customLevels?: Record<string, number>;
  /** Whether the node's logger has only its custom levels. */
  useOnlyCustomLevels: boolean;
}

/** Reads the level configuration of `logger` for an agent. */
export function logConfigOf(logger: Logger): AgentLogConfig {
  const useOnlyCustomLevels = (logger as unknown as Record<symbol, unknown>)[pino.symbols.useOnlyCustomLevelsSym] === true;
  const defaults = pino.levels.values;
  let customLevels: Record<string, number> | undefined;
  for (const [label, value] of Object.entries(logger.levels.values)) {
    if (!useOnlyCustomLevels && defaults[label] === value) continue;
    customLevels ??= {};
    customLevels[label] = value;
  }
  return { level: logger.level, customLevels, useOnlyCustomLevels };
}
