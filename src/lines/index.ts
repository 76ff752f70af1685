/**
 * agent-ipc line server, node side: a TCP line server (the RFC's `IpcLineReceiver`)
 * whose connections run their protocol in agents. `import { createLineServer } from 'agent-ipc/lines'`.
 * The protocol itself is declared in an agent module with `agent-ipc/lines/agent`.
 *
 * @packageDocumentation
 * @module agent-ipc/lines
 */
export { createLineServer } from './line-server.ts';
export type { LineServer, LineServerEvents, LineServerListener } from './line-server.ts';
export type { LineServerOptions, LineAgents } from './line-server-options.ts';
export type { AgentRestartInfo } from './agent-supply.ts';
export type { LineConnectionInfo } from './served-connection.ts';
export type { LineDirection, PeerAddress } from './shared/line-methods.ts';
