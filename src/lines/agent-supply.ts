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
  /** An agent for a new connection. */
  acquire(): Promise<LineAgent>;
  /** The connection that `acquire` served is finished. */
  release(agent: LineAgent): void;
  /** Closes every agent; resolves when all have exited. */
  close(): Promise<void>;
}

/** Reports an agent-level failure that belongs to no connection (a failed replacement). */
export type SupplyErrorListener = (error: Error) => void;

/** What `acquire` rejects with once the server is closing. */
export function closedError(): ConnectionClosedError {
  return new ConnectionClosedError('the line server is closing');
}

/** Names agents `<prefix>-1`, `<prefix>-2`, … */
export function namer(prefix: string): () => string {
  let spawned = 0;
  return () => `${prefix}-${++spawned}`;
}
