/**
 * The peer broke the sync protocol: a malformed payload, a command the current state
 * does not accept, a block that fails a check. The connection is closed with it, after
 * an ERROR line telling the peer why.
 */
export class ProtocolViolation extends Error {
  override name = 'ProtocolViolation';
  readonly code = 'ERR_FULLNODE_PROTOCOL_VIOLATION';
}
