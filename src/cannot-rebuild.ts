/**
 * The error of something this thread received and cannot rebuild: malformed bytes, or a
 * value its deserializer refuses (nested deeper than its stack allows, a kind V8 will not
 * rebuild on another thread). One place for the blocking bodies (a `ProtocolError` for
 * that call alone) and the thread port's batches (the connection closes with it).
 */
import { ProtocolError } from './errors.ts';

/** `what` was received and cannot be rebuilt; `error` (this thread's decoder's) is the cause. A `ProtocolError` passes as it is. */
export function cannotRebuild(what: string, error: unknown): ProtocolError {
  if (error instanceof ProtocolError) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new ProtocolError(`${what} cannot be rebuilt on this thread (${reason})`, { cause: error });
}
