/**
 * The commands of the sync protocol, by the state that accepts them. A command the
 * current state does not list closes the connection (as an unknown one does).
 */
export const Command = {
  // every state
  ERROR: 'ERROR',
  // handshake
  HELLO: 'HELLO',
  PEER_ID: 'PEER-ID',
  READY: 'READY',
  // ready: liveness
  PING: 'PING',
  PONG: 'PONG',
  // ready: block sync, request → reply
  GET_BEST_BLOCK: 'GET-BEST-BLOCK',
  BEST_BLOCK: 'BEST-BLOCK',
  GET_PEER_BLOCK_HASHES: 'GET-PEER-BLOCK-HASHES',
  PEER_BLOCK_HASHES: 'PEER-BLOCK-HASHES',
  GET_NEXT_BLOCKS: 'GET-NEXT-BLOCKS',
  BLOCKS: 'BLOCKS',
  BLOCKS_END: 'BLOCKS-END',
  STOP_BLOCK_STREAMING: 'STOP-BLOCK-STREAMING',
  // ready: real-time relay of new blocks
  DATA: 'DATA',
} as const;

export type CommandName = (typeof Command)[keyof typeof Command];

/** Why a block stream ended (the payload of BLOCKS-END). */
export const StreamEnd = {
  /** The requested end block was sent. */
  END_REACHED: 'end-reached',
  /** The best chain ended before the end block. */
  NO_MORE_BLOCKS: 'no-more-blocks',
  /** The stream limit (or the requested quantity) was reached first. */
  LIMIT_EXCEEDED: 'limit-exceeded',
  /** The requester sent STOP-BLOCK-STREAMING. */
  STOPPED: 'stream-stopped',
  /** The start block is not on the server's best chain. */
  INVALID_START: 'invalid-start',
} as const;

export type StreamEndCode = (typeof StreamEnd)[keyof typeof StreamEnd];
