/**
 * Which agent's blocking call the node is serving right now — in the handler's
 * synchronous part and in everything it awaits — so that a call back into that agent
 * (which is parked and cannot answer) fails with `DeadlockError` instead of hanging.
 *
 * It is an `AsyncLocalStorage`, and on Node.js 20 an enabled one installs a promise hook
 * for the whole process: every `await` on the node's thread then costs ~3.5× as much
 * (measured: ~90 → ~330 ns; ~20% fewer pipelined async calls per second). So it is
 * enabled only while blocking calls are being served: it is switched off once no
 * blocking call was served for {@link IDLE_OFF_MS} and no async blocking handler is
 * still running, and back on (~1.5 µs) by the next blocking call.
 *
 * Not at the end of every turn: an agent whose calls each wake the node (parked calls,
 * the rule on a busy machine) gets one turn per call, and switching on and off each
 * turn cost ~4.5 µs of CPU per call (measured pinned to one core: ~17 → ~12 µs of CPU
 * per call), a third of such a call's whole cost.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Handler, IncomingCall } from '../connection.ts';
import { isPromiseLike } from '../promise-like.ts';

let storage: AsyncLocalStorage<object> | undefined;
/** Blocking handlers that returned a promise which has not settled: their awaits need the context. */
let asyncHandlersRunning = 0;
/** How long without blocking calls before the context is switched off (ms). */
export const IDLE_OFF_MS = 20;
/** The pending switch-off check, if any; `servedSinceCheck` re-arms it. */
let offTimer: NodeJS.Timeout | undefined;
let servedSinceCheck = false;

/**
 * The agent whose blocking call is being served by a handler that must answer before its
 * caller returns (see {@link serveBlockingNow}); it takes precedence over the storage's,
 * being always the innermost.
 */
let servingNow: object | undefined;

/** The agent whose blocking call the current code serves, if any. */
export function servingBlockingOf(): object | undefined {
  return servingNow ?? storage?.getStore();
}

/**
 * Runs `handler(payload)` as the serving of `agent`'s blocking call on a thread that
 * cannot wait for a promise (an inline agent's call, or a call-back while the node's
 * thread is parked): only the handler's synchronous part is served (a promise it returns
 * is refused by the caller), so a plain variable set around it is the whole context.
 * This keeps the inline path as cheap as a direct call: no `AsyncLocalStorage.run`, and
 * no switching on of its process-wide promise hook.
 */
export function serveBlockingNow(agent: object, handler: Handler, payload: unknown): unknown {
  const outer = servingNow;
  servingNow = agent;
  try {
    return handler(payload, undefined as unknown as IncomingCall);
  } finally {
    servingNow = outer;
  }
}

/**
 * Runs `handler(payload)` as the serving of `agent`'s blocking call. A promise it
 * returns is passed through; the context lasts until it settles.
 */
export function serveBlocking(agent: object, handler: Handler, payload: unknown): unknown {
  storage ??= new AsyncLocalStorage<object>();
  let result: unknown;
  try {
    // A blocking call has no IncomingCall (it cannot be cancelled from the agent's side).
    result = storage.run(agent, handler, payload, undefined as unknown as IncomingCall);
  } finally {
    switchOffLater();
  }
  if (isPromiseLike(result)) {
    asyncHandlersRunning++;
    const done = (): void => {
      asyncHandlersRunning--;
      switchOffLater();
    };
    result.then(done, done);
  }
  return result;
}

function switchOffLater(): void {
  servedSinceCheck = true;
  if (offTimer) return;
  offTimer = setTimeout(switchOffIfIdle, IDLE_OFF_MS).unref();
}

function switchOffIfIdle(): void {
  // Contexts still in use (an async handler's awaits) must stay; off once none is.
  if (servedSinceCheck || asyncHandlersRunning > 0) {
    servedSinceCheck = false;
    offTimer!.refresh();
    return;
  }
  offTimer = undefined;
  storage?.disable();
}
