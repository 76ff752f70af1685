/**
 * The contract between the line server (node side) and a line-protocol agent: the
 * method names each side calls on the other, and what those calls carry. A
 * line-protocol agent is an ordinary agent whose methods are these; nothing below the
 * typed call layer knows about lines.
 *
 * Message path of one connection:
 *
 *   socket → LineReceiver → node queue ─ deliver(id, lines[]) ─→ session.lineReceived × n
 *   socket ← write ←─────────────────── send(id, lines[]) ←──── conn.sendLine × n
 *
 * `deliver` resolves once every line in it has been processed, and the node sends the
 * next batch only then, so lines of one connection are handled one at a time, in order.
 */
import type { WireError } from '../../error-codec.ts';

/** Prefix of every reserved method name; `expose` may not use it. */
export const RESERVED_PREFIX = 'agent-ipc:lines:';

/** Method names. Part of the node ↔ agent protocol: never rename. */
export const LineMethod = {
  /** node → agent: a connection was made; run the factory and `connectionMade`. */
  OPEN: 'agent-ipc:lines:open',
  /** node → agent: lines, in order; resolves when all were processed. */
  DELIVER: 'agent-ipc:lines:deliver',
  /** node → agent: the connection is gone; run `connectionLost` and forget it. */
  LOST: 'agent-ipc:lines:lost',
  /** node → agent: the socket's write buffer filled up (false) or drained (true). */
  WRITABLE: 'agent-ipc:lines:writable',
  /** agent → node: lines to write, in order. */
  SEND: 'agent-ipc:lines:send',
  /** agent → node: close the connection (after what was sent is written). */
  LOSE: 'agent-ipc:lines:lose',
  /**
   * agent → node: report this error (the agent closes the connection). A handed-off
   * connection's failures, and lines of any connection that could not be sent.
   */
  FAILED: 'agent-ipc:lines:failed',
  /** agent → node, handed-off connections: the connection is finished (socket closed, `connectionLost` ran). */
  CLOSED: 'agent-ipc:lines:closed',
  /**
   * agent → node, handed-off connections with no `timeoutMs`: the socket closed while the
   * session has not ended yet (`connectionLost` waits for a line that has not settled).
   * The node then reports the connection ended after its grace period; CLOSED follows if
   * the session does end.
   */
  SOCKET_CLOSED: 'agent-ipc:lines:socket-closed',
} as const;

/**
 * The `type` of the Node.js IPC message that carries a handed-off socket to a process
 * agent (`child.send({ type, id }, socket)`). Part of the node ↔ agent protocol.
 */
export const SOCKET_MESSAGE = 'agent-ipc:lines:socket';

/** The message a handed-off socket travels with. */
export interface SocketMessage {
  type: typeof SOCKET_MESSAGE;
  /** The connection the socket belongs to. */
  id: number;
}

/** An endpoint of a TCP connection. */
export interface PeerAddress {
  /** IP address, e.g. `'127.0.0.1'` or `'::1'`. */
  readonly address: string;
  /** TCP port number, 1 to 65535. */
  readonly port: number;
  /** `'IPv4'` or `'IPv6'`. */
  readonly family: string;
}

/** Who opened a connection: a peer that connected to us, or us (`server.connect`). */
export type LineDirection = 'inbound' | 'outbound';

/** What the agent learns about a new connection. */
export interface OpenRequest {
  id: number;
  peer: PeerAddress;
  direction: LineDirection;
  /** Framing, so that `sendLine` can refuse what the peer would refuse. */
  delimiter: string;
  maxLineLength: number;
  /**
   * The agent's `maxMessageBytes`, so that the lines of one synchronous stretch go in as
   * many calls as they need (see `line-budget.ts`). None: one call.
   */
  maxMessageBytes?: number;
  /** Flow control, for an agent that reads the socket itself (hand-off). */
  highWaterMark?: number;
  /**
   * The server's `timeoutMs`, for an agent that reads the socket itself (hand-off): no
   * call of the node's bounds its batches of lines and its `connectionLost` then. None or
   * `0`: no bound.
   */
  timeoutMs?: number;
  /** The socket is handed to the agent (sent beside this request) instead of relayed. */
  handOff?: boolean;
}

/** The methods a line-protocol agent serves to the node. */
export interface LineAgentMethods {
  [LineMethod.OPEN](request: OpenRequest): Promise<void>;
  [LineMethod.DELIVER](id: number, lines: string[]): Promise<void> | void;
  [LineMethod.LOST](id: number, reason: WireError | null): Promise<void> | void;
  [LineMethod.WRITABLE](id: number, writable: boolean): void;
}

/** The methods the line server serves to its agents (beside the user's `expose`). */
export interface LineNodeMethods {
  [LineMethod.SEND](id: number, lines: string[]): void;
  [LineMethod.LOSE](id: number, reason: WireError | null): void;
  [LineMethod.FAILED](id: number, error: WireError): void;
  [LineMethod.CLOSED](id: number, reason: WireError | null): void;
  [LineMethod.SOCKET_CLOSED](id: number, reason: WireError | null): void;
}
