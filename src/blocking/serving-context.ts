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
import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import type { Handler, IncomingCall } from '../connection.ts';
import { isPromiseLike } from '../promise-like.ts';

let storage: AsyncLocalStorage<object> | undefined;
/** Blocking handlers that returned a promise which has not settled: their awaits need the context. */
let asyncHandlersRunning = 0;
/** How long without blocking calls before the context is switched off (ms). */
export const IDLE_OFF_MS = 20;
/** The pending switch-off check, if any; `servedSinceCheck` re-arms it. */
let offTimer: NodeJS.Timeout | undefined;
/** The context the switch-off timer is armed in (this module's, at load). */
const offScope = new AsyncResource('agent-ipc:serving-context-off');
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
 * Marks `agent`'s blocking call as served on a thread that cannot wait for a promise (an
 * inline agent's call, or a call-back while the node's thread is parked), until
 * {@link leaveServingNow} is given what this returns. Only the handler's synchronous part
 * is served there (a promise it returns is refused by the caller), so a plain variable set
 * around it is the whole context. This keeps the inline path as cheap as a direct call:
 * no `AsyncLocalStorage.run`, and no switching on of its process-wide promise hook. (A
 * pair of calls, not a wrapper with `try`/`finally`: the caller's own `try` restores it,
 * and the inline path keeps the bytecode; see "Hot paths" in docs/blocking-calls.md.)
 */
export function enterServingNow(agent: object): object | undefined {
  const outer = servingNow;
  servingNow = agent;
  return outer;
}

/** Ends what {@link enterServingNow} began, given what it returned. */
export function leaveServingNow(outer: object | undefined): void {
  servingNow = outer;
}

/**
 * Per agent, an `AsyncResource` made inside `storage.run(agent)`: entering it costs
 * ~13 ns on Node.js 20 to 24, where `storage.run` costs ~20 ns on 20 and 22 but ~250 ns
 * on 24 (its AsyncContextFrame builds a new frame on every run), a sixth of a whole
 * blocking call in a burst. The context a handler runs in is then the one of the first
 * call served for that agent (the serving loop's, started when the agent was), with the
 * agent's store on top.
 */
const scopes = new WeakMap<object, AsyncResource>();
/** Whether `storage` is switched on (Node.js 20 and 22: its promise hook is installed). */
let switchedOn = false;
const noop = (): void => undefined;

/** The scope of `agent`'s serving, with `storage` switched on. */
function servingScope(agent: object): AsyncResource {
  storage ??= new AsyncLocalStorage<object>();
  let scope = scopes.get(agent);
  if (!scope) {
    scope = storage.run(agent, () => new AsyncResource('agent-ipc:blocking-call'));
    scopes.set(agent, scope);
  } else if (!switchedOn) {
    // Switched off since: `run` is the public way to switch it back on.
    storage.run(agent, noop);
  }
  switchedOn = true;
  return scope;
}

/** Runs a handler inside stores of its own, if any (the node's call observer: tracing's `bindStore`). */
export interface HandlerRunner {
  run<A, B, C, R>(token: unknown, fn: (a: A, b: B, c: C) => R, a: A, b: B, c: C): R;
}

/** Calls a handler as a blocking call's: with no {@link IncomingCall}. */
export function callHandler(handler: Handler, payload: unknown): unknown {
  // A blocking call has no IncomingCall (it cannot be cancelled from the agent's side).
  return handler(payload, undefined as unknown as IncomingCall);
}

/**
 * Runs `handler(payload)` as the serving of `agent`'s blocking call, through
 * `runner.run(token, …)` inside the agent's serving scope (so the runner's stores are
 * added to the scope's, not replaced by it). A promise it returns is passed through;
 * the context lasts until it settles.
 */
export function serveBlocking(agent: object, handler: Handler, payload: unknown, runner: HandlerRunner, token: unknown): unknown {
  const scope = servingScope(agent);
  let result: unknown;
  try {
    result = scope.runInAsyncScope(runner.run, runner, token, callHandler, handler, payload, undefined);
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
  // Armed in a context of its own: on Node.js 24 `disable()` edits the context it runs
  // in, which must not be a serving scope's.
  offTimer = offScope.runInAsyncScope(() => setTimeout(switchOffIfIdle, IDLE_OFF_MS).unref());
}

function switchOffIfIdle(): void {
  // Contexts still in use (an async handler's awaits) must stay; off once none is.
  if (servedSinceCheck || asyncHandlersRunning > 0) {
    servedSinceCheck = false;
    offTimer!.refresh();
    return;
  }
  offTimer = undefined;
  switchedOn = false;
  storage?.disable();
}
