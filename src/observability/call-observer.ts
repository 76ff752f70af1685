/**
 * The call observer seam: the one place every call an agent's connection carries is
 * seen to start and to settle, with its outcome. `stats`, tracing and metrics are all
 * built on it (see {@link AgentCallObserver}); the connection and the blocking servers
 * only call these hooks and know nothing of what is done with them.
 *
 * A hook's return value is an opaque token the caller keeps with the call and hands
 * back when it settles, so the observer needs no table of calls in flight.
 */

/** How a call ended. */
export type CallOutcome =
  /** Answered with a value. */
  | 'ok'
  /** Answered with an error (the handler threw or rejected, unknown method, limits). */
  | 'error'
  /** No answer in time: the caller gave up with `TimeoutError`. */
  | 'timeout'
  /**
   * The caller's `AbortSignal` fired (on the caller's side; the side serving a call its
   * caller cancelled or gave up on records what its handler did).
   */
  | 'aborted'
  /** The connection closed (close, exit, crash) before an answer. */
  | 'closed';

/** What an {@link IpcConnection} reports to its observer (all hooks are called synchronously). */
export interface ConnectionObserver {
  /** A request was queued to the other side with request id `id`. */
  outgoingStarted(id: number, command: string): unknown;
  /** It settled. `error` is the rejection (for every outcome but `'ok'`). */
  outgoingSettled(token: unknown, outcome: CallOutcome, error: unknown): void;
  /** A request from the other side is about to be served (or refused). */
  incomingStarted(id: number, command: string): unknown;
  /**
   * Runs its handler: must call `fn(a, b, c)` once and return what it returns (or throw
   * what it throws). Lets the observer run the handler in a context (agent-ipc's enters
   * the stores bound to its tracing channel). Absent: the handler is called directly.
   */
  run?<A, B, C, R>(token: unknown, fn: (a: A, b: B, c: C) => R, a: A, b: B, c: C): R;
  /** Its handler returned a promise: the call goes on after this turn. */
  incomingPending(token: unknown): void;
  /**
   * Its answer was sent (or dropped, `'closed'`), with the outcome its caller sees: an
   * answer the transport refused (too large, not encodable) is an `'error'`, `error`
   * what replaced it.
   */
  incomingSettled(token: unknown, outcome: CallOutcome, error: unknown): void;
}
