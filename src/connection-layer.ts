/**
 * agent-ipc connection layer: the RFC's byte-level IPC, for users who build their own
 * channel between two ends instead of starting agents. `IpcConnection` (pending calls,
 * timeouts, cancellation, close), `IpcClient`/`IpcServer` (command maps, as in the RFC)
 * and the transports that move batches of frames. `import { … } from 'agent-ipc/connection'`.
 *
 * @packageDocumentation
 * @module agent-ipc/connection
 */
export { IpcConnection } from './connection.ts';
export type { CallOptions, Handler, HandlerTable, IncomingCall, IpcConnectionOptions } from './connection.ts';
export type { CallOutcome, ConnectionObserver } from './observability/call-observer.ts';
export { IpcClient, IpcServer } from './rpc.ts';
export type { IpcCommand } from './rpc.ts';
export { PortTransport } from './transports/port-transport.ts';
export type { PortLike } from './transports/port-transport.ts';
export { StreamLink, StreamTransport } from './transports/stream-transport.ts';
export type { StreamLinkOptions } from './transports/stream-transport.ts';
export type { Transport, TransportSink } from './transports/transport.ts';
export type { Batch } from './wire.ts';
