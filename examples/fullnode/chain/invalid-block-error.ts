/**
 * A block that decodes but breaks a rule that needs storage to check (wrong height,
 * unknown input, amounts that do not add up, …). Thrown by the node's vertex handler;
 * an agent that submitted the block gets it back as this class (it is registered on
 * both sides) and drops the peer that sent it.
 */
export class InvalidBlockError extends Error {
  override name = 'InvalidBlockError';
  readonly code = 'ERR_FULLNODE_INVALID_BLOCK';

  constructor(
    message: string,
    /** The offending block. */
    readonly block: string,
  ) {
    super(message);
  }
}
