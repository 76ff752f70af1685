/**
 * Where a connection's agent comes from: a fresh agent per connection (the RFC's
 * design: full isolation between peers) or a fixed pool shared by all connections (the
 * RFC's open question 4: fewer agents, peers isolated from the node but not from each
 * other).
 */
import { ConnectionClosedError } from '../errors.ts';
import type { LineAgent } from './line-agent.ts';

/** Hands out agents to connections. */
export interface AgentSupply {
  /** Starts what must run before the first connection (the pool's agents). */
  start(): Promise<void>;
  /**
   * An agent for a new connection. Aborting `signal` gives the connection up (its socket
   * was reset or closed while it waited, or the server closes it): the wait ends at once, the promise
   * rejects with the signal's reason, and no agent is handed over for it (a pool forgets
   * the waiter and its timer; a per-connection agent still starting is stopped).
   */
  acquire(signal?: AbortSignal): Promise<LineAgent>;
  /** The connection that `acquire` served is finished. */
  release(agent: LineAgent): void;
  /**
   * Gives up on every agent start in progress (they are stopped, and what waits on them
   * rejects) and refuses new ones; the running agents go on. The first step of a server
   * close, so that `close()` settles even while an agent is stuck starting.
   */
  stopStarting(): void;
  /** Closes every agent; resolves when all have exited. */
  close(): Promise<void>;
}

/** What a pool tells its server when it replaces an agent: the `agentRestart` event. */
export interface AgentRestartInfo {
  /** The agent that exited, crashed, hung or could not start; a new one takes its place. */
  readonly agent: string;
  /**
   * Why: `AgentExitedError` (it exited or crashed), `AgentUnresponsiveError` (it hung),
   * or the error its replacement failed to start with (e.g. `StartupTimeoutError`).
   */
  readonly reason: Error;
  /** Failures in a row of this place in the pool, this one included (1: the first). */
  readonly failures: number;
  /**
   * How long the pool waits before starting the replacement, in ms: 0 after a first
   * failure, then 100 ms doubling with each failure in a row, at most 10 s.
   */
  readonly delayMs: number;
}

/** What a pool reports that belongs to no connection. */
export interface SupplyReports {
  /** An agent-level failure: a replacement could not start. */
  error(error: Error): void;
  /** An agent is being replaced. */
  restart(info: AgentRestartInfo): void;
}

/** What `acquire` rejects with once the server is closing. */
export function closedError(): ConnectionClosedError {
  return new ConnectionClosedError('the line server is closing');
}

/** Why an aborted `signal` gave a wait up, as an `Error`. */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new ConnectionClosedError('the connection stopped waiting for an agent');
}

/** Names agents `<prefix>-1`, `<prefix>-2`, … */
export function namer(prefix: string): () => string {
  let spawned = 0;
  return () => `${prefix}-${++spawned}`;
}
