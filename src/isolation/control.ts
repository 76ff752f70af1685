/**
 * Control messages between the node and an agent runtime. They travel as NOTIFY
 * frames, which never reach user handlers, so an agent cannot forge a method call
 * with them and a user method cannot be named like one.
 */
export const Control = {
  /** agent → node: the factory ran, methods are served. Payload: 0. */
  READY: 'ready',
  /** agent → node: loading or the factory failed. Payload: a WireError. */
  STARTUP_FAILED: 'startup-failed',
  /** node → agent: finish in-flight work and exit. Payload: 0. */
  CLOSE: 'close',
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
}
