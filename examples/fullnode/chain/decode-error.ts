/**
 * Bytes that do not decode as a block or a transaction. Thrown by the stateless
 * decoders, so a peer that sends one is caught before anything touches storage.
 */
export class DecodeError extends Error {
  override name = 'DecodeError';
  readonly code = 'ERR_FULLNODE_DECODE';
}
