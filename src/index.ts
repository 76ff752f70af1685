/**
 * agent-ipc, node side: start agents and talk to them. `import { … } from 'agent-ipc'`.
 *
 * The other entry points: `agent-ipc/agent` (agent modules), `agent-ipc/lines` and
 * `agent-ipc/lines/agent` (the line server, node and agent side), `agent-ipc/connection`
 * (the RFC's byte-level layer). Each function and class has one home; the error classes,
 * `registerError` and the types both sides of a call use appear in each entry that needs them.
 *
 * @packageDocumentation
 * @module agent-ipc
 */
export { spawnAgent } from './spawn.ts';
export { spawnAgentSync } from './spawn-sync.ts';
export type { SpawnAgentSyncOptions } from './spawn-sync.ts';
export type { Agent, AgentStats, MetricsOptions } from './agent-host.ts';
export type { AgentMetrics, CallMetrics, LatencySummary } from './observability/agent-metrics.ts';
export type { AgentRuntimeSample } from './observability/runtime-sample.ts';
export { ChannelNames } from './observability/channels.ts';
export type { AgentExitMessage, AgentIdentity, AgentSpawnMessage, CallDirection, CallKind, CallTraceContext } from './observability/channels.ts';
export type { SpawnAgentOptions, CloseOptions } from './spawn-options.ts';
export type { CallOptions } from './connection.ts';
export type { SandboxOptions } from './isolation/sandbox-options.ts';
export * from './errors.ts';
export { registerError } from './error-codec.ts';
export type { ErrorClass } from './error-codec.ts';
export type { AgentDefinition, AnyFunction, Blocking, BlockingCallOptions, Isolation, MethodKeys, Promisified, RemoteMethods } from './types.ts';
