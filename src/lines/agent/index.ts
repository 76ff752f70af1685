/**
 * agent-ipc line server, agent side: declare the protocol that handles one connection's
 * lines. `import { defineLineProtocol } from 'agent-ipc/lines/agent'`.
 *
 * @packageDocumentation
 * @module agent-ipc/lines/agent
 */
export { defineLineProtocol } from './line-protocol.ts';
export type { LineConnection, LineProtocol, LineProtocolDefinition, LineProtocolFactory } from './protocol-types.ts';
export type { LineDirection, PeerAddress } from '../shared/line-methods.ts';
