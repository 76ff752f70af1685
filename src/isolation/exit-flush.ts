/**
 * Last words of a thread or process agent. Frames leave at the end of an event-loop
 * turn, and an agent that crashes or calls `process.exit()` has no next turn: its last
 * log records and answers would be lost. These hooks send them synchronously as the
 * agent goes down, and tell the node about an uncaught error. (Not for inline agents:
 * they share the node's process.)
 */
import type { IpcConnection } from '../connection.ts';
import { serializeError } from '../error-codec.ts';
import { Control } from './control.ts';

/**
 * Flushes `connection` when the thread or process exits or dies of an uncaught error;
 * `waitWritten` then waits until the flushed frames are out, for a transport that does
 * not write at once.
 */
export function flushOnExit(connection: IpcConnection, waitWritten: () => void = () => undefined): void {
  const flush = (): void => {
    try {
      connection.flush();
      waitWritten();
    } catch {
      // Exiting anyway; nothing useful to do with a failure here.
    }
  };
  // The monitor runs before the default handler ends the agent, and does not stop it.
  process.on('uncaughtExceptionMonitor', (error) => {
    connection.notify(Control.CRASHED, serializeError(error));
    flush();
  });
  process.on('exit', flush);
}
