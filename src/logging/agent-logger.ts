/**
 * `ctx.logger` of an agent: a real pino logger with the node logger's levels, whose
 * records are not written in the agent but sent to the node, which writes them
 * through its own logger (one output, one configuration).
 */
import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import type { AgentLogConfig } from './log-config.ts';
import { encodeLogRecord, type LogRecord } from './log-record.ts';

type Pino = typeof import('pino');
let pinoModule: Pino | undefined;

/**
 * pino, loaded when an agent first touches `ctx.logger`, not when it starts: loading it
 * takes 10–17 ms of a worker's start-up here (a bare Worker starts in ~30 ms), which an
 * agent that never logs should not pay.
 */
function loadPino(): Pino {
  return (pinoModule ??= createRequire(import.meta.url)('pino') as Pino);
}

/** Nothing is written in the agent; the hook below sends every record to the node instead. */
const nowhere = { write(): void {} };

/**
 * Builds the agent's logger. Disabled levels cost what they cost in pino (a no-op
 * call); an enabled record is handed to `send` with its child bindings.
 */
export function createAgentLogger(config: AgentLogConfig, send: (record: LogRecord) => void): Logger {
  const pino = loadPino();
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
  return loadPino()({ enabled: false });
}
