/**
 * The agent module of the P2P protocol: what the line server loads for each connection,
 * inline or in an agent (`createLineServer({ agent: <this file> })`). It builds one
 * `PeerConnection` per connection. Keep its imports free of node-side modules (storage,
 * HTTP): in an agent they would be loaded for nothing.
 */
import { defineLineProtocol } from 'agent-ipc/lines/agent';
import { registerError } from 'agent-ipc/agent';
import { DecodeError } from '../chain/decode-error.ts';
import { InvalidBlockError } from '../chain/invalid-block-error.ts';
import type { NodeApi } from '../node/node-api.ts';
import { PeerConnection } from './peer-connection.ts';
import type { ProtocolSettings } from './protocol-settings.ts';

// The node's vertex handler throws these; registered, they arrive here as themselves.
registerError(InvalidBlockError);
registerError(DecodeError);

export default defineLineProtocol<NodeApi>((main, conn, ctx) => {
  const settings = ctx.data as ProtocolSettings;
  return new PeerConnection(main, conn, settings, ctx.logger.child({ connection: conn.id }));
});
