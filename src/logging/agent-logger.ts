/**
 * `ctx.logger` of an agent: a real pino logger with the node logger's levels, whose
 * records are not written in the agent but sent to the node, which writes them
 * through its own logger (one output, one configuration).
 */
import pino, { type Logger } from 'pino';
import type { AgentLogConfig } from './log-config.ts';
import { encodeLogRecord, type LogRecord } from './log-record.ts';

/** Nothing is written in the agent; the hook below sends every record to the node instead. */
const nowhere = { write(): void {} };

/**
 * Builds the agent's logger. Disabled levels cost what they cost in pino (a no-op
 * call); an enabled record is handed to `send` with its child bindings.
 */
export function createAgentLogger(config: AgentLogConfig, send: (record: LogRecord) => void): Logger {
  const chindings = pino.symbols.chindingsSym;
  return pino(
    {
      level: config.level,
      customLevels: config.customLevels,
      useOnlyCustomLevels: config.useOnlyCustomLevels,
      // The node adds its own base bindings and timestamp when it writes the record.
      base: null,
      timestamp: false,
      hooks: {
        logMethod(args, _method, level) {
          send(encodeLogRecord(level, ((this as unknown as Record<symbol, unknown>)[chindings] as string | undefined) ?? '', args));
        },
      },
    },
    nowhere,
    // The levels are the node's, known only at run time: the static type is the plain Logger.
  ) as unknown as Logger;
}

/** The logger of an agent whose node gave no logger: every level disabled. */
export function silentLogger(): Logger {
  return pino({ enabled: false });
}
