/**
 * The library's `node:diagnostics_channel` channels (see docs/observability.md for
 * every event and its payload). Channels are looked up by name, so a subscriber may
 * subscribe before or after agent-ipc is loaded, and two copies of the library publish
 * on the same channels.
 */
import { channel, tracingChannel } from 'node:diagnostics_channel';
import type { AgentExit } from '../errors.ts';
import type { Isolation } from '../types.ts';
import type { CallOutcome } from './call-observer.ts';
import type { AgentMetrics } from './agent-metrics.ts';

/** Which way a call goes. */
export type CallDirection = 'node-to-agent' | 'agent-to-node';

/** How the caller waits: for a promise, or parked on a mailbox (`main.blocking`, or the node's `agent.blocking`). */
export type CallKind = 'async' | 'blocking';

/**
 * The context object of one call on the `agent-ipc:call` tracing channel: the same
 * object is passed to every event of that call (`start`, `end`, `asyncStart`,
 * `asyncEnd`, `error`), so a subscriber may keep its own state on it (a span, say).
 */
export interface CallTraceContext {
  /** The agent's name. */
  readonly agent: string;
  /** `'node-to-agent'`: the node called the agent; `'agent-to-node'`: the node served the agent. */
  readonly direction: CallDirection;
  /** `'async'` or `'blocking'`. */
  readonly kind: CallKind;
  /** The method (or byte-layer command) called. */
  readonly method: string;
  /**
   * The call's id: for async calls the request id on the agent's connection (one
   * sequence per direction), for blocking calls the agent's count of its blocking calls
   * (`agent-to-node`) or the node's count of its own (`node-to-agent`: `agent.blocking`).
   * `(agent, direction, kind, callId)` names a call among those in flight.
   */
  readonly callId: number;
  /**
   * For a call the agent made while serving a node → agent call: that call's `callId`
   * (its `direction` is `'node-to-agent'`, its `kind` `'async'`). `undefined` otherwise.
   */
  readonly parentCallId: number | undefined;
  /** `performance.now()` on the node's thread when the call started (for async calls read once per event-loop turn: those started in one turn share it; for blocking calls read at the call). */
  readonly startedAt: number;
  /** Set when the call settled: how it ended. */
  outcome?: CallOutcome;
  /** Set when the call settled: milliseconds from start to settle. */
  durationMs?: number;
  /** Set (before the `error` event) when the call failed, timed out, was aborted or cut short. */
  error?: unknown;
}

/** Who an agent is, in the lifecycle channels' payloads. */
export interface AgentIdentity {
  /** The agent's name (`spawnAgent`'s `name`, or `agent-<n>`), as `agent.name` says. */
  readonly agent: string;
  /** Where it runs: `'inline'`, `'thread'` or `'process'`. */
  readonly isolation: Isolation;
  /** The OS process it runs in. */
  readonly pid: number;
  /** Its worker thread id (`undefined` for a process agent). */
  readonly threadId: number | undefined;
}

/**
 * The payload of `agent-ipc:agent:spawn`: an agent was started (published when it was
 * launched, before it reported ready). Also for agents the line server starts.
 */
export interface AgentSpawnMessage extends AgentIdentity {
  /**
   * Reads the agent's metrics (`agent.metrics()`): lets an exporter cover every agent,
   * those started by the line server included, without a handle on them.
   */
  readonly metrics: (options?: {
    /** How long to wait for the agent to measure its runtime, in ms (default 1000; `0`: the last sample received, at once). */
    timeoutMs?: number;
  }) => Promise<AgentMetrics>;
}

/** The payload of `agent-ipc:agent:exit`: an agent has exited. */
export interface AgentExitMessage extends AgentIdentity {
  /** How it exited (code, signal, and the error that ended it, if one did). */
  readonly exit: AgentExit;
}

/** Names of the channels agent-ipc publishes on. */
export const ChannelNames = {
  /** Tracing channel of every call (see {@link CallTraceContext}). */
  CALL: 'agent-ipc:call',
  /** Plain channel: an agent was started ({@link AgentSpawnMessage}). */
  SPAWN: 'agent-ipc:agent:spawn',
  /** Plain channel: an agent exited ({@link AgentExitMessage}). */
  EXIT: 'agent-ipc:agent:exit',
} as const;

/** @internal */
export const callChannel = tracingChannel<CallTraceContext, CallTraceContext>(ChannelNames.CALL);
/** @internal */
export const spawnChannel = channel(ChannelNames.SPAWN);
/** @internal */
export const exitChannel = channel(ChannelNames.EXIT);
