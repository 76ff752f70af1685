/**
 * Observation of an inline agent's blocking calls. They are direct calls of the node's
 * handler from `isolation/inline.ts` and do not pass through the agent host's blocking
 * server, so the handler table given to the inline launcher reports to the agent's
 * observer itself.
 */
import type { Handler, HandlerTable, IncomingCall } from '../connection.ts';
import { UnknownMethodError } from '../errors.ts';
import { isPromiseLike } from '../promise-like.ts';
import type { AgentCallObserver } from './agent-observer.ts';

/**
 * `handlers`, each call reported to `observer()` as a blocking call (looked up at call
 * time: the agent host, which owns the observer, is built after the launcher).
 */
export function observedBlockingHandlers(handlers: HandlerTable, observer: () => AgentCallObserver | undefined): HandlerTable {
  // One wrapper per served command, not one per call (a blocking call costs ~1 µs inline).
  // Only commands the node serves are kept, so an agent cannot grow it with made-up names.
  const wrappers = new Map<string, { handler: Handler; wrapper: Handler }>();
  const observe = (command: string, handler: Handler | undefined): Handler => {
    return (payload: unknown, call: IncomingCall) => {
      const seen = observer();
      const token = seen?.blockingStarted(command);
      if (!handler) {
        const error = new UnknownMethodError(command);
        seen?.blockingSettled(token, 'error', error);
        throw error;
      }
      let result: unknown;
      try {
        result = seen ? seen.run(token, handler, payload, call, undefined) : handler(payload, call);
      } catch (error) {
        seen?.blockingSettled(token, 'error', error);
        throw error;
      }
      // The inline launcher refuses a promise (the node's thread cannot wait for itself).
      seen?.blockingSettled(token, isPromiseLike(result) ? 'error' : 'ok', undefined);
      return result;
    };
  };
  return {
    get(command: string): Handler {
      const handler = handlers.get(command);
      if (!handler) return observe(command, undefined);
      let known = wrappers.get(command);
      if (known?.handler !== handler) wrappers.set(command, (known = { handler, wrapper: observe(command, handler) }));
      return known.wrapper;
    },
  };
}
