/**
 * Control messages between the node and an agent runtime. They travel as NOTIFY
 * frames, which never reach user handlers, so an agent cannot forge a method call
 * with them and a user method cannot be named like one.
 */
import type { AgentLogConfig } from '../logging/log-config.ts';

/** The names of the control messages, with who sends them and what they carry. */
export const Control = {
  /** agent → node: the factory ran, methods are served. Payload: 0. */
  READY: 'ready',
  /** agent → node: loading or the factory failed. Payload: a WireError. */
  STARTUP_FAILED: 'startup-failed',
  /** node → agent: finish in-flight work and exit. Payload: 0. */
  CLOSE: 'close',
  /** agent → node: an uncaught error is ending the agent. Payload: a WireError. */
  CRASHED: 'crashed',
  /** agent → node: one log record (see `logging/log-record.ts`). */
  LOG: 'log',
  /** node → agent: the node's logger changed level. Payload: the level's label. */
  LOG_LEVEL: 'log-level',
  /**
   * node → agent: someone traces calls (`true`) or no longer does (`false`). While on,
   * the agent tells the node which node call it serves before the calls it makes (see
   * `observability/agent-observer.ts`, SERVING_COMMAND). Payload: a boolean.
   */
  TRACE: 'trace',
  /** node → agent: measure your runtime and send it (`RUNTIME`). Payload: 0. */
  SAMPLE: 'sample',
  /** agent → node: the agent's runtime (`observability/runtime-sample.ts`). */
  RUNTIME: 'runtime',
} as const;

/** What a thread or process agent is started with. Must be structured-cloneable. */
export interface AgentInit {
  /** The agent module, as a `file:` URL string. */
  entry: string;
  name: string;
  data: unknown;
  isolation: 'thread' | 'process' | 'inline';
  timeoutMs: number;
  maxMessageBytes: number;
  maxInFlight: number;
  /** How to set up `ctx.logger`; absent when the node gave no logger (agents log nothing). */
  log?: AgentLogConfig;
  /** The `priority` option (a nice value): lowered to it at start-up; absent, unchanged. */
  priority?: number;
}
