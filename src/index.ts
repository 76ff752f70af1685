/**
 * agent-ipc, node side: start agents and talk to them. `import { … } from 'agent-ipc'`.
 *
 * @packageDocumentation
 * @module agent-ipc
 */
export { spawnAgent } from './spawn.ts';
export { spawnAgentSync } from './spawn-sync.ts';
export type { SpawnAgentSyncOptions } from './spawn-sync.ts';
export type { Agent, AgentStats } from './agent-host.ts';
export type { SpawnAgentOptions, CloseOptions } from './spawn-options.ts';
export { IpcConnection } from './connection.ts';
export type { CallOptions, Handler, HandlerTable, IncomingCall, IpcConnectionOptions } from './connection.ts';
export { IpcClient, IpcServer } from './rpc.ts';
export type { IpcCommand } from './rpc.ts';
export { PortTransport } from './transports/port-transport.ts';
export type { PortLike } from './transports/port-transport.ts';
export { StreamLink, StreamTransport } from './transports/stream-transport.ts';
export type { StreamLinkOptions } from './transports/stream-transport.ts';
export type { Transport, TransportSink } from './transports/transport.ts';
export { FrameKind } from './wire.ts';
export type { Batch } from './wire.ts';
export * from './errors.ts';
export { registerError } from './error-codec.ts';
export type { ErrorClass } from './error-codec.ts';
export type {
  AgentContext,
  AgentDefinition,
  AnyFunction,
  Blocking,
  BlockingCallOptions,
  Isolation,
  MainHandle,
  MethodKeys,
  Promisified,
  RemoteMethods,
} from './types.ts';
export { createLineServer } from './lines/line-server.ts';
export type { LineServer, LineServerEvents, LineServerListener } from './lines/line-server.ts';
export type { LineServerOptions, LineAgents } from './lines/line-server-options.ts';
export type { LineConnectionInfo } from './lines/served-connection.ts';
export type { LineDirection, PeerAddress } from './lines/line-methods.ts';
